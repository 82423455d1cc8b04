// Reads a topic of the embedded log: every partition, round robin, a page (bounded by bytes) at a time, handed on
// in batches of a bounded number of records, sleeping on the log's waiters (not polling the disk) when it has
// caught up, and reporting a partition idle once it has been caught up there for the idle timeout. Bounded mode
// stops at the end offsets it saw when it opened (or at given ones), which is what makes replays and batch runs
// finite. With a micro-batch trigger (trigger.ts) a streaming run reads only at its ticks, each up to the ends then.

import type { AbortedTransaction, PipelineLog } from '../../contracts/index.ts';
import { SluiceError } from '../../errors.ts';
import { forEachRecordIn, isAbortedBatch } from '../../log/index.ts';
import type { Source, SourceBatch, SourceContext } from '../connector.ts';
import { type Duration, toMillis } from '../duration.ts';
import type { MicroBatchSource, MicroBatchTrigger } from '../trigger.ts';
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
  /**
   * Records per batch at most (default 2048): a page is handed on in slices this big, so that the records decoded
   * but not yet processed stay few (partition tasks sharing a thread each hold one batch at once) and die young.
   */
  maxRecordsPerBatch?: number;
  /**
   * Partition idleness (streaming runs): a partition this source has caught up with, where nothing new has arrived
   * for this long, stops holding the watermark back until its next record (default 10 s,
   * DEFAULT_IDLE_TIMEOUT_MS). `false`: an empty partition holds time back until it speaks.
   */
  idleTimeout?: Duration | false;
}

/**
 * The page being handed on: the partition is read up to `end` before the next one's turn. Its bytes, and where the
 * batch holding the next record starts, are kept between polls; a checkpoint keeps only the partition and `end`,
 * so that a restore hands on the very same batches.
 */
interface HeldPage {
  partition: number;
  end: number;
  batches?: Buffer;
  position: number;
  /** The aborted transactions the read_committed read found among the batches: their records are skipped. */
  aborted?: readonly AbortedTransaction[];
}

/** Sources read committed: never a record of an open transaction, nor of an aborted one. */
const READ_COMMITTED = 'read_committed';

const DEFAULT_MAX_RECORDS_PER_BATCH = 2048;

/**
 * Partition idleness is on by default, so that an empty partition (a topic with few keys) never holds the
 * watermark back forever. 10 s: a live producer's pause up to that long keeps its partition active; and in a
 * real-time feed the records of a partition that was idle are near-now when they come, so they are late only if
 * they were delayed by more than the out-of-orderness bound anyway.
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 10_000;

/** What reading a partition found: records (or records without values), nothing at its end, or nothing yet. */
type ReadOutcome = 'read' | 'end' | 'none';

export function logSource<T>(options: LogSourceOptions<T>): LogSource<T> {
  return new LogSource(options);
}

export class LogSource<T> implements Source<T>, MicroBatchSource {
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
  private held: HeldPage | undefined;
  /** undefined: idleness off (`idleTimeout: false`); a bounded run never uses it. */
  private idleTimeoutMs: number | undefined;
  /**
   * Per partition: since when (the pipeline's clock) every read found it at its end, with no record read since;
   * undefined while there was something to read.
   */
  private quietSince: (number | undefined)[] = [];
  /** Per partition: when it was reported idle (no records handed on since); undefined while active. */
  private idleSince: (number | undefined)[] = [];
  private clock: () => number = Date.now;
  /** Micro-batches (streaming runs with a trigger): the batch being read ends here, per partition. */
  private trigger: MicroBatchTrigger | undefined;
  private batchEnds: number[] | undefined;

  private options: LogSourceOptions<T>;

  constructor(options: LogSourceOptions<T>) {
    this.options = options;
    this.name = `log:${options.topic}`;
    const timeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.idleTimeoutMs = timeout === false ? undefined : toMillis(timeout, `${this.name}: idle timeout`);
    if (this.idleTimeoutMs === 0) {
      throw new SluiceError(
        'INVALID_DURATION',
        `${this.name}: an idle timeout of 0 would make a partition idle between any two records; give a duration, ` +
          'or false to turn idleness off',
      );
    }
  }

  /** Reads in micro-batches at `trigger`'s ticks instead of continuously (streaming runs; call before run()). */
  useTrigger(trigger: MicroBatchTrigger): void {
    this.trigger = trigger;
  }

  /** At a tick: the batch to read ends where each partition ends now (read committed: its last stable offset). */
  cutBatch(): number {
    const partitions = this.options.log.describeTopic(this.options.topic).partitions;
    const ends = partitions.map((p) => p.lastStableOffset);
    this.batchEnds = ends;
    return this.order.reduce((n, p) => n + Math.max(0, ends[p]! - this.offsets[p]!), 0);
  }

