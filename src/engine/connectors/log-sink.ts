// Writes a stream to a topic of the embedded log: one append per partition per batch (durable: see below),
// partitioned by key with Kafka's murmur2 partitioner so that Kafka consumers see the usual key→partition mapping.
//
// Exactly-once (the default when checkpoints are on), on a log with transactions (the embedded log, and a worker's
// channel to it): each checkpoint epoch's writes are one Kafka transaction, prepared at the barrier and committed
// once the checkpoint is durable (epoch-transactions.ts). read_committed readers — Kafka consumers with
// isolation.level=read_committed, and every engine source — see an epoch's records only then, and never one that a
// crash takes back; read_uncommitted readers see them at once, aborted ones included.
//
// On a log without transactions, exactly-once falls back to cutting back: each checkpoint records the topic's end
// offsets at its barrier; recovery truncates the topic back to them before the replay writes again, so every result
// is in the topic once (a consumer that reads past the last checkpoint may see records that a crash then replaces).
//
// Where cutting back is impossible — a Kafka cluster has no truncation, and a partition task of a scaled-out
// pipeline shares the topic with the other tasks — the sink is idempotent instead: every record carries its
// writer's id and a sequence number that the checkpoint stores. Recovery reads what the writer put in the topic
// after the checkpoint, and the replay skips each record whose sequence number is already there (comparing the
// bytes: a replay that computes something else — processing-time logic — writes it and counts a divergence).
//
// With checkpoints on, an append does not wait for its own fsync (`durable: false`): every checkpoint flushes the
// topic before it records the end offsets, and a machine crash can only take records written after the last
// checkpoint — which recovery cuts back or replays anyway. (A crash of the process alone takes nothing: the
// written records are in the OS's page cache.) Per-append fsyncs were a third of the cost of a scaled-out
// pipeline's log beside its tasks: each one wakes the I/O thread, the disk and the log's owner.
//
// On a log whose every append waits for a network round trip and the brokers' fsync (a Kafka cluster: the log's
// `pipelinesAppends`), write() does not wait for its appends, as a Kafka producer and Flink's KafkaSink do not:
// several stay in flight — at most MAX_IN_FLIGHT_BYTES and MAX_IN_FLIGHT_WRITES, beyond which write() waits for
// the oldest (backpressure) — while the log keeps each partition's in order. Every one is awaited before the
// checkpoint's barrier is prepared (nothing the cluster has not acknowledged goes into a checkpoint), at flush()
// and at close(); the first that fails fails the next write, the barrier, the flush or the close.

import type { PipelineLog, PreparedTransaction } from '../../contracts/index.ts';
import { type LogRecord, partitionForKey, type RecordHeader } from '../../log/index.ts';
import { createLogger } from '../../logger.ts';
import type { Sink } from '../connector.ts';
import type { Batch } from '../types.ts';
import { EpochTransactions } from './epoch-transactions.ts';
import type { Format } from './formats.ts';

export interface LogSinkOptions<T> {
  log: PipelineLog;
  topic: string;
  format: Format<T>;
  /** The record key (same key → same partition); without it, batches go round robin. */
  key?: (value: T) => string | Buffer | null;
  /** Create the topic when it is missing (default true, with this many partitions). */
  createPartitions?: number;
  /**
   * With checkpoints on: 'exactly-once' (default: a transaction per checkpoint epoch where the log has
   * transactions, else cutting back or deduplicating on recovery) or 'at-least-once' (records visible at once).
   */
  guarantee?: 'exactly-once' | 'at-least-once';
}

export function logSink<T>(options: LogSinkOptions<T>): LogSinkConnector<T> {
  return new LogSinkConnector(options);
}

/** Header names of the idempotent mode; `sluice.` keeps them apart from the user's headers. */
export const WRITER_HEADER = 'sluice.writer';
export const SEQUENCE_HEADER = 'sluice.seq';

