// Reads a topic of the embedded log: every partition, round robin, batches bounded by bytes, sleeping on the
// log's waiters (not polling the disk) when it has caught up. Bounded mode stops at the end offsets it saw when
// it opened (or at given ones), which is what makes replays and batch runs finite.
import { SluiceError } from '../../errors.ts';
import type { RecordReadResult } from '../../log/index.ts';
import type { Source, SourceBatch, SourceContext } from '../connector.ts';
import type { PipelineLog } from '../define.ts';
import type { Format } from './formats.ts';

export type StartPosition = 'earliest' | 'latest' | { timestamp: number } | { offsets: Record<number, number> };

export interface LogSourceOptions<T> {
  log: PipelineLog;
  topic: string;
  format: Format<T>;
  /** Where to start when no checkpoint says otherwise (default: earliest). */
  from?: StartPosition;
  /** Bounded runs stop here: per-partition end offsets (exclusive), or the latest offsets at open (default). */
  until?: Record<number, number> | { timestamp: number };
  maxBytesPerRead?: number;
}

export function logSource<T>(options: LogSourceOptions<T>): LogSource<T> {
  return new LogSource(options);
}

export class LogSource<T> implements Source<T> {
  readonly name: string;
  private ctx!: SourceContext;
  private offsets: number[] = [];
  private ends: number[] | undefined;
  /** Index into `order` of the partition read next (round robin). */
  private next = 0;
  /** The partitions read, in round-robin order: all of them, or a task's share (assign()). */
  private order: number[] = [];
  private assigned: readonly number[] | undefined;
  private restored: number[] | undefined;

  private options: LogSourceOptions<T>;

  constructor(options: LogSourceOptions<T>) {
    this.options = options;
    this.name = `log:${options.topic}`;
  }

  assign(partitions: readonly number[]): void {
    this.assigned = [...partitions].sort((a, b) => a - b);
  }

  async open(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    const { log, topic } = this.options;
    const info = log.describeTopic(topic);
    const count = info.partitions.length;
    const outside = this.assigned?.find((p) => p >= count);
    if (outside !== undefined) {
      throw new SluiceError(
        'NOT_CO_PARTITIONED',
        `${this.name}: task partition ${outside} does not exist (topic ${topic} has ${count} partitions); ` +
          'every input topic of a scaled-out pipeline needs the same partition count',
        { topic, partition: outside, partitions: count },
      );
    }
    this.order = this.assigned ? [...this.assigned] : info.partitions.map((_, i) => i);
    const from = this.options.from ?? 'earliest';
    this.offsets = await Promise.all(
      info.partitions.map(async (p, i) => {
        if (this.restored?.[i] !== undefined) return this.restored[i]!;
        if (from === 'earliest') return p.logStartOffset;
        if (from === 'latest') return p.logEndOffset;
        if ('timestamp' in from) return (await log.offsetForTimestamp(topic, i, from.timestamp)) ?? p.logEndOffset;
        return Math.max(p.logStartOffset, Math.min(p.logEndOffset, from.offsets[i] ?? p.logStartOffset));
      }),
    );
    if (ctx.bounded) {
      const until = this.options.until;
      this.ends = await Promise.all(
        info.partitions.map(async (p, i) => {
          if (until === undefined) return p.logEndOffset;
          if ('timestamp' in until) {
            return (await log.offsetForTimestamp(topic, i, until.timestamp as number)) ?? p.logEndOffset;
          }
          return (until as Record<number, number>)[i] ?? p.logEndOffset;
        }),
      );
    }
  }

  /**
   * Where to start (and, bounded, stop) instead of the pipeline's own choice, when no checkpoint says otherwise:
   * the runner's business for a replay (`sluice replay --from`) or a batch job over a past range. Call before run().
   */
  reposition(from: StartPosition, until?: LogSourceOptions<T>['until']): void {
    this.options = { ...this.options, from, ...(until === undefined ? {} : { until }) };
  }

