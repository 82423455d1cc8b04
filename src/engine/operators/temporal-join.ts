// Event-time enrichment (a temporal join): each stream record joins the changelog table's row as of the record's
// own timestamp, so results do not depend on how the two inputs interleave (a replay gives the same answer).
// Stream records wait until the watermark passes them; the table keeps, per key, the version valid at the
// watermark plus later ones, so both sides are bounded by the watermark.
import { MinHeap } from '../heap.ts';
import { StateTable, type StateTableSnapshot } from '../state-table.ts';
import type { Batch, Operator, OperatorContext } from '../types.ts';
import { LATE_TAG } from './window-aggregate.ts';

/** A key's table versions in time order; `null` rows are deletes. */
interface Versions<U> {
  times: number[];
  rows: (U | null)[];
}

interface Waiting<T, K> {
  value: T;
  key: K;
  ts: number;
}

export class TemporalJoinOperator<T, U, K, O> implements Operator<T | U, O> {
  readonly kind = 'temporal-join';
  private ctx!: OperatorContext<O>;
  private readonly table = new StateTable<K, Versions<U>>();
  /** Keys with more than one version or a delete: the only ones pruning has work to do on. */
  private prunable = new Set<K>();
  private waiting = new MinHeap<Waiting<T, K>>();

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
    const watermark = this.ctx.currentWatermark();
    for (let i = 0; i < batch.values.length; i++) {
      const value = batch.values[i]!;
      const ts = batch.timestamps[i]!;
      try {
        if (input === 1) this.addVersion(value as U, ts, watermark);
        else if (ts < watermark) {
          // Behind the watermark: the row valid at its time may have been pruned.
          this.ctx.emitSide(LATE_TAG, value, ts);
          this.ctx.countLate(1);
        } else this.waiting.push(ts, { value: value as T, key: this.streamKey(value as T), ts });
      } catch (error) {
        this.ctx.deadLetter(error, value, ts);
      }
    }
  }

  private addVersion(row: U, ts: number, watermark: number): void {
    const key = this.tableKey(row);
    const stored = this.isDelete(row) ? null : row;
    const versions = this.table.get(key);
    if (!versions) {
      if (stored === null) return; // deleting what is not there
      this.table.put(key, { times: [ts], rows: [stored] });
      return;
    }
    // After every version with time <= ts (equal times: the later arrival wins).
    let at = versions.times.length;
    while (at > 0 && versions.times[at - 1]! > ts) at--;
    versions.times.splice(at, 0, ts);
    versions.rows.splice(at, 0, stored);
    this.prunable.add(key);
    if (ts < watermark) this.ctx.countLate(1); // may change results already emitted; applies from now on
  }

  /** The row valid at `ts`: the last version with time <= ts, unless it is a delete. */
  private rowAt(key: K, ts: number): U | undefined {
    const versions = this.table.get(key);
    if (!versions) return undefined;
    const { times, rows } = versions;
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (times[mid]! <= ts) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? undefined : (rows[lo - 1] ?? undefined);
  }

  onWatermark(watermark: number): number {
    // Every table update with time < watermark has arrived: records before it can be joined.
    while (this.waiting.size > 0 && this.waiting.peekPriority() < watermark) {
      const { value, key, ts } = this.waiting.pop()!;
      try {
        this.ctx.emit(this.combine(value, this.rowAt(key, ts)), ts);
      } catch (error) {
        this.ctx.deadLetter(error, value, ts);
      }
    }
    // Keep, per key, the version valid at the watermark and the later ones.
    for (const key of this.prunable) {
      const versions = this.table.get(key)!;
      const { times, rows } = versions;
      let base = 0;
      while (base + 1 < times.length && times[base + 1]! < watermark) base++;
      if (base > 0) {
        times.splice(0, base);
        rows.splice(0, base);
      }
      if (times.length === 1 && times[0]! < watermark) {
        this.prunable.delete(key);
        if (rows[0] === null) this.table.delete(key);
      }
    }
    return watermark;
  }

  snapshot(): unknown {
    return {
      table: this.table.snapshot(),
      waiting: this.waiting.toArray().map(([, w]) => w),
    };
  }

  /** Reads the table as columns, or as the [key, versions] pairs of checkpoints written before state tables. */
  restore(state: unknown): void {
    const s = state as { table: StateTableSnapshot<K, Versions<U>> | [K, Versions<U>][]; waiting: Waiting<T, K>[] };
    this.table.restore(s.table);
    this.prunable = new Set();
    for (const [key, v] of this.table.entries())
      if (v.times.length > 1 || v.rows.includes(null)) this.prunable.add(key);
    this.waiting = new MinHeap();
    for (const w of s.waiting) this.waiting.push(w.ts, w);
  }

  stateSize(): number {
    let n = this.waiting.size;
    for (const v of this.table.values()) n += v.times.length;
    return n;
  }
}