/** Pipelined appends (see the file comment): at most this many bytes of records in flight… */
export const MAX_IN_FLIGHT_BYTES = 16 << 20;
/** …and this many writes (each one append per partition it touches). */
export const MAX_IN_FLIGHT_WRITES = 16;

interface SinkCheckpoint {
  topic: string;
  /** Transactional mode: the transactions prepared at the barrier, which recovery commits. */
  transactions?: PreparedTransaction[];
  /** Cutting back and deduplicating modes: the topic's end offsets at the barrier. */
  endOffsets?: number[];
  /** Idempotent mode: the writer and the last sequence number written before the barrier. */
  writer?: string;
  sequence?: number;
}

export class LogSinkConnector<T> implements Sink<T> {
  readonly name: string;
  private readonly options: LogSinkOptions<T>;
  private roundRobin = 0;
  private partitions = 0;
  private writer: string | undefined;
  private shared = false;
  private writerHeader: RecordHeader | undefined;
  private sequence = 0;
  /** Idempotent recovery: what this writer put in the topic after the checkpoint, by sequence number. */
  private written: Map<number, Buffer> | undefined;
  private writtenUpTo = 0;
  /** Set by recover(), which the pipeline calls only when it checkpoints: appends then defer their fsync. */
  private deferDurability = false;
  /** Set by recover() on a log with transactions: each checkpoint epoch's writes are one transaction. */
  private transactions: EpochTransactions | undefined;
  /** Pipelined appends in flight (see the file comment), each settled to its size in bytes. */
  private readonly inFlight = new Set<Promise<void>>();
  private inFlightBytes = 0;
  /** The first pipelined append that failed, and whether a call has reported it yet. */
  private failure: { error: unknown; reported: boolean } | undefined;
  /** Replayed records that differed from what was written before the crash (see the file comment). */
  divergences = 0;
  /** Replayed records found already written and skipped. */
  skipped = 0;

  constructor(options: LogSinkOptions<T>) {
    this.options = options;
    this.name = `log:${options.topic}`;
  }

  setWriter(writer: string, options: { shared: boolean }): void {
    this.writer = writer;
    this.shared = options.shared;
  }

  /** Whether the log offers transactions, which exactly-once then uses (see the file comment). */
  private get transactional(): boolean {
    return this.options.guarantee !== 'at-least-once' && this.options.log.openTransactionalWriter !== undefined;
  }

  /** True when recovery must recognise earlier writes rather than truncate (see the file comment). */
  get idempotent(): boolean {
    return (
      this.options.guarantee !== 'at-least-once' &&
      !this.transactional &&
      (this.shared || this.options.log.supportsTruncate === false)
    );
  }

  /** Whether this sink writes each checkpoint epoch as a transaction (known once recover() ran). */
  get writesTransactions(): boolean {
    return this.transactions !== undefined;
  }

  async open(): Promise<void> {
    const { log, topic } = this.options;
    if (!log.hasTopic(topic)) {
      await log
        .createTopic(topic, { partitions: this.options.createPartitions ?? 1 })
        .catch((error: { code?: string }) => {
          if (error.code !== 'TOPIC_ALREADY_EXISTS') throw error;
        });
    }
    this.partitions = log.describeTopic(topic).partitions.length;
    if (this.idempotent) this.writerHeader = { key: WRITER_HEADER, value: Buffer.from(this.writer ?? this.name) };
  }

  /** Whether appends defer their fsync to the next checkpoint's flush (or the log's timer): see recover(). */
  get defersDurability(): boolean {
    return this.deferDurability;
  }

