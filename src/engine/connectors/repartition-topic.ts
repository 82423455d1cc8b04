// The internal topic of a repartition step in a scaled-out pipeline (`<pipeline>-<name>-repartition`, one partition
// per task): every task writes its records to it partitioned by the new key, and reads back partition p, its own
// share of the keys, written by every task.
//
// Exactly-once: the writer is the log sink in its idempotent shared-writer mode (writer and sequence headers; after
// a crash the replay skips what is already there), the reader's offset is in the reading task's checkpoint. Every
// record is in the topic once and read once, whichever tasks crash, so no barrier needs to span tasks.
//
// Event time crosses the topic as watermark markers: records without a value whose `sluice.watermark` header holds
// the writer's watermark and idleness, which each writer appends to every partition after the records they cover
// (at most every `watermarkIntervalMs`, at once when it goes idle, wakes up or ends). A reader knows how many
// writers there are — one per partition — and emits the minimum over those that are not idle of each one's latest
// watermark (a writer not heard from yet holds it at its start), as a node does over its inputs. It cuts its
// batches at each marker that moves that minimum, so what is late downstream depends only on the partition's
// contents, not on how reads were paged.
import { SluiceError } from '../../errors.ts';
import type { RecordHeader, StoredRecord } from '../../log/index.ts';
import type { Sink, Source, SourceBatch, SourceContext } from '../connector.ts';
import { ensureTopic, type PipelineLog } from '../define.ts';
import type { ShuffleRecord } from '../operators/repartition.ts';
import { type Batch, MAX_WATERMARK, MIN_WATERMARK } from '../types.ts';
import type { Format } from './formats.ts';
import { LogSinkConnector, WRITER_HEADER } from './log-sink.ts';

export const WATERMARK_HEADER = 'sluice.watermark';

/** A marker's header value: the watermark as a float64 (±∞ included), then 1 for idle or 0. */
export function encodeMarker(watermark: number, idle: boolean): Buffer {
  const bytes = Buffer.allocUnsafe(9);
  bytes.writeDoubleBE(watermark, 0);
  bytes[8] = idle ? 1 : 0;
  return bytes;
}

export function decodeMarker(bytes: Buffer | null | undefined): { watermark: number; idle: boolean } | undefined {
  if (bytes?.length !== 9) return undefined;
  const watermark = bytes.readDoubleBE(0);
  return Number.isNaN(watermark) ? undefined : { watermark, idle: bytes[8] === 1 };
}

/**
 * The topic of one repartition step, as one task instance sees it. Its partition count is the task count — the
 * input topics' partition count — so that task p reads partition p; every task creates it if missing (all at once
 * at the first start), and one with another count (the input was repartitioned since) is refused.
 */
export class RepartitionTopic {
  readonly log: PipelineLog;
  readonly name: string;
  private readonly inputs: readonly string[];
  private resolved: Promise<number> | undefined;

  constructor(log: PipelineLog, name: string, inputs: readonly string[]) {
    this.log = log;
    this.name = name;
    this.inputs = inputs;
  }

  /** The partition count, once the topic exists (resolved once per instance). */
  partitions(): Promise<number> {
    this.resolved ??= this.resolve();
    return this.resolved;
  }

  private async resolve(): Promise<number> {
    const { log, name } = this;
    const counts = this.inputs.map((topic) => log.describeTopic(topic).partitions.length);
    const tasks = counts[0]!;
    if (counts.some((n) => n !== tasks)) {
      throw new SluiceError(
        'NOT_CO_PARTITIONED',
        `repartition topic ${name}: the inputs ${this.inputs.map((t, i) => `${t} (${counts[i]})`).join(', ')} ` +
          'have different partition counts',
        { topics: [...this.inputs], counts },
      );
    }
    // Kafka Streams keeps repartition topics forever too: records carry event timestamps, which time-based
    // retention could take for old and delete before every task has read them.
    await ensureTopic(log, name, { partitions: tasks, config: { retentionMs: -1 } });
    await log.refresh?.(name);
    const actual = log.describeTopic(name).partitions.length;
    if (actual !== tasks) {
      throw new SluiceError(
        'NOT_CO_PARTITIONED',
        `repartition topic ${name} has ${actual} partitions, but the pipeline runs ${tasks} tasks (the partition ` +
          `count of ${this.inputs.join(', ')}); it was made for another partition count: delete it (with the ` +
          `pipeline's checkpoints) to start afresh`,
        { topic: name, partitions: actual, tasks },
      );
    }
    return tasks;
  }
}

interface WriterCheckpoint {
  /** The log sink's: end offsets, writer and sequence number. */
  records: unknown;
  watermark: number;
  idle: boolean;
}

const passBytes: Format<ShuffleRecord> = {
  name: 'repartition',
  encode: (record) => record.value,
  decode: () => {
    throw new Error('the repartition writer does not read');
  },
};

