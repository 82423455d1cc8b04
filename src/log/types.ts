// The log's interface (Log, GroupOffsetStore) and its own settings (durability, defaults); the records vocabulary
// every stage shares (records, topics, offsets, reads) lives in src/contracts and is re-exported here.
export type {
  AbortedTransaction,
  AppendOptions,
  AppendResult,
  CommittedOffset,
  CompressionType,
  IsolationLevel,
  LogRecord,
  PartitionInfo,
  PreparedTransaction,
  RawReadResult,
  ReadOptions,
  RecordHeader,
  RecordReadResult,
  StoredRecord,
  TopicConfig,
  TopicInfo,
  TopicSpec,
  TransactionalWriter,
  WaitOptions,
} from '../contracts/index.ts';

import type {
  AppendOptions,
  AppendResult,
  CommittedOffset,
  CompressionType,
  LogRecord,
  PreparedTransaction,
  RawReadResult,
  ReadOptions,
  RecordReadResult,
  TopicConfig,
  TopicInfo,
  TopicSpec,
  TransactionalWriter,
  WaitOptions,
} from '../contracts/index.ts';

/**
 * When appended bytes are forced to stable storage. An append resolves only once its records are as durable
 * as this says: `batch` fsyncs before acknowledging (concurrent appends share one fsync: group commit);
 * `interval` acknowledges after the write and fsyncs every `intervalMs`; `none` leaves it to the OS.
 */
export type FsyncPolicy =
  | {
      mode: 'batch';
      /** How long an append made with `durable: false` waits, at most, for the fsync that shows it (default 50). */
      deferredMs?: number;
    }
  | { mode: 'interval'; intervalMs: number }
  | { mode: 'none' };