  async write(batch: Batch<T>): Promise<void> {
    this.throwIfFailed();
    const { format, key } = this.options;
    const pipelined = this.options.log.pipelinesAppends === true;
    let bytes = 0;
    const byPartition = new Map<number, LogRecord[]>();
    for (let i = 0; i < batch.values.length; i++) {
      const value = batch.values[i]!;
      const k = key?.(value) ?? null;
      const keyBytes = k === null ? null : Buffer.isBuffer(k) ? k : Buffer.from(k);
      const encoded = format.encode(value);
      const ts = batch.timestamps[i]!;
      const record: LogRecord = { key: keyBytes, value: encoded, timestamp: Number.isFinite(ts) ? ts : undefined };
      if (this.writerHeader && !this.stamp(record, encoded)) continue;
      bytes += encoded.length + (keyBytes?.length ?? 0);
      const partition = keyBytes === null ? this.roundRobin : partitionForKey(keyBytes, this.partitions);
      let list = byPartition.get(partition);
      if (!list) byPartition.set(partition, (list = []));
      list.push(record);
    }
    this.roundRobin = (this.roundRobin + 1) % this.partitions;
    const appends = Promise.all([...byPartition].map(([partition, records]) => this.appendTo(partition, records)));
    if (!pipelined) {
      await appends;
      return;
    }
    this.track(appends, bytes);
    while (
      this.inFlight.size > 0 &&
      (this.inFlightBytes > MAX_IN_FLIGHT_BYTES || this.inFlight.size > MAX_IN_FLIGHT_WRITES)
    ) {
      await Promise.race(this.inFlight);
    }
    this.throwIfFailed();
  }

  /** Keeps a write's appends in flight until they settle; the first failure is kept for the next call. */
  private track(appends: Promise<unknown>, bytes: number): void {
    this.inFlightBytes += bytes;
    const settled: Promise<void> = appends.then(
      () => {},
      (error: unknown) => {
        this.failure ??= { error, reported: false };
      },
    );
    const done = settled.then(() => {
      this.inFlight.delete(done);
      this.inFlightBytes -= bytes;
    });
    this.inFlight.add(done);
  }

  /** Every pipelined append acknowledged (rejects with the first that failed); at once on other logs. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure === undefined) return;
    this.failure.reported = true;
    throw this.failure.error;
  }

  /** Appends to one partition as this sink writes: in the epoch's transaction when it has one. */
  appendTo(partition: number, records: readonly LogRecord[]): Promise<unknown> {
    const { log, topic } = this.options;
    if (this.transactions) return this.transactions.append(topic, partition, records);
    return log.append(topic, partition, records, { durable: !this.deferDurability });
  }

  async flush(): Promise<void> {
    await this.drain();
    await this.options.log.flush?.(this.options.topic);
  }

  /** Gives the record the next sequence number; false when the replay finds it already in the topic. */
  private stamp(record: LogRecord, bytes: Buffer): boolean {
    const sequence = ++this.sequence;
    if (this.written) {
      if (sequence > this.writtenUpTo) {
        this.written = undefined;
        if (this.transactions) {
          this.writerHeader = undefined; // past what the earlier mode wrote: transactions from here on
          return true;
        }
      } else {
        const before = this.written.get(sequence);
        this.written.delete(sequence);
        if (before?.equals(bytes)) {
          this.skipped++;
          return false;
        }
        if (this.divergences++ === 0) {
          createLogger('engine').warn(
            { sink: this.name, writer: this.writer, sequence },
            'the replay differs from what was written before the crash; writing the new result too',
          );
        }
      }
    }
    const seq = Buffer.allocUnsafe(8);
    seq.writeBigUInt64BE(BigInt(sequence));
    record.headers = [this.writerHeader!, { key: SEQUENCE_HEADER, value: seq }];
    return true;
  }

  // Every write before the barrier has returned (the pipeline drains sinks first); pipelined appends are awaited here.
  async prepareCheckpoint(checkpointId = 0): Promise<SinkCheckpoint | undefined> {
    const { log, topic } = this.options;
    await this.drain();
    if (this.transactions) return { topic, transactions: await this.transactions.prepare(checkpointId) };
    // Before the end offsets are recorded: recovery relies on everything below them surviving a machine crash.
    if (this.deferDurability) await log.flush!(topic);
    if (this.options.guarantee === 'at-least-once') return undefined;
    const endOffsets = log.describeTopic(topic).partitions.map((p) => p.logEndOffset);
    return this.idempotent
      ? { topic, endOffsets, writer: this.writer, sequence: this.sequence }
      : { topic, endOffsets };
  }

