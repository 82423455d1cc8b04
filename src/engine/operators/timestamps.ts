// Event time: extracts each record's timestamp and generates watermarks per input channel (source partition),
// merged by minimum. A channel stops holding time back while it is idle: its source reported it idle (caught up,
// nothing new for the source's idle timeout) or, with the strategy's idleTimeout, no records reached it for that
// long; when every channel is idle the stream itself is marked idle, so that it does not hold back a union or join.
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
  /** Silent past the strategy's idleTimeout. */
  idle: boolean;
  /** Its source said it is idle (SourceBatch.channelIdle): caught up, and nothing new for the source's timeout. */
  sourceIdle: boolean;
  /** When it went idle for either reason (processing time), for metrics; null while active. */
  idleSince: number | null;
}

/** A channel as metrics show it: its own watermark (−∞ before its first record), and since when it is idle. */
export interface ChannelTime {
  watermark: number;
  idleSince: number | null;
}

export class TimestampAssigner<T> implements Operator<T, T> {
  readonly kind = 'timestamps';
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
    if (!channel) this.channels.set(channelId, (channel = activeChannel(MIN_WATERMARK, now)));
    if (batch.values.length === 0) {
      // A source announcing its channel, or saying that it went idle (or woke up without records).
      const idle = batch.channelIdle;
      if (idle === undefined || idle === channel.sourceIdle) return;
      if (idle) {
        channel.sourceIdle = true;
        channel.idleSince ??= now;
      } else this.wake(channel, now);
      this.advance();
      return;
    }
    // Records wake their channel before they go on (and its time counts again from the advance() below them).
    this.wake(channel, now);
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
      if (!channel.idle && now - channel.lastActive >= timeout) {
        channel.idle = true;
        channel.idleSince ??= now;
      }
    }
    this.advance();
  }

  /** Each channel's own watermark (largest timestamp seen − bound) and idleness, for metrics. */
  channelTimes(): Map<number, ChannelTime> {
    const bound = this.strategy.maxOutOfOrdernessMs;
    const times = new Map<number, ChannelTime>();
    for (const [id, c] of this.channels) times.set(id, { watermark: c.maxTimestamp - bound, idleSince: c.idleSince });
    return times;
  }

  private wake(channel: ChannelState, now: number): void {
    channel.lastActive = now;
    channel.idle = false;
    channel.sourceIdle = false;
    channel.idleSince = null;
    if (this.idle) {
      this.idle = false;
      this.ctx.emitIdle(false);
    }
  }

  private advance(): void {
    let min = Number.POSITIVE_INFINITY;
    let active = 0;
    for (const channel of this.channels.values()) {
      if (channel.idle || channel.sourceIdle) continue;
      active++;
      if (channel.maxTimestamp < min) min = channel.maxTimestamp;
    }
    if (active === 0) {
      if (this.channels.size === 0) return;
      // Every channel is idle. As Flink's watermark valve does when all its inputs are idle, time moves to the most
      // advanced channel: nothing is expected anywhere, and a channel that was behind when it went quiet must not
      // hold the results back for ever (two partitions caught up a moment apart would otherwise freeze time at the
      // one that went idle last). Then the stream itself is idle: downstream leaves it out until it speaks.
      let max = MIN_WATERMARK;
      for (const channel of this.channels.values()) if (channel.maxTimestamp > max) max = channel.maxTimestamp;
      if (max !== MIN_WATERMARK) {
        const watermark = max - this.strategy.maxOutOfOrdernessMs;
        if (watermark > this.emitted) {
          this.emitted = watermark;
          this.ctx.emitWatermark(watermark);
        }
      }
      if (!this.idle) {
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
    // Idleness is not state: every channel starts active, and goes idle again only by the rules above.
    for (const [id, maxTimestamp] of s.channels) this.channels.set(id, activeChannel(maxTimestamp, now));
    this.emitted = s.emitted;
  }
}

function activeChannel(maxTimestamp: number, now: number): ChannelState {
  return { maxTimestamp, lastActive: now, idle: false, sourceIdle: false, idleSince: null };
}

/** Processing-time mode: each record is stamped with the wall clock, and the watermark follows the clock. */
export class ProcessingTimeAssigner<T> implements Operator<T, T> {
  readonly kind = 'processing-time';
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