/** Idempotent-producer identity carried in a record batch header (Kafka's producer id / epoch / sequence). */
export interface ProducerBatchInfo {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

export interface LogOptions {
  /** Where topics live: `<dataDir>/topics/<topic>/<partition>/` (and group offsets under `<dataDir>/groups/`). */
  dataDir: string;
  fsync?: FsyncPolicy;
  /** Defaults for topics created without explicit settings. */
  topicDefaults?: Partial<TopicConfig>;
  /** How often retention and segment-age roll are checked. */
  retentionCheckIntervalMs?: number;
}

/** Changes to a topic's settings: a number sets the setting, null returns it to the log's default. */
export type TopicConfigChanges = { [K in keyof TopicConfig]?: number | null };

/** A topic's settings and which of them were set for it rather than taken from the log's defaults. */
export interface TopicConfigView {
  config: TopicConfig;
  overridden: ReadonlySet<keyof TopicConfig>;
}

/** One consumer-group offset to commit. */
export interface OffsetCommit {
  topic: string;
  partition: number;
  offset: number;
  metadata?: string;
}

/** Consumer groups' committed offsets, stored durably (a commit resolves only once it survives a crash). */
export interface GroupOffsetStore {
  /** Atomically commits all of `offsets` for `group`: after a crash either all or none are visible. */
  commit(group: string, offsets: readonly OffsetCommit[]): Promise<void>;
  /** Every committed offset of the group: topic → partition → offset. Empty for an unknown group. */
  fetch(group: string): Map<string, Map<number, CommittedOffset>>;
  fetchOne(group: string, topic: string, partition: number): CommittedOffset | undefined;
  listGroups(): string[];
  deleteGroup(group: string): Promise<void>;
}

/** A transactional producer as its requests name it: Kafka's transactional id with the producer id and epoch. */
export interface TransactionalProducer {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
}

/** Kafka's transaction states, as DescribeTransactions names them. */
export type TransactionState =
  | 'Empty'
  | 'Ongoing'
  | 'PrepareCommit'
  | 'PrepareAbort'
  | 'CompleteCommit'
  | 'CompleteAbort';

export interface TransactionDescription extends TransactionalProducer {
  state: TransactionState;
  timeoutMs: number;
  /** When the current (or last) transaction began; -1 when none has. */
  startTimeMs: number;
  /** An open transaction its producer prepared (two-phase commit): no timeout aborts it. */
  prepared: boolean;
  partitions: { topic: string; partition: number }[];
}

/**
 * The transaction coordinator of this log (Kafka's): it maps transactional ids to producer ids and epochs, fences
 * zombies, records which partitions and groups each transaction touches, and ends a transaction by writing commit
 * or abort markers to those partitions and, on commit, the group offsets the transaction committed. Its state is
 * durable (every change is fsynced before it answers) and recovered on open: a transaction that was committing or
 * aborting is completed; an open one keeps running until its producer ends it or its timeout aborts it.
 *
 * Errors (SluiceError codes): INVALID_TRANSACTION_TIMEOUT, INVALID_PRODUCER_ID_MAPPING (unknown transactional id
 * or another producer id), PRODUCER_FENCED (an older epoch), INVALID_TXN_STATE, UNKNOWN_TOPIC_OR_PARTITION.
 */
export interface TransactionCoordinator {
  /**
   * Registers (or re-registers) a transactional producer: a new id gets a producer id at epoch 0; a known one gets
   * its epoch bumped, which fences every older instance, and a transaction it left open is aborted first. With
   * `current` (KIP-360: a producer recovering from an abortable error) the id and epoch must be the current ones.
   */
  initProducer(
    transactionalId: string,
    timeoutMs: number,
    current?: { producerId: number; producerEpoch: number },
  ): Promise<TransactionalProducer>;
  /** Adds partitions to the producer's transaction (beginning one if none is open); durable before it resolves. */
  addPartitions(
    producer: TransactionalProducer,
    partitions: readonly { topic: string; partition: number }[],
  ): Promise<void>;
  /** Adds a consumer group's offsets to the transaction (Kafka's AddOffsetsToTxn). */
  addGroup(producer: TransactionalProducer, groupId: string): Promise<void>;
  /** Offsets that the group commits when (and only if) the transaction commits (Kafka's TxnOffsetCommit). */
  commitOffsets(producer: TransactionalProducer, groupId: string, offsets: readonly OffsetCommit[]): Promise<void>;
  /**
   * Ends the writes of the open transaction and keeps it open, durably, with no timeout, until the producer (or its
   * successor, from the recorded ids) commits or aborts it: the first phase of a two-phase commit (KIP-939's
   * prepare). Re-initialising the transactional id still aborts it.
   */
  prepare(producer: TransactionalProducer): Promise<void>;
  /**
   * Commits (or aborts) a prepared transaction from its recorded ids, whichever instance of its id asks: true once
   * it has that outcome (also when it had it already), false when it ended otherwise (a later instance aborted it)
   * or is unknown.
   */
  completePrepared(producer: TransactionalProducer, commit: boolean): Promise<boolean>;
  /** Commits or aborts the open transaction: markers durable in every partition, then the group offsets. */
  endTransaction(producer: TransactionalProducer, commit: boolean): Promise<void>;
  /** Throws unless `topic`-`partition` is in the producer's open transaction (a produce request checks it first). */
  verifyPartition(producer: TransactionalProducer, topic: string, partition: number): void;
  /** A producer id for an idempotent producer without a transactional id (never one a transactional id has). */
  newProducerId(): number;
  describe(transactionalId: string): TransactionDescription | undefined;
  list(): TransactionDescription[];
}

/**
 * A directory of topics. All methods that take `topic`/`partition` throw `SluiceError` with code
 * `UNKNOWN_TOPIC_OR_PARTITION` for ones that do not exist; reads below the log start or past the end throw
 * `OFFSET_OUT_OF_RANGE` (reading exactly at the end returns nothing).
 */
export interface Log {
  readonly dataDir: string;

  createTopic(name: string, spec: TopicSpec): Promise<TopicInfo>;
  deleteTopic(name: string): Promise<void>;
  hasTopic(name: string): boolean;
  listTopics(): TopicInfo[];
  describeTopic(name: string): TopicInfo;

  /** The settings a topic gets for whatever its creation does not set (and returns to when a change resets one). */
  readonly topicDefaults: TopicConfig;
  /** The topic's settings, and which of them were set for it (at creation or by `alterTopicConfig`). */
  topicConfig(name: string): TopicConfigView;
  /**
   * Changes the topic's settings durably (its metadata file is replaced atomically before anything applies them):
   * retention picks them up at its next check, appends and rolls at once. Only `retentionMs` and `retentionBytes`
   * can change after creation; others throw `INVALID_CONFIG`. With `validateOnly` nothing changes.
   */
  alterTopicConfig(name: string, changes: TopicConfigChanges, options?: { validateOnly?: boolean }): Promise<TopicInfo>;
  /**
   * Grows the topic to `count` partitions (Kafka's CreatePartitions): the new ones start empty; existing ones and
   * their records are untouched. Fewer or as many partitions as now throws `INVALID_PARTITIONS`. Durable: the new
   * partition directories exist before the metadata file naming them replaces the old one atomically.
   */
  createPartitions(name: string, count: number, options?: { validateOnly?: boolean }): Promise<TopicInfo>;

