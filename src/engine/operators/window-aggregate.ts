// Tumbling and sliding event-time windows with incremental aggregation. Records are aggregated into panes (slices
// of gcd(size, slide)); a window's result merges its panes when the watermark reaches the window's end, so a
// record costs one accumulator update however many sliding windows contain it. Allowed lateness keeps panes
// until end + lateness: each late record re-emits its fired windows as updates; later records go to 'late'.
import type { Aggregate } from '../aggregates/index.ts';
import type { MapColumns } from '../checkpoint/columns.ts';
import { StateTable } from '../state-table.ts';
import type { Batch, Operator, OperatorContext } from '../types.ts';
import type { WindowResult } from '../windows.ts';

export const LATE_TAG = 'late';

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export interface PaneWindowOptions<T, K, Acc, R> {
  key: (value: T) => K;
  sizeMs: number;
  slideMs: number;
  offsetMs: number;
  allowedLatenessMs: number;
  aggregate: Aggregate<T, Acc, R>;
}

export class PaneWindowOperator<T, K, Acc, R> implements Operator<T, WindowResult<K, R>> {
  /** A sliding window whose slide is its size is a tumbling one (the same panes, the same state). */
  readonly kind: 'window-tumbling' | 'window-sliding';
  private ctx!: OperatorContext<WindowResult<K, R>>;
  private readonly paneMs: number;
  /** pane start → its table: key → accumulator. */
  private panes = new Map<number, StateTable<K, Acc>>();
  /** Every window ending at or before this has fired (the highest watermark seen). */
  private firedUpTo = Number.NEGATIVE_INFINITY;
  private lastPaneStart = Number.NaN;
  private lastPane: StateTable<K, Acc> | undefined;
  /** When the last pane's every window is past its lateness (records for it are late from then on). */
  private lastPaneExpiry = Number.NaN;
  /** No window with data ends before this, and no pane expires before `nextDrop`: watermarks below both (most of
   * them: one per source batch) have nothing to do. -Infinity: unknown, look. */
  private nextDue = Number.POSITIVE_INFINITY;
  private nextDrop = Number.POSITIVE_INFINITY;

  private readonly options: PaneWindowOptions<T, K, Acc, R>;

  constructor(options: PaneWindowOptions<T, K, Acc, R>) {
    this.options = options;
    this.kind = options.sizeMs === options.slideMs ? 'window-tumbling' : 'window-sliding';
    this.paneMs = gcd(options.sizeMs, options.slideMs);
  }

  open(ctx: OperatorContext<WindowResult<K, R>>): void {
    this.ctx = ctx;
  }

  private paneStart(ts: number): number {
    const { offsetMs } = this.options;
    return ts - ((((ts - offsetMs) % this.paneMs) + this.paneMs) % this.paneMs);
  }

  /** The start of the last window containing the pane: the pane start aligned down to the slide. */
  private lastWindowStart(paneStart: number): number {
    const { offsetMs, slideMs } = this.options;
    return paneStart - ((((paneStart - offsetMs) % slideMs) + slideMs) % slideMs);
  }

