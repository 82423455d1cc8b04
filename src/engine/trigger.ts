// A processing-time micro-batch trigger (`sluice run --trigger 1s`), as Spark Structured Streaming's: instead of
// reading records as they arrive (continuous processing, the default), the pipeline's log sources read only at ticks
// every interval. Each tick cuts a batch — every partition up to its end at the tick —, the sources read and process
// it, and once all have, the batch is committed (a checkpoint, with it the exactly-once sinks' transactions); the next
// tick comes an interval after the last one began, or at once when the batch took longer. Results equal continuous
// processing's (the same records in the same order per partition); what changes is when they come out.
import { SluiceError } from '../errors.ts';
import { type Duration, toMillis } from './duration.ts';

/** A source that reads in micro-batches (the log source): at a tick it fixes where its batch ends. */
export interface MicroBatchSource {
  /** Fixes the batch to read: up to each partition's end now. Returns the records (about) in it. */
  cutBatch(): number;
}

export interface MicroBatchTriggerOptions {
  /** The period of the ticks. */
  interval: Duration;
  /** Called once every source has read and processed a batch that had records (e.g. a checkpoint). */
  commit?: () => Promise<unknown>;
}

export interface MicroBatchStats {
  /** Batches that had records, committed (or without `commit`, processed). */
  batches: number;
  records: number;
  /** The last such batch: from its tick to the end of its commit, and the commit alone. */
  lastBatchMs: number;
  lastCommitMs: number;
}

export class MicroBatchTrigger {
  readonly intervalMs: number;
  private readonly commit: (() => Promise<unknown>) | undefined;
  private readonly sources = new Set<MicroBatchSource>();
  /** The sources done with the current batch, waiting for the next tick. */
  private readonly waiting = new Set<MicroBatchSource>();
  /** reading: a batch is being read (the first, before any tick, is empty); committing; waiting for the tick. */
  private phase: 'reading' | 'committing' | 'waiting' = 'reading';
  private tick = Promise.withResolvers<void>();
  private timer: NodeJS.Timeout | undefined;
  private batchStartedAt: number | undefined;
  private batchRecords = 0;
  readonly stats: MicroBatchStats = { batches: 0, records: 0, lastBatchMs: 0, lastCommitMs: 0 };

  constructor(options: MicroBatchTriggerOptions) {
    this.intervalMs = toMillis(options.interval, 'trigger interval');
    if (this.intervalMs === 0) throw new SluiceError('INVALID_DURATION', 'trigger interval: give a duration > 0');
    this.commit = options.commit;
  }

  /** A source taking part (it opened in a streaming run). */
  register(source: MicroBatchSource): void {
    this.sources.add(source);
  }

  /** A source that closed: the batches no longer wait for it. */
  unregister(source: MicroBatchSource): void {
    this.sources.delete(source);
    this.waiting.delete(source);
    if (this.sources.size === 0) {
      clearTimeout(this.timer);
      this.phase = 'reading';
    } else this.maybeEndBatch();
  }

  /**
   * `source` has read its batch (or has none yet): resolves true at the next tick, its next batch cut; false if
   * `signal` aborts first (a checkpoint's barrier, a stop), the source then asks again.
   */
  next(source: MicroBatchSource, signal: AbortSignal): Promise<boolean> {
    this.waiting.add(source);
    const tick = this.tick.promise;
    this.maybeEndBatch();
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => resolve(false);
      signal.addEventListener('abort', onAbort, { once: true });
      void tick.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      });
    });
  }

  private maybeEndBatch(): void {
    if (this.phase !== 'reading' || this.waiting.size < this.sources.size || this.sources.size === 0) return;
    this.phase = 'committing';
    void this.endBatch();
  }

  private async endBatch(): Promise<void> {
    const startedAt = this.batchStartedAt;
    if (startedAt !== undefined && this.batchRecords > 0) {
      const committing = performance.now();
      // A failed checkpoint is counted and logged by the coordinator; the next batch's takes its place.
      if (this.commit) await this.commit().catch(() => {});
      const now = performance.now();
      this.stats.batches++;
      this.stats.records += this.batchRecords;
      this.stats.lastCommitMs = now - committing;
      this.stats.lastBatchMs = now - startedAt;
    }
    if (this.sources.size === 0) return;
    // An interval after the last tick (the first at once); at once if the batch took longer.
    const delay = startedAt === undefined ? 0 : Math.max(0, startedAt + this.intervalMs - performance.now());
    this.phase = 'waiting';
    this.timer = setTimeout(() => this.fire(), delay);
  }

  private fire(): void {
    this.phase = 'reading';
    this.waiting.clear();
    this.batchStartedAt = performance.now();
    let records = 0;
    for (const source of this.sources) records += source.cutBatch();
    this.batchRecords = records;
    const tick = this.tick;
    this.tick = Promise.withResolvers<void>();
    tick.resolve();
  }
}

/** Sources that can read in micro-batches (the log source) implement this beside MicroBatchSource. */
interface Triggerable {
  useTrigger(trigger: MicroBatchTrigger): void;
}

const triggerable = (source: unknown): source is Triggerable =>
  typeof (source as Partial<Triggerable>).useTrigger === 'function';

/**
 * Makes `pipeline` (before run()) read its log sources in micro-batches every `interval`, with a checkpoint per batch
 * when `checkpoint` (its checkpoints enabled). Sources that cannot (not a log topic) keep reading continuously.
 * Returns the trigger (its stats). A bounded run ignores it: it reads its input once anyway.
 */
export function applyTrigger(
  // What it uses of a Pipeline (structurally: the log source imports this file, and the pipeline the log source).
  pipeline: { sourceConnectors(): readonly unknown[]; checkpoint(): Promise<unknown> },
  options: { interval: Duration; checkpoint?: boolean },
): MicroBatchTrigger {
  const trigger = new MicroBatchTrigger({
    interval: options.interval,
    ...(options.checkpoint ? { commit: () => pipeline.checkpoint() } : {}),
  });
  for (const source of pipeline.sourceConnectors()) if (triggerable(source)) source.useTrigger(trigger);
  return trigger;
}
