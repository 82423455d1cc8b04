// Records per second of every operator of every pipeline, sampled once a second and kept for a few minutes, so that
// the dashboard's throughput charts start with the recent past instead of empty when a page opens.
import type { PipelineView } from '../engine/index.ts';
import type { ThroughputPoint } from './api.ts';

export class ThroughputSampler {
  private readonly pipelines: () => PipelineView[];
  private readonly intervalMs: number;
  private readonly keep: number;
  private readonly history: ThroughputPoint[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: { pipelines: () => PipelineView[]; intervalMs?: number; keep?: number }) {
    this.pipelines = options.pipelines;
    this.intervalMs = options.intervalMs ?? 1000;
    this.keep = options.keep ?? 300;
  }

  /** Starts sampling in the background (idempotent); the timer never keeps the process alive. */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  sample(at = Date.now()): ThroughputPoint {
    const point: ThroughputPoint = { at, rates: {} };
    for (const pipeline of this.pipelines()) {
      const rates: Record<string, number> = {};
      for (const operator of pipeline.metrics().operators) rates[operator.name] = operator.ratePerSec;
      point.rates[pipeline.name] = rates;
    }
    this.history.push(point);
    if (this.history.length > this.keep) this.history.shift();
    return point;
  }

  /** The samples kept, oldest first. */
  points(): ThroughputPoint[] {
    return [...this.history];
  }
}