  /** The log this source reads. */
  get log(): PipelineLog {
    return this.options.log;
  }

  /** The topic this source reads. */
  get topic(): string {
    return this.options.topic;
  }

  channels(): number[] {
    if (this.next >= this.order.length) this.next = 0;
    return [...this.order];
  }

  readPositions(): { topic: string; offsets: number[] } {
    return { topic: this.options.topic, offsets: this.position() };
  }

  /** Offsets (next to read) per partition. */
  position(): number[] {
    return [...this.offsets];
  }

  async poll(signal: AbortSignal): Promise<SourceBatch<T> | null> {
    const { log, topic, format } = this.options;
    const n = this.order.length;
    for (;;) {
      let allDone = true;
      for (let tried = 0; tried < n; tried++) {
        const partition = this.order[this.next]!;
        this.next = (this.next + 1) % n;
        const end = this.ends?.[partition];
        const offset = this.offsets[partition]!;
        if (end !== undefined && offset >= end) continue;
        allDone = false;
        let page: RecordReadResult;
        try {
          page = await log.readRecords(topic, partition, offset, { maxBytes: this.options.maxBytesPerRead ?? 1 << 20 });
        } catch (error) {
          if ((error as SluiceError).code === 'OFFSET_OUT_OF_RANGE') {
            const { logStartOffset, logEndOffset } = log.describeTopic(topic).partitions[partition]!;
            // Past the end: an exactly-once writer rolled the topic back after a crash and is writing the same
            // records again; wait here for them rather than read anything twice.
            if (offset >= logEndOffset) continue;
            // Retention deleted what we had not read yet: carry on from the earliest offset still there.
            this.offsets[partition] = logStartOffset;
            continue;
          }
          throw error;
        }
        if (page.records.length === 0) continue;
        const values: T[] = [];
        const timestamps: number[] = [];
        for (const record of page.records) {
          if (end !== undefined && record.offset >= end) break;
          if (record.offset < offset) continue;
          this.offsets[partition] = record.offset + 1;
          if (record.value === null) continue; // a tombstone carries no value
          try {
            values.push(format.decode(record.value));
            timestamps.push(record.timestamp);
          } catch (error) {
            this.ctx.deadLetter({
              error: `${topic}/${partition}@${record.offset}: ${(error as Error).message}`,
              original: record.value,
              timestamp: record.timestamp,
            });
          }
        }
        if (end === undefined || this.offsets[partition]! < end)
          this.offsets[partition] = Math.max(this.offsets[partition]!, page.nextOffset);
        return { channel: partition, values, timestamps };
      }
      if (this.ends && allDone) return null;
      if (signal.aborted) return { channel: 0, values: [], timestamps: [] };
      // Caught up everywhere: sleep until any partition has more (or a second passes, to notice stop()).
      const controller = new AbortController();
      const onAbort = () => controller.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await Promise.race(
          this.order.map((partition) =>
            log.waitForData(topic, partition, this.offsets[partition]!, {
              timeoutMs: 1000,
              signal: controller.signal,
            }),
          ),
        );
      } finally {
        controller.abort();
        signal.removeEventListener('abort', onAbort);
      }
    }
  }

  /** Offsets per partition, and the partition read next: with both, a replay reads the very same batches. */
  snapshot(): unknown {
    return { offsets: this.position(), next: this.next };
  }

  restore(position: unknown): void {
    const p = position as { offsets?: unknown; next?: unknown } | number[];
    const offsets = Array.isArray(p) ? p : p?.offsets;
    if (!Array.isArray(offsets) || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new SluiceError('INVALID_CHECKPOINT', `${this.name}: the checkpoint has no valid offsets for this source`);
    }
    this.restored = offsets as number[];
    this.offsets = [...(offsets as number[])];
    if (!Array.isArray(p) && typeof p.next === 'number') this.next = p.next;
  }

  async close(): Promise<void> {}
}
