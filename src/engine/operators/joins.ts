// Two-input keyed joins. Input 0 is the left stream, input 1 the right; state is bounded by the watermark
// (the minimum of both inputs), so a join holds only what a future record could still match. Records behind the
// watermark go to the late side output (they never vanish silently).

import { fromColumns, type MapColumns, toColumns } from '../checkpoint/columns.ts';
import type { Batch, Operator, OperatorContext } from '../types.ts';
import { LATE_TAG } from './window-aggregate.ts';

/** One key's buffered records of one side; `sorted` while they arrived in time order (binary search). */
interface Buffered<V> {
  values: V[];
  times: number[];
  sorted: boolean;
}

/**
 * Interval join: each left record `a` meets every right record `b` with the same key and
 * b.ts in [a.ts + lowerMs, a.ts + upperMs] (e.g. clicks joined to the page views of the 10 minutes before:
 * lower = -10 min, upper = 0). The result's timestamp is the later of the two.
 */
export class IntervalJoinOperator<L, R, K, O> implements Operator<L | R, O> {
  private ctx!: OperatorContext<O>;
  private left = new Map<K, Buffered<L>>();
  private right = new Map<K, Buffered<R>>();
  private lastSweep = Number.NEGATIVE_INFINITY;

  private readonly leftKey: (value: L) => K;
  private readonly rightKey: (value: R) => K;
  private readonly lowerMs: number;
  private readonly upperMs: number;
  private readonly combine: (left: L, right: R) => O;

  constructor(
    leftKey: (value: L) => K,
    rightKey: (value: R) => K,
    lowerMs: number,
    upperMs: number,
    combine: (left: L, right: R) => O,
  ) {
    this.leftKey = leftKey;
    this.rightKey = rightKey;
    this.lowerMs = lowerMs;
    this.upperMs = upperMs;
    this.combine = combine;
  }

  open(ctx: OperatorContext<O>): void {
    this.ctx = ctx;
  }

  processBatch(batch: Batch<L | R>, input: number): void {
    const watermark = this.ctx.currentWatermark();
    const isLeft = input === 0;
    const mine = isLeft ? this.left : this.right;
    const theirs = isLeft ? this.right : this.left;
    // The partner's time window, relative to this record's time.
    const fromOffset = isLeft ? this.lowerMs : -this.upperMs;
    const toOffset = isLeft ? this.upperMs : -this.lowerMs;
    const keyOf = (isLeft ? this.leftKey : this.rightKey) as (value: L | R) => K;
    for (let i = 0; i < batch.values.length; i++) {
      const value = batch.values[i]!;
      const ts = batch.timestamps[i]!;
      if (ts < watermark) {
        // Behind the watermark: its partners may be gone (Flink drops these; we divert them).
        this.ctx.emitSide(LATE_TAG, value, ts);
        this.ctx.countLate(1);
        continue;
      }
      try {
        const key = keyOf(value);
        let side = mine.get(key);
        if (!side) mine.set(key, (side = { values: [], times: [], sorted: true }));
        if (side.sorted && side.times.length > 0 && ts < side.times[side.times.length - 1]!) side.sorted = false;
        side.values.push(value as never);
        side.times.push(ts);
        const other = theirs.get(key);
        if (other) this.match(value, ts, isLeft, other, ts + fromOffset, ts + toOffset);
      } catch (error) {
        this.ctx.deadLetter(error, value, ts);
      }
    }
  }

  /** Emits a pair for every buffered partner with time in [lo, hi]; in-order buffers are binary-searched. */
  private match(value: L | R, ts: number, isLeft: boolean, other: Buffered<L | R>, lo: number, hi: number): void {
    const times = other.times;
    let j = 0;
    if (other.sorted) {
      let end = times.length;
      while (j < end) {
        const mid = (j + end) >>> 1;
        if (times[mid]! < lo) j = mid + 1;
        else end = mid;
      }
    }
    for (; j < times.length; j++) {
      const t = times[j]!;
      if (t > hi) {
        if (other.sorted) break;
        continue;
      }
      if (t < lo) continue;
      const out = isLeft
        ? this.combine(value as L, other.values[j] as R)
        : this.combine(other.values[j] as L, value as R);
      this.ctx.emit(out, Math.max(ts, t));
    }
  }

  onWatermark(watermark: number): number {
    // A left record can still match right records with ts >= watermark only if ts + upper >= watermark;
    // a right record can still match left records with ts >= watermark only if ts - lower >= watermark.
    const span = this.upperMs - this.lowerMs;
    if (Number.isFinite(watermark) && watermark < this.lastSweep + Math.max(span / 4, 1)) return watermark;
    this.lastSweep = watermark;
    const prune = <V>(map: Map<K, Buffered<V>>, keep: (t: number) => boolean) => {
      for (const [key, side] of map) {
        let w = 0;
        for (let j = 0; j < side.times.length; j++) {
          if (keep(side.times[j]!)) {
            side.times[w] = side.times[j]!;
            side.values[w] = side.values[j]!;
            w++;
          }
        }
        if (w === 0) map.delete(key);
        else {
          side.times.length = w;
          side.values.length = w;
        }
      }
    };
    prune(this.left, (t) => t + this.upperMs >= watermark);
    prune(this.right, (t) => t - this.lowerMs >= watermark);
    return watermark;
  }

  snapshot(): unknown {
    return { left: toColumns(this.left), right: toColumns(this.right) };
  }

  restore(state: unknown): void {
    const s = state as { left: MapColumns<K, Buffered<L>>; right: MapColumns<K, Buffered<R>> };
    this.left = fromColumns(s.left);
    this.right = fromColumns(s.right);
  }

