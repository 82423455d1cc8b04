// Rolling aggregates per key over the last N records or the last T of event time, updated on every record
// (e.g. a 5-minute rolling average). Two-stacks sliding aggregation: each record is added and evicted once, and
// a result merges at most two accumulators, so any mergeable aggregate works without an inverse.
import type { Aggregate } from '../aggregates/index.ts';
import type { MapColumns } from '../checkpoint/columns.ts';
import { StateTable } from '../state-table.ts';
import type { Batch, Operator, OperatorContext } from '../types.ts';

export interface RollingResult<K, R> {
  readonly key: K;
  readonly value: R;
}

export type RollingExtent = { readonly count: number } | { readonly timeMs: number };

interface KeyWindow<T, Acc> {
  /** Front stack, oldest last: items and suffix aggregates (front[i] covers items i..0 of the stack). */
  frontItems: T[];
  frontTimes: number[];
  frontAggs: Acc[];
  backItems: T[];
  backTimes: number[];
  backAgg: Acc;
}

export class RollingOperator<T, K, Acc, R> implements Operator<T, RollingResult<K, R>> {
  readonly kind = 'rolling';
  private ctx!: OperatorContext<RollingResult<K, R>>;
  private readonly windows = new StateTable<K, KeyWindow<T, Acc>>();
  private lastSweep = Number.NEGATIVE_INFINITY;
  private readonly keyOf: (value: T) => K;
  private readonly aggregate: Aggregate<T, Acc, R>;
  private readonly extent: RollingExtent;

  constructor(keyOf: (value: T) => K, aggregate: Aggregate<T, Acc, R>, extent: RollingExtent) {
    this.keyOf = keyOf;
    this.aggregate = aggregate;
    this.extent = extent;
  }

  open(ctx: OperatorContext<RollingResult<K, R>>): void {
    this.ctx = ctx;
  }

  private size(w: KeyWindow<T, Acc>): number {
    return w.frontItems.length + w.backItems.length;
  }

  private oldestTime(w: KeyWindow<T, Acc>): number {
    return w.frontTimes.length > 0 ? w.frontTimes.at(-1)! : w.backTimes[0]!;
  }

  private evictOne(w: KeyWindow<T, Acc>): void {
    const agg = this.aggregate;
    if (w.frontItems.length === 0) {
      // Flip: move the back stack to the front, computing suffix aggregates from newest to oldest.
      let acc = agg.create();
      for (let i = w.backItems.length - 1; i >= 0; i--) {
        acc = agg.add(agg.merge(agg.create(), acc), w.backItems[i]!);
        w.frontItems.push(w.backItems[i]!);
        w.frontTimes.push(w.backTimes[i]!);
        w.frontAggs.push(acc);
      }
      w.backItems = [];
      w.backTimes = [];
      w.backAgg = agg.create();
    }
    w.frontItems.pop();
    w.frontTimes.pop();
    w.frontAggs.pop();
  }

  processBatch(batch: Batch<T>): void {
    const agg = this.aggregate;
    for (let i = 0; i < batch.values.length; i++) {
      const value = batch.values[i]!;
      const ts = batch.timestamps[i]!;
      try {
        const key = this.keyOf(value);
        let w = this.windows.get(key);
        if (!w) {
          w = { frontItems: [], frontTimes: [], frontAggs: [], backItems: [], backTimes: [], backAgg: agg.create() };
          this.windows.put(key, w);
        }
        w.backItems.push(value);
        w.backTimes.push(ts);
        w.backAgg = agg.add(w.backAgg, value);
        if ('count' in this.extent) {
          while (this.size(w) > this.extent.count) this.evictOne(w);
        } else {
          const horizon = ts - this.extent.timeMs;
          while (this.size(w) > 1 && this.oldestTime(w) <= horizon) this.evictOne(w);
        }
        const front = w.frontAggs.at(-1);
        const acc = front === undefined ? w.backAgg : agg.merge(agg.merge(agg.create(), front), w.backAgg);
        this.ctx.emit({ key, value: agg.result(acc) }, ts);
      } catch (error) {
        this.ctx.deadLetter(error, value, ts);
      }
    }
  }

  /** Keys whose whole extent is behind the watermark can go (time-based only; count-based keeps the last N). */
  onWatermark(watermark: number): number {
    // Sweeping every key is O(keys): do it when the watermark has moved a quarter of the extent.
    if ('timeMs' in this.extent && watermark >= this.lastSweep + this.extent.timeMs / 4) {
      this.lastSweep = watermark;
      for (const [key, w] of this.windows.entries()) {
        const newest = w.backTimes.length > 0 ? w.backTimes.at(-1)! : w.frontTimes[0]!;
        if (newest + this.extent.timeMs <= watermark) this.windows.delete(key);
      }
    }
    return watermark;
  }

  snapshot(): unknown {
    return this.windows.snapshot();
  }

  restore(state: unknown): void {
    this.windows.restore(state as MapColumns<K, KeyWindow<T, Acc>>);
  }

  stateSize(): number {
    let n = 0;
    for (const w of this.windows.values()) n += this.size(w);
    return n;
  }
}