  processBatch(batch: Batch<T>): void {
    const { values, timestamps } = batch;
    const { key: keyOf, aggregate, sizeMs, allowedLatenessMs } = this.options;
    const watermark = this.ctx.currentWatermark();
    const paneMs = this.paneMs;
    for (let i = 0; i < values.length; i++) {
      const value = values[i]!;
      const ts = timestamps[i]!;
      let paneStart = this.lastPaneStart;
      let expiry: number;
      let pane: StateTable<K, Acc> | undefined;
      // Records mostly fall in the pane of the one before (false when lastPaneStart is NaN).
      if (ts >= paneStart && ts < paneStart + paneMs) {
        expiry = this.lastPaneExpiry;
        pane = this.lastPane;
      } else {
        paneStart = this.paneStart(ts);
        // Once the last window containing this pane is past its lateness, the record is late.
        expiry = this.lastWindowStart(paneStart) + sizeMs + allowedLatenessMs;
      }
      if (expiry <= watermark) {
        this.ctx.emitSide(LATE_TAG, value, ts);
        this.ctx.countLate(1);
        continue;
      }
      let key: K;
      try {
        key = keyOf(value);
      } catch (error) {
        this.ctx.deadLetter(error, value, ts);
        continue;
      }
      if (pane === undefined) {
        let found = this.panes.get(paneStart);
        if (!found) {
          this.panes.set(paneStart, (found = new StateTable()));
          this.notePane(paneStart, expiry);
        }
        pane = found;
        this.lastPaneStart = paneStart;
        this.lastPane = found;
        this.lastPaneExpiry = expiry;
      }
      // Some window containing this pane has fired already (the earliest of them ends at pane end at the soonest).
      const late = paneStart + paneMs <= this.firedUpTo;
      const before = late ? this.firedWindowsHolding(paneStart, key) : undefined;
      const acc = pane.get(key);
      try {
        pane.put(key, aggregate.add(acc === undefined ? aggregate.create() : acc, value));
      } catch (error) {
        this.ctx.deadLetter(error, value, ts);
        continue;
      }
      if (late) this.emitLateUpdates(paneStart, key, before!);
    }
  }

  /** A new pane: its first window still to fire and its expiry may come before any other's. */
  private notePane(paneStart: number, expiry: number): void {
    const { sizeMs, slideMs, offsetMs } = this.options;
    const firstStart = paneStart - sizeMs + this.paneMs;
    let start = firstStart + ((((offsetMs - firstStart) % slideMs) + slideMs) % slideMs);
    while (start + sizeMs <= this.firedUpTo) start += slideMs;
    if (start <= paneStart && start + sizeMs < this.nextDue) this.nextDue = start + sizeMs;
    if (expiry < this.nextDrop) this.nextDrop = expiry;
  }

  /** For each fired window containing the pane (still within lateness): did `key` have data in it already? */
  private firedWindowsHolding(paneStart: number, key: K): Map<number, boolean> {
    const { sizeMs, slideMs, offsetMs, allowedLatenessMs } = this.options;
    const watermark = this.ctx.currentWatermark();
    const out = new Map<number, boolean>();
    // Window starts are offset + n*slide, from the first window containing the pane to the pane's own start.
    const firstStart = paneStart - sizeMs + this.paneMs;
    let start = firstStart + ((((offsetMs - firstStart) % slideMs) + slideMs) % slideMs);
    for (; start <= paneStart; start += slideMs) {
      const end = start + sizeMs;
      if (end > this.firedUpTo || end + allowedLatenessMs <= watermark) continue;
      out.set(start, this.windowHasKey(start, key));
    }
    return out;
  }

  private windowHasKey(start: number, key: K): boolean {
    for (let pane = start; pane < start + this.options.sizeMs; pane += this.paneMs) {
      if (this.panes.get(pane)?.has(key)) return true;
    }
    return false;
  }

  private emitLateUpdates(_paneStart: number, key: K, fired: Map<number, boolean>): void {
    for (const [start, hadKey] of fired) this.emitWindow(start, key, hadKey ? 'update' : 'insert');
  }

  private emitWindow(start: number, key: K, kind: 'insert' | 'update'): void {
    const { aggregate, sizeMs } = this.options;
    let acc: Acc | undefined;
    for (let pane = start; pane < start + sizeMs; pane += this.paneMs) {
      const part = this.panes.get(pane)?.get(key);
      if (part === undefined) continue;
      acc = acc === undefined ? aggregate.merge(aggregate.create(), part) : aggregate.merge(acc, part);
    }
    if (acc === undefined) return;
    const end = start + sizeMs;
    this.ctx.emit({ kind, key, windowStart: start, windowEnd: end, value: aggregate.result(acc) }, end - 1);
  }

