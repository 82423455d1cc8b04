// Two-input keyed joins. Input 0 is the left stream, input 1 the right; state is bounded by the watermark
// (the minimum of both inputs), so a join holds only what a future record could still match. Records behind the
// watermark go to the late side output (they never vanish silently); an interval join's also to its side's own
// (`late-left`, `late-right`: Flink's sideOutputLeftLateData / sideOutputRightLateData).

import type { MapColumns } from '../checkpoint/columns.ts';
import { MinHeap } from '../heap.ts';
import { StateTable, type StateTableSnapshot } from '../state-table.ts';
import type { Batch, Operator, OperatorContext } from '../types.ts';
import { LATE_TAG } from './window-aggregate.ts';

/** The side outputs of an interval join's late records of one input: the left's (input 0) and the right's. */
export const LATE_LEFT_TAG = 'late-left';
export const LATE_RIGHT_TAG = 'late-right';

/**
 * One key's buffered records of one side, kept in time order (records arriving out of order are inserted at
 * their place) so that partners are found by binary search and expired records are always a prefix. The live
 * records are `[head, times.length)`: pruning advances `head` and compacts only once the dead prefix is the
 * larger part, so dropping a record costs O(1) amortised instead of shifting the whole buffer.
 */
interface Buffered<V> {
  values: V[];
  times: number[];
  head: number;
}

/** First index in `[from, to)` whose time is >= `t` (or `to`). */
function lowerBound(times: number[], t: number, from: number, to: number): number {
  while (from < to) {
    const mid = (from + to) >>> 1;
    if (times[mid]! < t) from = mid + 1;
    else to = mid;
  }
  return from;
}

/** First index in `[from, to)` whose time is > `t` (or `to`): where a record of time `t` goes, after its equals. */
function upperBound(times: number[], t: number, from: number, to: number): number {
  while (from < to) {
    const mid = (from + to) >>> 1;
    if (times[mid]! <= t) from = mid + 1;
    else to = mid;
  }
  return from;
}

/** One side of the join: its buffers by key, and a heap of keys by their oldest buffered time. */
class JoinSide<K, V> {
  readonly buffers = new StateTable<K, Buffered<V>>();
  /**
   * Each non-empty key has an entry holding its oldest time, so that pruning visits only the keys with something
   * to drop (rather than every key and record on every watermark: when one input runs ahead of the other, the
   * buffers hold millions of records that a scan would walk each time). Entries go stale when a key's oldest
   * record changes; they are recognised on pop and cost nothing more.
   */
  private oldest = new MinHeap<K>();
  size = 0;

  add(key: K, value: V, ts: number): void {
    let side = this.buffers.get(key);
    if (!side) this.buffers.put(key, (side = { values: [], times: [], head: 0 }));
    const times = side.times;
    const end = times.length;
    if (end === side.head || ts >= times[end - 1]!) {
      times.push(ts);
      side.values.push(value);
    } else {
      const at = upperBound(times, ts, side.head, end);
      times.splice(at, 0, ts);
      side.values.splice(at, 0, value);
    }
    if (times[side.head] === ts) this.oldest.push(ts, key);
    this.size++;
  }

  /** Drops every record with time < `before`. */
  prune(before: number): void {
    while (this.oldest.peekPriority() < before) {
      const key = this.oldest.pop()!;
      const side = this.buffers.get(key);
      if (!side) continue; // stale: the key was emptied by an earlier entry
      const { times, values } = side;
      const cut = lowerBound(times, before, side.head, times.length);
      if (cut === side.head) continue; // stale: its oldest record is newer than this entry
      this.size -= cut - side.head;
      if (cut === times.length) {
        this.buffers.delete(key);
        continue;
      }
      if (cut * 2 >= times.length) {
        const n = times.length - cut;
        for (let j = 0; j < n; j++) {
          times[j] = times[j + cut]!;
          values[j] = values[j + cut]!;
        }
        times.length = n;
        values.length = n;
        side.head = 0;
      } else {
        // Release the dropped records now; the compaction above comes once they are most of the buffer.
        for (let j = side.head; j < cut; j++) values[j] = undefined as V;
        side.head = cut;
      }
      this.oldest.push(times[side.head]!, key);
    }
  }

  snapshot(): MapColumns<K, { values: V[]; times: number[] }> {
    return this.buffers.snapshot((side) => ({
      values: side.values.slice(side.head),
      times: side.times.slice(side.head),
    }));
  }

  /** Also reads the buffers of checkpoints written before they were kept in time order (arrival order then). */
  restore(state: MapColumns<K, { values: V[]; times: number[] }>): void {
    this.buffers.restore(state, ({ values, times }): Buffered<V> => {
      const order = times.map((_, i) => i).sort((a, b) => times[a]! - times[b]! || a - b);
      return { values: order.map((i) => values[i]!), times: order.map((i) => times[i]!), head: 0 };
    });
    this.oldest = new MinHeap();
    this.size = 0;
    for (const [key, side] of this.buffers.entries()) {
      if (side.times.length === 0) {
        this.buffers.delete(key);
        continue;
      }
      this.oldest.push(side.times[0]!, key);
      this.size += side.times.length;
    }
  }
}