/**
 * The writing side: records through the log sink in idempotent mode (its sequence numbers and recovery), and
 * watermark markers to every partition, in one ordered chain so that a marker never precedes the records it covers.
 * Markers take no sequence number: a replay may send others (batches can split differently), and a reader keeps
 * each writer's highest, so an old marker seen again changes nothing.
 */
export class RepartitionWriter implements Sink<ShuffleRecord> {
  readonly name: string;
  private readonly topic: RepartitionTopic;
  private readonly intervalMs: number;
  private readonly records: LogSinkConnector<ShuffleRecord>;
  private partitionCount = 0;
  private writerHeader: RecordHeader = { key: WRITER_HEADER, value: null };
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private watermark = MIN_WATERMARK;
  private idle = false;
  private sent = { watermark: MIN_WATERMARK, idle: false };
  private sentAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Markers appended (one per partition per round), for tests and metrics. */
  markers = 0;

  constructor(topic: RepartitionTopic, options: { watermarkIntervalMs: number }) {
    this.topic = topic;
    this.name = `log:${topic.name}`;
    this.intervalMs = options.watermarkIntervalMs;
    this.records = new LogSinkConnector({
      log: topic.log,
      topic: topic.name,
      format: passBytes,
      key: (record) => record.key,
    });
  }

  /** Replayed records found already in the topic (see LogSinkConnector.skipped). */
  get skipped(): number {
    return this.records.skipped;
  }

  setWriter(writer: string): void {
    // Always shared: every task writes every partition of the topic.
    this.records.setWriter(writer, { shared: true });
    this.writerHeader = { key: WRITER_HEADER, value: Buffer.from(writer) };
  }

  async open(): Promise<void> {
    this.partitionCount = await this.topic.partitions();
    await this.records.open();
  }

  write(batch: Batch<ShuffleRecord>): Promise<void> {
    return this.enqueue(() => this.records.write(batch));
  }

  onWatermark(watermark: number): void {
    if (watermark <= this.watermark) return;
    this.watermark = watermark;
    this.schedule(watermark === MAX_WATERMARK);
  }

  onIdle(idle: boolean): void {
    if (idle === this.idle) return;
    this.idle = idle;
    this.schedule(true);
  }

  async flush(): Promise<void> {
    this.sendMarkers();
    await this.settled();
  }

  async prepareCheckpoint(): Promise<WriterCheckpoint> {
    await this.settled();
    return { records: await this.records.prepareCheckpoint(), watermark: this.watermark, idle: this.idle };
  }

  /**
   * Besides the records' recovery: the watermark and status at the checkpoint go out again at once. The last
   * marker before a crash may never have been sent (they wait for the interval), and nothing else would send it
   * while the input stays as it was; readers keep each writer's highest, so a marker sent twice does no harm.
   */
  async recover(state: unknown): Promise<void> {
    const checkpoint = state as WriterCheckpoint | undefined;
    await this.records.recover(checkpoint?.records);
    if (checkpoint === undefined) return;
    this.watermark = checkpoint.watermark;
    this.idle = checkpoint.idle;
    this.schedule(true);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
  }

  /** Markers go out at once for a change of status or the end, otherwise at most once per interval. */
  private schedule(now: boolean): void {
    if (this.closed) return;
    const wait = now ? 0 : this.sentAt + this.intervalMs - performance.now();
    if (wait <= 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.sendMarkers();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.sendMarkers();
      }, wait);
      this.timer.unref?.();
    }
  }

  /**
   * Queues a marker round with the watermark and status as they are now: every record they cover has been queued
   * already (a node hands its records to the sink before the watermark that follows them).
   */
  private sendMarkers(): void {
    if (this.partitionCount === 0) return;
    const watermark = this.watermark;
    const idle = this.idle;
    this.sentAt = performance.now();
    this.enqueue(async () => {
      if (watermark === this.sent.watermark && idle === this.sent.idle) return;
      this.sent = { watermark, idle };
      const marker = {
        key: null,
        value: null,
        headers: [this.writerHeader, { key: WATERMARK_HEADER, value: encodeMarker(watermark, idle) }],
      };
      const { log, name } = this.topic;
      // Durable as the records are: a checkpoint flushes the topic, markers included, before it records offsets.
      const options = { durable: !this.records.defersDurability };
      const appends: Promise<unknown>[] = [];
      for (let partition = 0; partition < this.partitionCount; partition++) {
        appends.push(log.append(name, partition, [marker], options));
      }
      await Promise.all(appends);
      this.markers += this.partitionCount;
    }).catch(() => {}); // kept in this.failure: the next write, checkpoint or flush fails with it
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(() => {
      if (this.failure !== undefined) throw this.failure;
      return work();
    });
    this.chain = next.catch((error: unknown) => {
      this.failure ??= error;
    });
    return next;
  }

  private async settled(): Promise<void> {
    await this.chain;
    if (this.failure !== undefined) throw this.failure;
  }
}