  async commitCheckpoint(checkpointId: number): Promise<void> {
    await this.transactions?.commit(checkpointId);
  }

  async recover(state: unknown): Promise<void> {
    this.deferDurability = this.options.log.flush !== undefined;
    if (this.options.guarantee === 'at-least-once') return;
    const checkpoint = state as SinkCheckpoint | undefined;
    if (this.transactional) {
      // A checkpoint written before this sink wrote transactions: undo what followed it the way that mode did.
      if (checkpoint?.writer !== undefined) {
        this.writerHeader = { key: WRITER_HEADER, value: Buffer.from(this.writer ?? this.name) };
        await this.findEarlierWrites(checkpoint); // the replay skips them, then stamps no more (see stamp())
      } else if (checkpoint?.endOffsets !== undefined && !this.shared) {
        await this.cutBack(checkpoint.endOffsets);
      }
      // On a cluster (appends pipelined: each a round trip) writers are opened before an epoch needs them.
      this.transactions = new EpochTransactions(
        this.options.log,
        `${this.writer ?? this.name}/${this.options.topic}/`,
        {
          prefetch: this.options.log.pipelinesAppends === true,
        },
      );
      await this.transactions.recover(checkpoint?.transactions);
      if (this.written === undefined) this.writerHeader = undefined;
      return;
    }
    if (this.idempotent) return this.findEarlierWrites(checkpoint);
    if (checkpoint?.endOffsets === undefined) return;
    await this.cutBack(checkpoint.endOffsets);
  }

  /** Awaits every pipelined append; a failure no call has reported yet fails the close. */
  async close(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    await this.transactions?.close();
    if (this.failure !== undefined && !this.failure.reported) this.throwIfFailed();
  }

  private async cutBack(endOffsets: readonly number[]): Promise<void> {
    const { log, topic } = this.options;
    const now = log.describeTopic(topic).partitions;
    for (let partition = 0; partition < now.length; partition++) {
      const end = endOffsets[partition];
      if (end === undefined || now[partition]!.logEndOffset <= end) continue;
      await log.truncate(topic, partition, Math.max(end, now[partition]!.logStartOffset));
    }
  }

  /**
   * Reads this writer's records after the checkpoint: the replay skips them. Without a checkpoint there are none
   * (a pipeline checkpoints before its first record), whatever an earlier deployment of the same name wrote.
   */
  private async findEarlierWrites(checkpoint: SinkCheckpoint | undefined): Promise<void> {
    const { log, topic } = this.options;
    this.sequence = checkpoint?.sequence ?? 0;
    if (checkpoint?.sequence === undefined) return;
    await log.refresh?.(topic);
    const mine = this.writerHeader!.value!;
    const written = new Map<number, Buffer>();
    const partitions = log.describeTopic(topic).partitions;
    for (const { partition, logStartOffset, logEndOffset } of partitions) {
      let offset = Math.max(logStartOffset, checkpoint.endOffsets?.[partition] ?? 0);
      while (offset < logEndOffset) {
        const page = await log.readRecords(topic, partition, offset, { maxBytes: 4 << 20 });
        for (const record of page.records) {
          if (record.offset < offset || record.value === null) continue;
          const writer = record.headers.find((h) => h.key === WRITER_HEADER)?.value;
          const seq = record.headers.find((h) => h.key === SEQUENCE_HEADER)?.value;
          if (writer?.equals(mine) && seq?.length === 8) written.set(Number(seq.readBigUInt64BE()), record.value);
        }
        if (page.nextOffset <= offset) break;
        offset = page.nextOffset;
      }
    }
    for (const seq of written.keys()) if (seq > this.writtenUpTo) this.writtenUpTo = seq;
    this.written = written.size > 0 ? written : undefined;
  }
}