/**
 * Interval join: each left record `a` meets every right record `b` with the same key and
 * b.ts in [a.ts + lowerMs, a.ts + upperMs] (e.g. clicks joined to the page views of the 10 minutes before:
 * lower = -10 min, upper = 0). The result's timestamp is the later of the two. A record's partners are emitted in
 * their time order.
 */
export class IntervalJoinOperator<L, R, K, O> implements Operator<L | R, O> {
  readonly kind = 'interval-join';
  private ctx!: OperatorContext<O>;
  private left = new JoinSide<K, L>();
  private right = new JoinSide<K, R>();

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
    const mine = (isLeft ? this.left : this.right) as JoinSide<K, L | R>;
    const theirs = (isLeft ? this.right : this.left) as JoinSide<K, L | R>;
    // The partner's time window, relative to this record's time.
    const fromOffset = isLeft ? this.lowerMs : -this.upperMs;
    const toOffset = isLeft ? this.upperMs : -this.lowerMs;
    const keyOf = (isLeft ? this.leftKey : this.rightKey) as (value: L | R) => K;
    const lateTag = isLeft ? LATE_LEFT_TAG : LATE_RIGHT_TAG;
    for (let i = 0; i < batch.values.length; i++) {
      const value = batch.values[i]!;
      const ts = batch.timestamps[i]!;
      if (ts < watermark) {
        // Behind the watermark: its partners may be gone (Flink drops these; we divert them), to both sides' late
        // output and this side's own (a side output nobody reads costs a map lookup).
        this.ctx.emitSide(LATE_TAG, value, ts);
        this.ctx.emitSide(lateTag, value, ts);
        this.ctx.countLate(1);
        continue;
      }
      try {
        const key = keyOf(value);
        mine.add(key, value, ts);
        const other = theirs.buffers.get(key);
        if (other) this.match(value, ts, isLeft, other, ts + fromOffset, ts + toOffset);
      } catch (error) {
        this.ctx.deadLetter(error, value, ts);
      }
    }
  }

  /** Emits a pair for every buffered partner with time in [lo, hi] (binary search to the first). */
  private match(value: L | R, ts: number, isLeft: boolean, other: Buffered<L | R>, lo: number, hi: number): void {
    const times = other.times;
    for (let j = lowerBound(times, lo, other.head, times.length); j < times.length; j++) {
      const t = times[j]!;
      if (t > hi) break;
      const out = isLeft
        ? this.combine(value as L, other.values[j] as R)
        : this.combine(other.values[j] as L, value as R);
      this.ctx.emit(out, Math.max(ts, t));
    }
  }

  onWatermark(watermark: number): number {
    // A left record can still match right records with ts >= watermark only if ts + upper >= watermark;
    // a right record can still match left records with ts >= watermark only if ts - lower >= watermark.
    this.left.prune(watermark - this.upperMs);
    this.right.prune(watermark + this.lowerMs);
    return watermark;
  }

  snapshot(): unknown {
    return { left: this.left.snapshot(), right: this.right.snapshot() };
  }

  restore(state: unknown): void {
    const s = state as {
      left: MapColumns<K, { values: L[]; times: number[] }>;
      right: MapColumns<K, { values: R[]; times: number[] }>;
    };
    this.left.restore(s.left);
    this.right.restore(s.right);
  }

  stateSize(): number {
    return this.left.size + this.right.size;
  }
}

/** Window join: left and right records with the same key in the same tumbling/sliding window, paired when the
 * window fires (every pair once per window, as Flink's window join). */
export class WindowJoinOperator<L, R, K, O> implements Operator<L | R, O> {
  readonly kind = 'window-join';
  private ctx!: OperatorContext<O>;
  /** window start → its table: key → [lefts, rights]. */
  private windows = new Map<number, StateTable<K, [L[], R[]]>>();

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
          if (!byKey) this.windows.set(start, (byKey = new StateTable()));
          let pair = byKey.get(key);
          if (!pair) byKey.put(key, (pair = [[], []]));
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
    return [...this.windows].map(([start, byKey]) => [start, byKey.snapshot()]);
  }

  /** Reads each window's table as columns, or as the [key, pair] list of checkpoints before state tables. */
  restore(state: unknown): void {
    this.windows = new Map();
    for (const [start, stored] of state as [number, StateTableSnapshot<K, [L[], R[]]> | [K, [L[], R[]]][]][]) {
      const byKey = new StateTable<K, [L[], R[]]>();
      byKey.restore(stored);
      this.windows.set(start, byKey);
    }
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
  readonly kind = 'enrich';
  private ctx!: OperatorContext<O>;
  private readonly table = new StateTable<K, U>();

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
          else this.table.put(key, row);
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
    return this.table.snapshot();
  }

  restore(state: unknown): void {
    this.table.restore(state as MapColumns<K, U>);
  }

  stateSize(): number {
    return this.table.size;
  }
}