  onWatermark(watermark: number): number {
    const { sizeMs, slideMs, offsetMs, allowedLatenessMs } = this.options;
    if (watermark < this.nextDue && watermark < this.nextDrop) {
      if (watermark > this.firedUpTo) this.firedUpTo = watermark;
      return watermark;
    }
    // Fire every window with data whose end is in (firedUpTo, watermark], in order of end; note the next one.
    const due = new Set<number>();
    let nextDue = Number.POSITIVE_INFINITY;
    for (const paneStart of this.panes.keys()) {
      const firstStart = paneStart - sizeMs + this.paneMs;
      let start = firstStart + ((((offsetMs - firstStart) % slideMs) + slideMs) % slideMs);
      for (; start <= paneStart; start += slideMs) {
        const end = start + sizeMs;
        if (end > this.firedUpTo && end <= watermark) due.add(start);
        else if (end > watermark && end < nextDue) nextDue = end;
      }
    }
    this.nextDue = nextDue;
    const starts = [...due].sort((a, b) => a - b);
    const { aggregate } = this.options;
    // A tumbling window without lateness is one pane, dropped below once fired: its accumulators are read as they
    // are, with no merged copy (nothing can add to them after this; with lateness, a late record could).
    const onePane = sizeMs === this.paneMs && allowedLatenessMs === 0;
    for (const start of starts) {
      const end = start + sizeMs;
      if (onePane) {
        const pane = this.panes.get(start);
        if (pane === undefined) continue;
        for (const [key, acc] of pane.entries()) {
          this.ctx.emit(
            { kind: 'insert', key, windowStart: start, windowEnd: end, value: aggregate.result(acc) },
            end - 1,
          );
        }
        continue;
      }
      // Merge the window's panes in one pass over their entries (keys in order of first appearance, panes in time
      // order: the same rows, in the same order, as emitWindow per key, for one lookup per entry).
      const merged = new Map<K, Acc>();
      for (let pane = start; pane < start + sizeMs; pane += this.paneMs) {
        const map = this.panes.get(pane);
        if (map === undefined) continue;
        for (const [key, part] of map.entries()) {
          const acc = merged.get(key);
          merged.set(key, aggregate.merge(acc === undefined ? aggregate.create() : acc, part));
        }
      }
      for (const [key, acc] of merged) {
        this.ctx.emit(
          { kind: 'insert', key, windowStart: start, windowEnd: end, value: aggregate.result(acc) },
          end - 1,
        );
      }
    }
    // Every window ending at or before the watermark has now fired.
    if (watermark > this.firedUpTo) this.firedUpTo = watermark;
    // Drop panes whose every window is past its lateness.
    let nextDrop = Number.POSITIVE_INFINITY;
    for (const paneStart of this.panes.keys()) {
      const expiry = this.lastWindowStart(paneStart) + sizeMs + allowedLatenessMs;
      if (expiry > watermark) {
        if (expiry < nextDrop) nextDrop = expiry;
      } else {
        this.panes.delete(paneStart);
        if (paneStart === this.lastPaneStart) {
          this.lastPaneStart = Number.NaN;
          this.lastPane = undefined;
        }
      }
    }
    this.nextDrop = nextDrop;
    return watermark;
  }

  snapshot(): unknown {
    return { panes: [...this.panes].map(([start, pane]) => [start, pane.snapshot()]), firedUpTo: this.firedUpTo };
  }

  restore(state: unknown): void {
    const s = state as { panes: [number, MapColumns<K, Acc>][]; firedUpTo: number };
    this.panes = new Map();
    for (const [start, columns] of s.panes) {
      const pane = new StateTable<K, Acc>();
      pane.restore(columns);
      this.panes.set(start, pane);
    }
    this.firedUpTo = s.firedUpTo;
    this.lastPaneStart = Number.NaN;
    this.lastPane = undefined;
    this.nextDue = Number.NEGATIVE_INFINITY;
    this.nextDrop = Number.NEGATIVE_INFINITY;
  }

  stateSize(): number {
    let n = 0;
    for (const map of this.panes.values()) n += map.size;
    return n;
  }
}
