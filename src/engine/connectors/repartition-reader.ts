// The reading side of a repartition topic (see repartition-topic.ts): a task's own partition, records decoded and
// the writers' watermark markers merged into the watermark and idleness of the whole.
import { SluiceError } from '../../errors.ts';
import type { StoredRecord } from '../../log/index.ts';
import type { Source, SourceBatch, SourceContext } from '../connector.ts';
import { MAX_WATERMARK, MIN_WATERMARK } from '../types.ts';
import type { Format } from './formats.ts';
import { WRITER_HEADER } from './log-sink.ts';
import { decodeMarker, isMarker, type RepartitionTopic, WATERMARK_HEADER } from './repartition-topic.ts';

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
        await this.topic.log.waitForData(this.topic.name, this.partition, this.offset, {
          timeoutMs: 1000,
          signal,
          isolation: 'read_committed',
        });
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
      // Read committed: the writers' transactions (records and markers) show once their checkpoint completes.
      const page = await log.readRecords(name, this.partition, this.offset, {
        maxBytes: 1 << 20,
        isolation: 'read_committed',
      });
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