  assign(partitions: readonly number[]): void {
    this.assigned = [...partitions].sort((a, b) => a - b);
  }

  async open(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    this.clock = ctx.clock ?? Date.now;
    // Idleness is not state: after a restore (or a restart) every partition starts active.
    this.quietSince = [];
    this.idleSince = [];
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
    // A page held at a checkpoint of the whole pipeline is not this task's to finish when the task lacks it.
    if (this.held && !this.order.includes(this.held.partition)) this.held = undefined;
    const from = this.options.from ?? 'earliest';
    this.offsets = await Promise.all(
      info.partitions.map(async (p, i) => {
        if (this.restored?.[i] !== undefined) return this.restored[i]!;
        if (from === 'earliest') return p.logStartOffset;
        if (from === 'latest') return p.lastStableOffset;
        if ('timestamp' in from) return (await log.offsetForTimestamp(topic, i, from.timestamp)) ?? p.logEndOffset;
        return Math.max(p.logStartOffset, Math.min(p.logEndOffset, from.offsets[i] ?? p.logStartOffset));
      }),
    );
    if (ctx.bounded) {
      const until = this.options.until;
      this.ends = await Promise.all(
        info.partitions.map(async (p, i) => {
          // Read committed: a transaction open now may never commit, so a bounded run ends before it.
          if (until === undefined) return p.lastStableOffset;
          if ('timestamp' in until) {
            return (await log.offsetForTimestamp(topic, i, until.timestamp as number)) ?? p.logEndOffset;
          }
          return (until as Record<number, number>)[i] ?? p.logEndOffset;
        }),
      );
    }
    this.batchEnds = undefined;
    if (this.trigger && !ctx.bounded) this.trigger.register(this);
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

  channelStatus(): { channel: number; idleSince: number | null }[] {
    return this.order.map((p) => ({ channel: p, idleSince: this.idleSince[p] ?? null }));
  }

  async poll(signal: AbortSignal): Promise<SourceBatch<T> | null> {
    const { log, topic } = this.options;
    const n = this.order.length;
    const triggered = this.trigger !== undefined && !this.ctx.bounded;
    for (;;) {
      // Micro-batches: between batches, wait for the trigger's next tick (which cuts the next batch).
      if (triggered && this.batchEnds === undefined) {
        if (!(await this.trigger!.next(this, signal)) || this.batchEnds === undefined) {
          return { channel: 0, values: [], timestamps: [] };
        }
      }
      let allDone = true;
      for (let tried = 0; tried < n; tried++) {
        const partition = this.held?.partition ?? this.order[this.next]!;
        if (!this.held) this.next = (this.next + 1) % n;
        const end = this.ends?.[partition] ?? this.batchEnds?.[partition];
        const offset = this.offsets[partition]!;
        if (end !== undefined && offset >= end) {
          this.held = undefined;
          // At the end of its micro-batch: caught up as far as the source knows, so it may go idle.
          const idle = this.batchEnds !== undefined ? this.caughtUp(partition) : undefined;
          if (idle) return idle;
          continue;
        }
        allDone = false;
        const values: T[] = [];
        const timestamps: number[] = [];
        let outcome: ReadOutcome;
        try {
          outcome = await this.read(partition, offset, end, values, timestamps);
        } catch (error) {
          this.held = undefined;
          if ((error as SluiceError).code === 'OFFSET_OUT_OF_RANGE') {
            const { logStartOffset, logEndOffset } = log.describeTopic(topic).partitions[partition]!;
            // Past the end: an exactly-once writer rolled the topic back after a crash and is writing the same
            // records again; wait here for them rather than read anything twice. Nothing new to read meanwhile.
            if (offset >= logEndOffset) outcome = 'end';
            else {
              // Retention deleted what we had not read yet: carry on from the earliest offset still there.
              this.offsets[partition] = logStartOffset;
              outcome = 'none';
            }
          } else throw error;
        }
        if (outcome === 'end') {
          const idle = this.caughtUp(partition);
          if (idle) return idle;
          continue;
        }
        // Something to read (or read): the partition is not quiet. Only records wake an idle one, though — a
        // tombstone or a refused value carries no event time, so it does not make the partition hold time back.
        this.quietSince[partition] = undefined;
        if (outcome === 'none') continue;
        if (values.length > 0) this.idleSince[partition] = undefined;
        return { channel: partition, values, timestamps };
      }
      if (this.ends && allDone) return null;
      if (this.batchEnds && allDone) {
        this.batchEnds = undefined; // every partition read to the batch's end: the batch is done here
        continue;
      }
      if (signal.aborted) return { channel: 0, values: [], timestamps: [] };
      // Caught up everywhere: sleep until any partition has more, a partition is due to go idle, or a second
      // passes (to notice stop()).
      const timeoutMs = this.untilIdleMs();
      if (timeoutMs <= 0) continue; // due now: the next pass finds it still at its end (or reads what came)
      const controller = new AbortController();
      const onAbort = () => controller.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await Promise.race(
          this.order.map((partition) =>
            log.waitForData(topic, partition, this.offsets[partition]!, {
              timeoutMs,
              signal: controller.signal,
              isolation: READ_COMMITTED,
            }),
          ),
        );
      } finally {
        controller.abort();
        signal.removeEventListener('abort', onAbort);
      }
    }
  }

