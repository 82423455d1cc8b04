// What a pipeline runs against: the log it reads and writes, and the environment a runner hands a pipeline file's
// definition (`export default definePipeline((env) => ...)`) — the same whether it runs embedded, in a worker, over
// a Kafka cluster or in a test. Types only.
import type {
  AppendOptions,
  AppendResult,
  CompressionType,
  LogRecord,
  RawReadResult,
  ReadOptions,
  RecordReadResult,
  TopicInfo,
  TopicSpec,
  WaitOptions,
} from './records.ts';
import type { ServingStore } from './serving.ts';

/**
 * What sources, sinks and pipeline definitions use of a log. The embedded log is one; a worker's client of its
 * owner's log is another, whose reads and timestamp lookups are asynchronous (so callers await them); a Kafka
 * cluster's client a third. Errors are SluiceErrors: UNKNOWN_TOPIC_OR_PARTITION, OFFSET_OUT_OF_RANGE.
 */
export interface PipelineLog {
  hasTopic(name: string): boolean;
  createTopic(name: string, spec: TopicSpec): Promise<TopicInfo>;
  describeTopic(name: string): TopicInfo;
  /** Encodes `records` as one record batch and appends it; resolves once as durable as `options` ask. */
  append(
    topic: string,
    partition: number,
    records: readonly LogRecord[],
    options?: AppendOptions & { compression?: CompressionType },
  ): Promise<AppendResult>;
  /** Removes the records at and after `offset` (which starts a batch): exactly-once sinks roll back with it. */
  truncate(topic: string, partition: number, offset: number): Promise<void>;
  /**
   * Moves the partition's start forward to at most `offset` (never past the high watermark), deleting what lies
   * before it: Kafka's DeleteRecords. Resolves with the log start offset after it, which may stay below `offset`
   * (the embedded log deletes whole segments). Where the log has it (the embedded log, its channel, a Kafka
   * cluster): the log checkpoint store keeps its topic bounded with it.
   */
  purgeBefore?(topic: string, partition: number, offset: number): number | Promise<number>;
  /** Resolves `true` once the partition's end is past `offset`, `false` on timeout or abort. */
  waitForData(topic: string, partition: number, offset: number, options?: WaitOptions): Promise<boolean>;
  /** Decoded records from `offset`. */
  readRecords(
    topic: string,
    partition: number,
    offset: number,
    options?: ReadOptions,
  ): RecordReadResult | Promise<RecordReadResult>;
  /**
   * Whole record batches, undecoded, where the log has them (the embedded log and its channel; not a Kafka
   * client): sources then decode values straight from the bytes, without a decoded record per record.
   */
  readRaw?(
    topic: string,
    partition: number,
    offset: number,
    options?: ReadOptions,
  ): RawReadResult | Promise<RawReadResult>;
  /**
   * Gives back a page readRaw lent (`lend: true`), for the log to read into again: only once nothing holds a view
   * into it (a log that does not lend pages leaves it out).
   */
  release?(batches: Buffer): void;
  /** The first offset whose timestamp is >= `timestamp`, or null when there is none yet. */
  offsetForTimestamp(topic: string, partition: number, timestamp: number): number | null | Promise<number | null>;
  /** False for a log that cannot cut a partition back (a Kafka cluster): exactly-once sinks then deduplicate. */
  readonly supportsTruncate?: boolean;
  /**
   * True for a log whose appends are acknowledged over the network once durable (a Kafka cluster, acks=all): sinks
   * then pipeline their appends — several in flight, bounded in bytes and count, each partition's kept in order by
   * the log — and await every one before a checkpoint's barrier is acknowledged, at flush() and at close(); a
   * failed append fails the next write or the barrier. Left out (the embedded log): each write awaits its appends.
   */
  readonly pipelinesAppends?: boolean;
  /**
   * Resolves once everything appended to `topic` is durable, appends made with `durable: false` included (a log
   * whose every acknowledged append is already durable — a Kafka cluster, acks=all — leaves it out, and then
   * sinks append durably).
   */
  flush?(topic: string): Promise<void>;
  /** Reloads cached metadata (end offsets) for a log whose describeTopic() answers from a cache. */
  refresh?(topic?: string): Promise<void>;
  /**
   * Kafka transactions, where the log has them (the embedded log): an exactly-once sink then writes each checkpoint
   * epoch as one transaction that commits once the checkpoint is durable, so that read_committed readers never see
   * output a crash takes back. Starting a writer fences every earlier instance of its transactional id and aborts
   * what that one left open.
   */
  openTransactionalWriter?(transactionalId: string): Promise<TransactionalWriter>;
  /**
   * Commits (or aborts) a transaction a writer prepared before a restart, from what a checkpoint recorded; `false`
   * when a later instance of its transactional id had already resolved it.
   */
  completePrepared?(prepared: PreparedTransaction, commit: boolean): Promise<boolean>;
  /** The transactional ids that start with `prefix` (a sink's writers, to abort what a crash left open). */
  transactionalIds?(prefix: string): string[] | Promise<string[]>;
}

/** A prepared transaction as a checkpoint records it: enough to commit it after a crash. */
export interface PreparedTransaction {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
}

/**
 * A transactional producer of the log's own (Kafka's, with its transactional id): appends go into its open
 * transaction (one begins with the first); prepare() ends the writes — durable, and kept open with no timeout
 * until commit() or abort() (the first phase of a two-phase commit, as KIP-939 has it).
 */
export interface TransactionalWriter {
  readonly transactionalId: string;
  append(
    topic: string,
    partition: number,
    records: readonly LogRecord[],
    options?: { compression?: CompressionType },
  ): Promise<AppendResult>;
  /** Null when the transaction wrote nothing (there is nothing to commit). */
  prepare(): Promise<PreparedTransaction | null>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface PipelineEnvironment {
  /**
   * The log the pipeline reads and writes: the embedded log itself (`sluice run`, `sluice dev`), or, for a pipeline
   * that `sluice up` runs in a worker process, a client of the orchestrator's log.
   */
  log: PipelineLog;
  /** True for a bounded (batch or replay) run over what is in the log now. */
  bounded: boolean;
  /** The runner's data directory (for serving tables and other local state). */
  dataDir: string;
  /** The serving store, when the runner has one (`sluice dev`, `sluice run`): sink results with serveTable(). */
  serving?: ServingStore;
}