  stateSize(): number {
    let n = 0;
    for (const side of this.left.values()) n += side.times.length;
    for (const side of this.right.values()) n += side.times.length;
    return n;
  }
}

/** Window join: left and right records with the same key in the same tumbling/sliding window, paired when the
 * window fires (every pair once per window, as Flink's window join). */
export class WindowJoinOperator<L, R, K, O> implements Operator<L | R, O> {
  private ctx!: OperatorContext<O>;
  /** window start → key → [lefts, rights]. */
  private windows = new Map<number, Map<K, [L[], R[]]>>();

  private readonly leftKey: (value: L) => K;
  private readonly rightKey: (value: R) => K;
  private readonly sizeMs: number;
  private readonly slideMs: number;
  private readonly offsetMs: number;
  private readonly combine: (left: L, right: R, window: { start: number; end: number }) => O;

  constructor(
    leftKey: (value: L) => K,
    rightKey: (value: R) => K,
    sizeMs: number,
    slideMs: number,
    combine: (left: L, right: R, window: { start: number; end: number }) => O,
    offsetMs = 0,
  ) {
    this.leftKey = leftKey;
    this.rightKey = rightKey;
    this.sizeMs = sizeMs;
    this.slideMs = slideMs;
    this.offsetMs = offsetMs;
    this.combine = combine;
  }

  open(ctx: OperatorContext<O>): void {
    this.ctx = ctx;
  }

  processBatch(batch: Batch<L | R>, input: number): void {
    const watermark = this.ctx.currentWatermark();
    for (let i = 0; i < batch.values.length; i++) {
      const value = batch.values[i]!;
      const ts = batch.timestamps[i]!;
      try {
        const key = input === 0 ? this.leftKey(value as L) : this.rightKey(value as R);
        let assigned = false;
        const last = ts - ((((ts - this.offsetMs) % this.slideMs) + this.slideMs) % this.slideMs);
        for (let start = last; start > ts - this.sizeMs; start -= this.slideMs) {
          if (start + this.sizeMs <= watermark) continue; // that window already fired
          assigned = true;
          let byKey = this.windows.get(start);
          if (!byKey) this.windows.set(start, (byKey = new Map()));
          let pair = byKey.get(key);
          if (!pair) byKey.set(key, (pair = [[], []]));
          if (input === 0) pair[0].push(value as L);
          else pair[1].push(value as R);
        }
        if (!assigned) {
          this.ctx.emitSide(LATE_TAG, value, ts);
          this.ctx.countLate(1);
        }
      } catch (error) {
        this.ctx.deadLetter(error, value, ts);
      }
    }
  }

  onWatermark(watermark: number): number {
    const due = [...this.windows.keys()].filter((start) => start + this.sizeMs <= watermark).sort((a, b) => a - b);
    for (const start of due) {
      const window = { start, end: start + this.sizeMs };
      for (const [lefts, rights] of this.windows.get(start)!.values()) {
        for (const l of lefts) {
          for (const r of rights) {
            try {
              this.ctx.emit(this.combine(l, r, window), window.end - 1);
            } catch (error) {
              this.ctx.deadLetter(error, { left: l, right: r }, window.end - 1);
            }
          }
        }
      }
      this.windows.delete(start);
    }
    return watermark;
  }

  snapshot(): unknown {
    return [...this.windows].map(([start, byKey]) => [start, [...byKey]]);
  }

  restore(state: unknown): void {
    this.windows = new Map((state as [number, [K, [L[], R[]]][]][]).map(([start, e]) => [start, new Map(e)]));
  }

  stateSize(): number {
    let n = 0;
    for (const byKey of this.windows.values()) for (const [l, r] of byKey.values()) n += l.length + r.length;
    return n;
  }
}

/**
 * Enrichment join with a changelog table: input 1 carries table updates (the latest value per key wins; a
 * `null` value deletes the key), input 0 the stream, joined with the table's current value for its key as each
 * record arrives (a processing-order lookup, like Flink's lookup join). Stream records whose key has no row get
 * `undefined` (a left join); filter them out for an inner join.
 */
export class EnrichJoinOperator<T, U, K, O> implements Operator<T | U, O> {
  private ctx!: OperatorContext<O>;
  private table = new Map<K, U>();

  private readonly streamKey: (value: T) => K;
  private readonly tableKey: (value: U) => K;
  private readonly combine: (value: T, row: U | undefined) => O;
  private readonly isDelete: (value: U) => boolean;

  constructor(
    streamKey: (value: T) => K,
    tableKey: (value: U) => K,
    combine: (value: T, row: U | undefined) => O,
    isDelete: (value: U) => boolean = () => false,
  ) {
    this.streamKey = streamKey;
    this.tableKey = tableKey;
    this.combine = combine;
    this.isDelete = isDelete;
  }

  open(ctx: OperatorContext<O>): void {
    this.ctx = ctx;
  }

  processBatch(batch: Batch<T | U>, input: number): void {
    for (let i = 0; i < batch.values.length; i++) {
      const value = batch.values[i]!;
      try {
        if (input === 1) {
          const row = value as U;
          const key = this.tableKey(row);
          if (this.isDelete(row)) this.table.delete(key);
          else this.table.set(key, row);
        } else {
          const record = value as T;
          this.ctx.emit(this.combine(record, this.table.get(this.streamKey(record))), batch.timestamps[i]!);
        }
      } catch (error) {
        this.ctx.deadLetter(error, value, batch.timestamps[i]!);
      }
    }
  }

  snapshot(): unknown {
    return toColumns(this.table);
  }

  restore(state: unknown): void {
    this.table = fromColumns(state as MapColumns<K, U>);
  }

  stateSize(): number {
    return this.table.size;
  }
}
