// The log's own transactional producer, for writers inside the process (an engine sink): what a Kafka client's
// transactional producer does over the wire — add each partition to the transaction before its first batch, number
// batches per partition, mark them transactional — done directly against the log and its coordinator.
import { SluiceError } from '../../errors.ts';
import { encodeRecordBatch } from '../batch/record-batch.ts';
import type {
  AppendOptions,
  AppendResult,
  CompressionType,
  LogRecord,
  PreparedTransaction,
  TransactionalProducer,
  TransactionalWriter,
  TransactionCoordinator,
} from '../types.ts';

const SEQUENCE_MODULUS = 2 ** 31;

/** What the writer needs of the log. */
export interface WriterLog {
  readonly transactions: TransactionCoordinator;
  /** Appends one batch the writer encoded (no checks of a producer's bytes to make). */
  appendEncoded(topic: string, partition: number, batch: Buffer, options?: AppendOptions): Promise<AppendResult>;
  flush(topic: string): Promise<void>;
}

export class LogTransactionalWriter implements TransactionalWriter {
  readonly transactionalId: string;
  private readonly log: WriterLog;
  private producer: TransactionalProducer;
  /** Partitions of the open transaction, each with the AddPartitions its first batch waits for. */
  private readonly added = new Map<string, Promise<void>>();
  /** Batches waiting for their partition's AddPartitions (they go to the log in order, when it completes). */
  private readonly waiting = new Map<string, number>();
  /** Partitions added whose waiting batches have all gone to the log: later ones go straight there. */
  private readonly ready = new Set<string>();
  private readonly topics = new Set<string>();
  /** The next sequence number per partition (they run on across this producer's transactions, as Kafka's do). */
  private readonly sequences = new Map<string, number>();
  private prepared = false;

  private readonly timeoutMs: number;

  constructor(log: WriterLog, producer: TransactionalProducer, timeoutMs: number) {
    this.log = log;
    this.producer = producer;
    this.timeoutMs = timeoutMs;
    this.transactionalId = producer.transactionalId;
  }

  append(
    topic: string,
    partition: number,
    records: readonly LogRecord[],
    options: { compression?: CompressionType } = {},
  ): Promise<AppendResult> {
    if (this.prepared) {
      return Promise.reject(
        new SluiceError(
          'INVALID_TXN_STATE',
          `${this.transactionalId}: the transaction is prepared; commit or abort it`,
        ),
      );
    }
    const key = `${partition}:${topic}`;
    const sequence = this.sequences.get(key) ?? 0;
    // Encoded now, in call order: the sequence numbers of one partition's batches follow the order of the appends.
    const batch = encodeRecordBatch(records, {
      compression: options.compression ?? 'none',
      producerId: this.producer.producerId,
      producerEpoch: this.producer.producerEpoch,
      baseSequence: sequence,
      transactional: true,
    });
    this.sequences.set(key, (sequence + records.length) % SEQUENCE_MODULUS);
    // Durability comes with prepare(), which flushes every topic written: appends need not wait for an fsync each.
    if (this.ready.has(key)) return this.log.appendEncoded(topic, partition, batch, { durable: false });
    let added = this.added.get(key);
    if (added === undefined) {
      added = this.log.transactions.addPartitions(this.producer, [{ topic, partition }]);
      this.added.set(key, added);
      this.topics.add(topic);
    }
    this.waiting.set(key, (this.waiting.get(key) ?? 0) + 1);
    return added.then(() => {
      const left = this.waiting.get(key)! - 1;
      this.waiting.set(key, left);
      if (left === 0) this.ready.add(key); // the last one queued: nothing can overtake a batch still waiting
      return this.log.appendEncoded(topic, partition, batch, { durable: false });
    });
  }

  async prepare(): Promise<PreparedTransaction | null> {
    if (this.added.size === 0) return null;
    await Promise.all(this.added.values());
    await Promise.all([...this.topics].map((topic) => this.log.flush(topic)));
    await this.log.transactions.prepare(this.producer);
    this.prepared = true;
    return { ...this.producer };
  }

  commit(): Promise<void> {
    return this.end(true);
  }

  abort(): Promise<void> {
    return this.end(false);
  }

  private async end(commit: boolean): Promise<void> {
    if (this.added.size === 0) return;
    await Promise.allSettled(this.added.values());
    await this.log.transactions.endTransaction(this.producer, commit);
    this.added.clear();
    this.ready.clear();
    this.waiting.clear();
    this.topics.clear();
    this.prepared = false;
    // A new epoch for the next transaction (as KIP-890's transactions have): the ids a checkpoint records then name
    // one transaction, never the next one of the same producer.
    this.producer = await this.log.transactions.initProducer(this.transactionalId, this.timeoutMs, this.producer);
    this.sequences.clear();
  }
}