  /**
   * A read just found `partition` at its end. The source knows then that it has nothing to read there; once that
   * has held, with no record in between, for the idle timeout, the partition is reported idle (once), in the same
   * poll as the read that found it so: a partition with unread records is never idle, however long the pipeline
   * took to poll again (backpressure, a pause, catching up after a restart).
   */
  private caughtUp(partition: number): SourceBatch<T> | undefined {
    const timeout = this.idleTimeoutMs;
    if (timeout === undefined || this.ctx.bounded || this.idleSince[partition] !== undefined) return undefined;
    const now = this.clock();
    const since = (this.quietSince[partition] ??= now);
    if (now - since < timeout) return undefined;
    this.idleSince[partition] = now;
    return { channel: partition, values: [], timestamps: [], channelIdle: true };
  }

  /** How long a caught-up poll may sleep: until the next partition is due to go idle, and at most a second. */
  private untilIdleMs(): number {
    let wait = 1000;
    const timeout = this.idleTimeoutMs;
    if (timeout === undefined || this.ctx.bounded) return wait;
    const now = this.clock();
    for (const partition of this.order) {
      const since = this.quietSince[partition];
      if (since !== undefined && this.idleSince[partition] === undefined) {
        wait = Math.min(wait, since + timeout - now);
      }
    }
    return wait;
  }

  /**
   * Reads the next batch of `partition` from `offset` into `values` and `timestamps` (stopping before `end`), moving
   * the partition's offset past it; a value the format refuses goes to the dead-letter output, named by its place.
   * 'end' when there was nothing new because the partition ends there (its high watermark), 'none' when there was
   * nothing for another reason.
   */
  private read(
    partition: number,
    offset: number,
    end: number | undefined,
    values: T[],
    timestamps: number[],
  ): Promise<ReadOutcome> {
    return this.options.log.readRaw
      ? this.readBatches(partition, offset, end, values, timestamps)
      : this.readRecords(partition, offset, end, values, timestamps);
  }

  /** Straight from the record batches, where the log hands them out: no decoded record per record. */
  private async readBatches(
    partition: number,
    offset: number,
    end: number | undefined,
    values: T[],
    timestamps: number[],
  ): Promise<ReadOutcome> {
    const { log, topic, format } = this.options;
    let held = this.held?.partition === partition ? this.held : undefined;
    if (!held?.batches) {
      // Lent pages go back once handed on (below): only values decoded as copies hold no view into them.
      const lend = format.decodeRange !== undefined;
      const maxBytes = this.options.maxBytesPerRead ?? 1 << 20;
      const page = await log.readRaw!(topic, partition, offset, { maxBytes, lend, isolation: READ_COMMITTED });
      if (page.nextOffset <= offset) {
        this.held = undefined;
        // Not at its end while records of an open transaction follow: they may yet commit (never idle then).
        return page.highWatermark <= offset ? 'end' : 'none';
      }
      // After a restore the page ends where it ended before (`held.end`), so the batches are the same again.
      held = {
        partition,
        end: Math.min(held?.end ?? page.nextOffset, page.nextOffset),
        batches: page.batches,
        position: 0,
        aborted: page.abortedTransactions ?? [],
      };
    }
    const limit = end === undefined ? held.end : Math.min(held.end, end);
    const sliceEnd = Math.min(limit, offset + (this.options.maxRecordsPerBatch ?? DEFAULT_MAX_RECORDS_PER_BATCH));
    // Sized once for the slice (trimmed below): pushed one by one, each array grows — and is copied — a dozen
    // times, a quarter of what reading an event allocated.
    let count = values.length;
    values.length = count + Math.max(0, sliceEnd - offset);
    timestamps.length = values.length;
    let next = offset;
    const aborted = held.aborted ?? [];
    const stoppedIn = forEachRecordIn(
      held.batches!,
      offset,
      (record) => {
        if (record.offset >= sliceEnd) return false;
        next = record.offset + 1;
        if (record.valueStart < 0) return true; // a tombstone carries no value
        const { data, valueStart, valueEnd } = record;
        try {
          values[count] = format.decodeRange
            ? format.decodeRange(data, valueStart, valueEnd)
            : format.decode(data.subarray(valueStart, valueEnd));
          timestamps[count++] = record.timestamp;
        } catch (error) {
          // A copy: the page's memory may go back to the log (release) while the letter is still on its way.
          const original = Buffer.from(data.subarray(valueStart, valueEnd));
          this.refused(partition, record.offset, error, original, record.timestamp);
        }
        return true;
      },
      held.position,
      aborted.length > 0 ? (header) => isAbortedBatch(header, aborted) : undefined,
    );
    values.length = count;
    timestamps.length = count;
    if (stoppedIn >= 0 && sliceEnd < limit) {
      held.position = stoppedIn;
      this.held = held;
      this.offsets[partition] = sliceEnd;
    } else {
      this.held = undefined;
      this.offsets[partition] = Math.max(next, limit);
      // Values decoded by decodeRange are copies, so nothing holds a view into the lent page: it can go back.
      if (format.decodeRange) log.release?.(held.batches!);
    }
    return 'read';
  }

