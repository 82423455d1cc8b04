// The records vocabulary every stage shares: records, topics, partitions, offsets, reads and appends, as the log
// stores them and the Kafka protocol, the engine and the serving layer pass them on. Types only.
// Offsets and timestamps are plain numbers (exact up to 2^53); the Kafka layer converts to int64 at the wire.

/** A record header, as in Kafka: a string key and an opaque value. */
export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** A record handed to the log for appending. */
export interface LogRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers?: readonly RecordHeader[];
  /** Event or create time in epoch milliseconds; the append time when omitted. */
  timestamp?: number;
}

/** A record read back from the log, with the offset the log assigned. */
export interface StoredRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

/** Compression codecs of Kafka's record batch v2 (attributes bits 0-2). */
export type CompressionType = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

/** How an append is acknowledged. */
export interface AppendOptions {
  /**
   * `false`: acknowledged once written (to the OS's page cache, which a crash of the process alone does not lose);
   * under the `batch` policy it becomes durable and visible to readers with the next fsync, at most `deferredMs`
   * later. For a writer that can rebuild what a machine crash takes, such as an engine sink whose checkpoints
   * flush the topic. Default `true`: resolves once as durable as the fsync policy says.
   */
  durable?: boolean;
}

/** Per-topic settings; every field has a log-wide default. */
export interface TopicConfig {
  /** Keep segments whose newest record is younger than this; -1 keeps forever. */
  retentionMs: number;
  /** Per partition: delete the oldest segments while the partition is larger than this; -1 for no limit. */
  retentionBytes: number;
  /** Roll to a new segment once the active one reaches this size. */
  segmentBytes: number;
  /** Roll to a new segment once the active one is this old. */
  segmentMs: number;
  /** The largest record batch (as encoded) an append accepts. */
  maxMessageBytes: number;
}

export interface TopicSpec {
  partitions: number;
  config?: Partial<TopicConfig>;
}

export interface PartitionInfo {
  partition: number;
  /** The first offset still stored (retention moves it forward). */
  logStartOffset: number;
  /** The offset the next appended record will get; also the high watermark (single replica). */
  logEndOffset: number;
  /**
   * The last stable offset: below it every transaction has ended (committed or aborted), so read_committed readers
   * stop here. Equals `logEndOffset` when no transaction is open in the partition.
   */
  lastStableOffset: number;
  sizeBytes: number;
  segments: number;
}

export interface TopicInfo {
  name: string;
  /** A stable id, as Kafka's topic UUID (16 bytes, hex). */
  id: string;
  config: TopicConfig;
  partitions: PartitionInfo[];
}

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
  /** The broker time the batch was appended at (epoch ms). */
  logAppendTime: number;
  /** The log start offset after the append (Kafka returns it in produce responses). */
  logStartOffset: number;
}

/** Raw batches as stored: Kafka record batch v2 bytes, ready to send in a fetch response untouched. */
export interface RawReadResult {
  /** Whole record batches, concatenated; may be empty. The first batch may start before the requested offset. */
  batches: Buffer;
  /** The offset after the last record in `batches` (where the next read continues). */
  nextOffset: number;
  highWatermark: number;
  logStartOffset: number;
  /** Below it every transaction has ended (absent from logs without transactions: then the high watermark). */
  lastStableOffset?: number;
  /**
   * With `isolation: 'read_committed'`: the aborted transactions whose records may be in `batches` (Kafka's Fetch
   * answer). A reader skips a transactional batch of `producerId` whose base offset lies in `[firstOffset,
   * lastOffset]` (lastOffset is the offset of the abort marker); `skipAborted` in the log does it.
   */
  abortedTransactions?: AbortedTransaction[];
}

/** A transaction that ended in an abort: its producer's transactional batches from `firstOffset` up to its marker. */
export interface AbortedTransaction {
  producerId: number;
  firstOffset: number;
  /** The offset of the abort marker. */
  lastOffset: number;
}

/**
 * Kafka's isolation levels: `read_uncommitted` (the default) sees every record up to the high watermark;
 * `read_committed` stops at the last stable offset and skips the records of aborted transactions.
 */
export type IsolationLevel = 'read_uncommitted' | 'read_committed';

export interface RecordReadResult {
  /** Records at or after the requested offset, in offset order. */
  records: StoredRecord[];
  nextOffset: number;
  highWatermark: number;
  logStartOffset: number;
  lastStableOffset?: number;
}

export interface ReadOptions {
  /** Upper bound on bytes read; at least one whole batch is returned when one exists, even if larger. */
  maxBytes?: number;
  /**
   * Memory to read into when it is large enough (readRaw): a reader that reuses its pages' memory saves an
   * allocation per read, and the full collections that a stream of fresh buffers sets off.
   */
  into?: Buffer;
  /**
   * For logs that lend pages (a task thread's channel to the log's owner): the caller gives the page back with
   * `release()` once nothing holds a view into it. The embedded log ignores it.
   */
  lend?: boolean;
  /** Default `read_uncommitted` (as Kafka's). */
  isolation?: IsolationLevel;
}

export interface WaitOptions {
  /** Give up after this long and resolve `false`. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** `read_committed` waits for the last stable offset to pass the offset, not the high watermark. */
  isolation?: IsolationLevel;
}

export interface CommittedOffset {
  offset: number;
  metadata: string;
  commitTimestamp: number;
}