  /** Encodes `records` as one record batch v2 and appends it; resolves once durable per the fsync policy. */
  append(
    topic: string,
    partition: number,
    records: readonly LogRecord[],
    options?: AppendOptions & { compression?: CompressionType },
  ): Promise<AppendResult>;

  /**
   * Appends record batches exactly as a Kafka producer sent them (verified by CRC-32C, never recompressed),
   * assigning offsets. A transactional batch opens its producer's transaction in the partition until the coordinator
   * writes the marker (the caller checks it was added to the transaction: `transactions.verifyPartition`). A
   * retried idempotent batch (same producer id, epoch and sequence) is not written again: the original offsets are
   * returned. Out-of-order sequences throw `OUT_OF_ORDER_SEQUENCE_NUMBER`.
   */
  appendRaw(topic: string, partition: number, batches: Buffer, options?: AppendOptions): Promise<AppendResult>;

  /**
   * Resolves once every record appended to `topic` so far is fsynced — those appended with `durable: false`
   * included (a writer that defers durability calls it before it relies on them, e.g. at a checkpoint).
   */
  flush(topic: string): Promise<void>;

  /**
   * Whole stored batches from `offset`, bounded by `maxBytes` (but at least one batch). The bytes are a view of
   * memory of the read's own (never Node's shared buffer pool), so a caller may transfer it to a thread. With
   * `isolation: 'read_committed'` it stops at the last stable offset and lists the aborted transactions among the
   * batches (a reader skips their batches: `isAbortedBatch`).
   */
  readRaw(topic: string, partition: number, offset: number, options?: ReadOptions): RawReadResult;

  /**
   * Decoded records from `offset` (records before `offset` in the first batch are skipped); never a transaction
   * marker, and with `isolation: 'read_committed'` only committed records, up to the last stable offset.
   */
  readRecords(topic: string, partition: number, offset: number, options?: ReadOptions): RecordReadResult;

  /** The first offset whose timestamp is >= `timestamp`, or `null` when there is none yet. */
  offsetForTimestamp(topic: string, partition: number, timestamp: number): number | null;

  /**
   * Resolves `true` as soon as the partition's end offset is past `offset` (at once if it already is), or `false`
   * on timeout/abort. No disk polling: appends wake the waiters.
   */
  waitForData(topic: string, partition: number, offset: number, options?: WaitOptions): Promise<boolean>;

  /**
   * Removes the records at and after `offset` (which must start a batch, as every offset a sink recorded after
   * its own append does). Exactly-once sinks use it to roll back what they wrote after their last checkpoint.
   */
  truncate(topic: string, partition: number, offset: number): Promise<void>;

  /**
   * Deletes the partition's whole segments every record of which is below `offset` (at most the high watermark;
   * never the active segment): Kafka's DeleteRecords. Returns the log start offset after it.
   */
  purgeBefore(topic: string, partition: number, offset: number): number;

  readonly groups: GroupOffsetStore;

  /** Kafka transactions over this log's partitions. */
  readonly transactions: TransactionCoordinator;

  /**
   * A transactional producer of the log's own (PipelineLog's): registering `transactionalId` fences its earlier
   * instances and aborts what they left open, prepared transactions included. Transactions time out after 15 minutes
   * unless prepared.
   */
  openTransactionalWriter(transactionalId: string): Promise<TransactionalWriter>;
  /**
   * Commits (or aborts) a prepared transaction from its recorded ids. Committing one already committed does nothing;
   * one that its id's later instance resolved (PRODUCER_FENCED) is reported as `false`.
   */
  completePrepared(prepared: PreparedTransaction, commit: boolean): Promise<boolean>;
  transactionalIds(prefix: string): string[];

  /** Flushes and fsyncs everything, then releases files. Further calls throw `LOG_CLOSED`. */
  close(): Promise<void>;
}