  /** From decoded records (a log without raw reads: a Kafka cluster's client). */
  private async readRecords(
    partition: number,
    offset: number,
    end: number | undefined,
    values: T[],
    timestamps: number[],
  ): Promise<ReadOutcome> {
    const { log, topic, format } = this.options;
    const page = await log.readRecords(topic, partition, offset, {
      maxBytes: this.options.maxBytesPerRead ?? 1 << 20,
      isolation: READ_COMMITTED,
    });
    if (page.records.length === 0) {
      // A page of only transaction markers and aborted records: nothing to hand on, but go past it (to the end, in
      // a bounded run), or the next read would find the same page again.
      if (page.nextOffset > offset)
        this.offsets[partition] = end === undefined ? page.nextOffset : Math.min(page.nextOffset, end);
      return page.highWatermark <= offset ? 'end' : 'none';
    }
    for (const record of page.records) {
      if (end !== undefined && record.offset >= end) break;
      if (record.offset < offset) continue;
      this.offsets[partition] = record.offset + 1;
      if (record.value === null) continue; // a tombstone carries no value
      try {
        values.push(format.decode(record.value));
        timestamps.push(record.timestamp);
      } catch (error) {
        this.refused(partition, record.offset, error, record.value, record.timestamp);
      }
    }
    if (end === undefined || this.offsets[partition]! < end) {
      this.offsets[partition] = Math.max(this.offsets[partition]!, page.nextOffset);
    }
    return 'read';
  }

  private refused(partition: number, offset: number, error: unknown, original: Buffer, timestamp: number): void {
    const where = `${this.options.topic}/${partition}@${offset}`;
    this.ctx.deadLetter({ error: `${where}: ${(error as Error).message}`, original, timestamp });
  }

  /**
   * Offsets per partition, the partition read next, and the page being handed on: with them, a replay reads the
   * very same batches.
   */
  snapshot(): unknown {
    const held = this.held && { partition: this.held.partition, end: this.held.end };
    return { offsets: this.position(), next: this.next, ...(held ? { held } : {}) };
  }

  restore(position: unknown): void {
    const p = position as
      | { offsets?: unknown; next?: unknown; held?: { partition?: unknown; end?: unknown } }
      | number[];
    const offsets = Array.isArray(p) ? p : p?.offsets;
    if (!Array.isArray(offsets) || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new SluiceError('INVALID_CHECKPOINT', `${this.name}: the checkpoint has no valid offsets for this source`);
    }
    this.restored = offsets as number[];
    this.offsets = [...(offsets as number[])];
    this.held = undefined;
    if (Array.isArray(p)) return;
    if (typeof p.next === 'number') this.next = p.next;
    if (p.held !== undefined) {
      const { partition, end } = p.held;
      if (
        !Number.isSafeInteger(partition) ||
        !Number.isSafeInteger(end) ||
        (partition as number) < 0 ||
        (partition as number) >= offsets.length
      ) {
        throw new SluiceError('INVALID_CHECKPOINT', `${this.name}: the checkpoint's page position is not valid`);
      }
      this.held = { partition: partition as number, end: end as number, position: 0 };
    }
  }

  async close(): Promise<void> {
    this.trigger?.unregister(this);
  }
}