/** Markers are told by their header (a Kafka client may hand their missing value over as empty bytes). */
function isMarker(record: StoredRecord): boolean {
  const { headers } = record;
  for (let i = 0; i < headers.length; i++) if (headers[i]!.key === WATERMARK_HEADER) return true;
  return false;
}

interface WriterState {
  watermark: number;
  idle: boolean;
}

interface ReaderSnapshot {
  offset: number;
  writers: [number, boolean][];
  watermark: number;
  idle: boolean;
}

/**
 * The reading side: partition p of the topic (p given by assign()), records decoded, markers turned into the
 * watermark and idleness of the whole (see the file comment). Bounded, it ends once every writer has ended.
 */
export class RepartitionReader<T> implements Source<T> {
  readonly name: string;
  private readonly topic: RepartitionTopic;
  private readonly format: Format<T>;
  private ctx!: SourceContext;
  private partition = 0;
  private offset = 0;
  private writers: WriterState[] = [];
  /** Writer header values seen, by their task index. */
  private readonly writerIndex = new Map<string, number>();
  /** What this source last reported downstream. */
  private watermark = MIN_WATERMARK;
  private idle = false;
  private page: StoredRecord[] = [];
  private pageIndex = 0;
  private pageNext = 0;
  private restored: ReaderSnapshot | undefined;
  private warnedForeign = false;

  constructor(topic: RepartitionTopic, format: Format<T>) {
    this.topic = topic;
    this.format = format;
    this.name = `log:${topic.name}`;
  }

  assign(partitions: readonly number[]): void {
    if (partitions.length !== 1) {
      throw new SluiceError('INVALID_TASK', `${this.name}: a task reads exactly one partition of a repartition topic`);
    }
    this.partition = partitions[0]!;
  }

  async open(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    const count = await this.topic.partitions();
    const { logStartOffset } = this.topic.log.describeTopic(this.topic.name).partitions[this.partition]!;
    this.writers = Array.from({ length: count }, () => ({ watermark: MIN_WATERMARK, idle: false }));
    const restored = this.restored;
    if (restored) {
      if (restored.writers.length !== count) {
        throw new SluiceError(
          'INCOMPATIBLE_CHECKPOINT',
          `${this.name}: the checkpoint knows ${restored.writers.length} writers, the topic has ${count} partitions`,
        );
      }
      this.writers = restored.writers.map(([watermark, idle]) => ({ watermark, idle }));
      this.watermark = restored.watermark;
      this.idle = restored.idle;
    }
    if (restored && restored.offset < logStartOffset) {
      // Someone deleted records this checkpoint has not read (DeleteRecords, a changed retention): starting later
      // would silently lose them.
      throw new SluiceError(
        'REPARTITION_RECORDS_DELETED',
        `${this.name}: partition ${this.partition} starts at offset ${logStartOffset}, but the checkpoint resumes ` +
          `at ${restored.offset}: the records in between were deleted before this task read them`,
        { topic: this.topic.name, partition: this.partition, offset: restored.offset, logStartOffset },
      );
    }
    this.offset = Math.max(restored?.offset ?? 0, logStartOffset);
  }

  channels(): number[] {
    return [this.partition];
  }

  readPositions(): { topic: string; offsets: number[] } {
    const offsets: number[] = [];
    offsets[this.partition] = this.offset;
    return { topic: this.topic.name, offsets };
  }

  async poll(signal: AbortSignal): Promise<SourceBatch<T> | null> {
    const values: T[] = [];
    const timestamps: number[] = [];
    for (;;) {
      while (this.pageIndex < this.page.length) {
        const record = this.page[this.pageIndex++]!;
        if (record.offset < this.offset) continue;
        this.offset = record.offset + 1;
        if (isMarker(record)) {
          // A marker that moves time cuts the batch: its records are delivered before the time they precede.
          if (this.onMarker(record)) return this.batch(values, timestamps, true);
          continue;
        }
        if (record.value === null) continue; // a tombstone carries no record
        try {
          values.push(this.format.decode(record.value));
          timestamps.push(record.timestamp);
        } catch (error) {
          this.ctx.deadLetter({
            error: `${this.topic.name}/${this.partition}@${record.offset}: ${(error as Error).message}`,
            original: record.value,
            timestamp: record.timestamp,
          });
        }
      }
      this.offset = Math.max(this.offset, this.pageNext);
      if (values.length > 0) return this.batch(values, timestamps, false);
      if (this.ctx.bounded && this.watermark === MAX_WATERMARK) return null;
      if (signal.aborted) return { channel: this.partition, values, timestamps };
      if (!(await this.read())) {
        await this.topic.log.waitForData(this.topic.name, this.partition, this.offset, { timeoutMs: 1000, signal });
      }
    }
  }

