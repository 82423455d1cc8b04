// Event time: extracts each record's timestamp and generates watermarks per input channel (source partition),
// merged by minimum, with an idleness timeout so that a silent partition stops holding time back; when every
// channel is idle the stream itself is marked idle, so that it does not hold back a union or a join either.
import { type Batch, MAX_WATERMARK, MIN_WATERMARK, type Operator, type OperatorContext } from '../types.ts';

export interface WatermarkStrategy {
  /** How far behind the largest timestamp seen the watermark trails (bounded out-of-orderness). */
  readonly maxOutOfOrdernessMs: number;
  /** A channel with no records for this long (processing time) is ignored until it speaks again. */
  readonly idleTimeoutMs?: number;
}

interface ChannelState {
  maxTimestamp: number;
  lastActive: number;
  idle: boolean;
}

export class TimestampAssigner<T> implements Operator<T, T> {
  readonly generatesWatermarks = true;
  private ctx!: OperatorContext<T>;
  private readonly channels = new Map<number, ChannelState>();
  private emitted = MIN_WATERMARK;
  /** Every channel is idle and downstream has been told so. */
  private idle = false;
  private readonly extract: (value: T) => number;
  private readonly strategy: WatermarkStrategy;

  constructor(extract: (value: T) => number, strategy: WatermarkStrategy) {
    this.extract = extract;
    this.strategy = strategy;
  }

  open(ctx: OperatorContext<T>): void {
    this.ctx = ctx;
  }

  processBatch(batch: Batch<T>): void {
    const channelId = batch.channel ?? 0;
    const now = this.ctx.processingTime();
    let channel = this.channels.get(channelId);
    if (!channel)
      this.channels.set(channelId, (channel = { maxTimestamp: MIN_WATERMARK, lastActive: now, idle: false }));
    if (batch.values.length === 0) return; // a source announcing its channel
    channel.lastActive = now;
    channel.idle = false;
    if (this.idle) {
      this.idle = false;
      this.ctx.emitIdle(false);
    }
    const { values } = batch;
    const extract = this.extract;
    let max = channel.maxTimestamp;
    const stamped = new Array<number>(values.length);
    // Fast path: every timestamp extracts and is finite (one try for the whole batch, no per-record branches).
    let clean = true;
    try {
      for (let i = 0; i < values.length; i++) {
        const ts = extract(values[i]!);
        if (!Number.isFinite(ts)) {
          clean = false; // NaN, ±Infinity or not a number: the slow path sends it to the dead letters
          break;
        }
        if (ts > max) max = ts;
        stamped[i] = ts;
      }
    } catch {
      clean = false;
    }
    if (clean) {
      this.ctx.emitAll(values, stamped);
      channel.maxTimestamp = max;
      this.advance();
      return;
    }
    max = channel.maxTimestamp;
    let bad = 0;
    for (let i = 0; i < values.length; i++) {
      let ts: number;
      try {
        ts = this.extract(values[i]!);
        if (!Number.isFinite(ts)) throw new Error(`timestamp ${ts} is not a finite number`);
      } catch (error) {
        this.ctx.deadLetter(error, values[i], batch.timestamps[i]!);
        stamped[i] = Number.NaN;
        bad++;
        continue;
      }
      if (ts > max) max = ts;
      stamped[i] = ts;
    }
    if (bad === 0) this.ctx.emitAll(values, stamped);
    else for (let i = 0; i < values.length; i++) if (!Number.isNaN(stamped[i]!)) this.ctx.emit(values[i]!, stamped[i]!);
    channel.maxTimestamp = max;
    this.advance();
  }

  /** Upstream watermarks mean nothing here (we make our own), except the end of a bounded input. */
  onWatermark(watermark: number): number | undefined {
    return watermark === MAX_WATERMARK ? MAX_WATERMARK : undefined;
  }

  onProcessingTime(now: number): void {
    const timeout = this.strategy.idleTimeoutMs;
    if (timeout === undefined) return;
    for (const channel of this.channels.values()) {
      if (!channel.idle && now - channel.lastActive >= timeout) channel.idle = true;
    }
    this.advance();
  }

  private advance(): void {
    let min = Number.POSITIVE_INFINITY;
    let active = 0;
    for (const channel of this.channels.values()) {
      if (channel.idle) continue;
      active++;
      if (channel.maxTimestamp < min) min = channel.maxTimestamp;
    }
    if (active === 0) {
      // Every channel is idle: so is this stream (downstream leaves it out of its minimum until it speaks).
      if (!this.idle && this.channels.size > 0) {
        this.idle = true;
        this.ctx.emitIdle(true);
      }
      return;
    }
    if (min === MIN_WATERMARK) return; // a channel has not spoken yet: hold
    const watermark = min - this.strategy.maxOutOfOrdernessMs;
    if (watermark > this.emitted) {
      this.emitted = watermark;
      this.ctx.emitWatermark(watermark);
    }
  }

  snapshot(): unknown {
    return { channels: [...this.channels].map(([id, c]) => [id, c.maxTimestamp]), emitted: this.emitted };
  }

  restore(state: unknown): void {
    const s = state as { channels: [number, number][]; emitted: number };
    const now = this.ctx?.processingTime() ?? Date.now();
    for (const [id, maxTimestamp] of s.channels) this.channels.set(id, { maxTimestamp, lastActive: now, idle: false });
    this.emitted = s.emitted;
  }
}

/** Processing-time mode: each record is stamped with the wall clock, and the watermark follows the clock. */
export class ProcessingTimeAssigner<T> implements Operator<T, T> {
  readonly generatesWatermarks = true;
  private ctx!: OperatorContext<T>;
  open(ctx: OperatorContext<T>): void {
    this.ctx = ctx;
  }
  processBatch(batch: Batch<T>): void {
    const now = this.ctx.processingTime();
    this.ctx.emitAll(batch.values, new Array<number>(batch.values.length).fill(now));
  }
  onWatermark(watermark: number): number | undefined {
    return watermark === MAX_WATERMARK ? MAX_WATERMARK : undefined;
  }
  onProcessingTime(now: number): void {
    this.ctx.emitWatermark(now - 1);
  }
}