  snapshot(): ReaderSnapshot {
    return {
      offset: this.offset,
      writers: this.writers.map((w) => [w.watermark, w.idle]),
      watermark: this.watermark,
      idle: this.idle,
    };
  }

  restore(position: unknown): void {
    const p = position as Partial<ReaderSnapshot> | undefined;
    if (
      !p ||
      !Number.isSafeInteger(p.offset) ||
      !Array.isArray(p.writers) ||
      typeof p.watermark !== 'number' ||
      typeof p.idle !== 'boolean'
    ) {
      throw new SluiceError('INVALID_CHECKPOINT', `${this.name}: the checkpoint has no valid position for this reader`);
    }
    this.restored = p as ReaderSnapshot;
  }

  async close(): Promise<void> {}

  /** Reads the next page; false when there is nothing new. */
  private async read(): Promise<boolean> {
    const { log, name } = this.topic;
    try {
      const page = await log.readRecords(name, this.partition, this.offset, { maxBytes: 1 << 20 });
      this.page = page.records;
      this.pageIndex = 0;
      this.pageNext = page.nextOffset;
      return page.records.length > 0 || page.nextOffset > this.offset;
    } catch (error) {
      if ((error as SluiceError).code !== 'OFFSET_OUT_OF_RANGE') throw error;
      const { logStartOffset, logEndOffset } = log.describeTopic(name).partitions[this.partition]!;
      if (this.offset >= logEndOffset) return false;
      // Deleted before it was read (the topic keeps records forever unless someone changed that): carry on.
      this.offset = logStartOffset;
      return true;
    }
  }

  /** Takes a marker in; true when the combined watermark or status moved. */
  private onMarker(record: StoredRecord): boolean {
    let writer: Buffer | null | undefined;
    let marker: { watermark: number; idle: boolean } | undefined;
    for (const header of record.headers) {
      if (header.key === WRITER_HEADER) writer = header.value;
      else if (header.key === WATERMARK_HEADER) marker = decodeMarker(header.value);
    }
    if (!marker || !writer) return false; // not one a task wrote
    const index = this.writerOf(writer);
    const state = index === undefined ? undefined : this.writers[index];
    if (!state) return false;
    if (marker.watermark > state.watermark) state.watermark = marker.watermark;
    state.idle = marker.idle;
    const { watermark, idle } = this.combined();
    return watermark > this.watermark || idle !== this.idle;
  }

  private writerOf(header: Buffer): number | undefined {
    const id = header.toString();
    let index = this.writerIndex.get(id);
    if (index === undefined) {
      const hash = id.lastIndexOf('#');
      const n = hash < 0 ? Number.NaN : Number(id.slice(hash + 1));
      if (!Number.isSafeInteger(n) || n < 0 || n >= this.writers.length) {
        if (!this.warnedForeign) {
          this.warnedForeign = true;
          this.ctx.deadLetter({
            error: `${this.topic.name}/${this.partition}: a watermark marker from "${id}", which is not one of its tasks`,
            original: header,
            timestamp: Date.now(),
          });
        }
        return undefined;
      }
      this.writerIndex.set(id, (index = n));
    }
    return index;
  }

  /**
   * As a node combines its inputs, over the writers that have not ended (an ended writer holds nothing back, and
   * only when all have ended is time over): the minimum over those that are not idle; when all are idle, the
   * highest of them (nothing can come behind it without a writer waking up first), and idle.
   */
  private combined(): { watermark: number; idle: boolean } {
    let min = Number.POSITIVE_INFINITY;
    let max = MIN_WATERMARK;
    let active = 0;
    let running = 0;
    for (const w of this.writers) {
      if (w.watermark === MAX_WATERMARK) continue;
      running++;
      if (w.watermark > max) max = w.watermark;
      if (w.idle) continue;
      active++;
      if (w.watermark < min) min = w.watermark;
    }
    if (running === 0) return { watermark: MAX_WATERMARK, idle: false };
    return active === 0 ? { watermark: max, idle: true } : { watermark: min, idle: false };
  }

  private batch(values: T[], timestamps: number[], timed: boolean): SourceBatch<T> {
    if (!timed) return { channel: this.partition, values, timestamps };
    const { watermark, idle } = this.combined();
    const moved = watermark > this.watermark;
    const status = idle !== this.idle;
    if (moved) this.watermark = watermark;
    if (status) this.idle = idle;
    return {
      channel: this.partition,
      values,
      timestamps,
      ...(moved ? { watermark } : {}),
      ...(status ? { idle } : {}),
    };
  }
}
