// CUMULATE(TABLE t, DESCRIPTOR(ts), step, size): Flink's cumulating windows, [s, s + step), [s, s + 2·step), …,
// [s, s + size) for each s aligned to size, each fired when the watermark passes its end. The engine has no such
// assigner: each key's records are aggregated per step (a pane) in keyed state, and a timer at every step's end merges
// the window's panes so far into its result. As the engine's tumbling and sliding windows do, a record goes into its
// pane while any window holding it is still to fire or within the allowed lateness: the windows that fired already
// (within the lateness) are emitted again at once with it (`update`, or `insert` for a key that had no row in one yet),
// the others take it when they fire. Panes are dropped once their last window is past the lateness; a record arriving
// after that is late: it goes to the side output `late` (the source table's late.topic), or is dropped.
import { type Aggregate, type DataStream, LATE_TAG, type ValueState, type WindowResult } from '../engine/index.ts';
import type { Acc } from './aggregates.ts';
import { shuffle } from './rows.ts';
import type { Row, Value } from './types.ts';

interface Panes {
  starts: number[];
  accs: Acc[][];
}

const mod = (a: number, b: number) => ((a % b) + b) % b;

export function cumulate(
  stream: DataStream<Row>,
  keyOf: (row: Row) => Value,
  aggregate: Aggregate<Row, Acc[], Value[]>,
  window: { sizeMs: number; slideMs: number; offsetMs: number },
  /** The operator's uid: its rows move to their key's task through a repartition step of this name. */
  uid: string,
  /** The source table's allowed lateness: windows are kept this long after they fire, updated by late records. */
  latenessMs = 0,
): DataStream<WindowResult<Value, Value[]>> {
  const { sizeMs: size, slideMs: step, offsetMs: offset } = window;
  const lateness = latenessMs;
  let owner: unknown;
  let state!: ValueState<Panes>;
  const handle = (ctx: { state: { value<S>(name: string): ValueState<S> } }) => {
    if (owner !== ctx.state) {
      owner = ctx.state;
      state = ctx.state.value<Panes>('panes');
    }
    return state;
  };
  /** The key's result of the window [start, end): its panes merged, or undefined without any. */
  const merged = (p: Panes, start: number, end: number): Value[] | undefined => {
    let acc: Acc[] | undefined;
    for (let i = 0; i < p.starts.length; i++) {
      const s = p.starts[i]!;
      if (s >= start && s < end) acc = aggregate.merge(acc ?? aggregate.create(), p.accs[i]!);
    }
    return acc === undefined ? undefined : aggregate.result(acc);
  };
  /** Whether the key has a pane in [start, end). */
  const holds = (p: Panes, start: number, end: number): boolean => p.starts.some((s) => s >= start && s < end);
  return stream.keyBy(keyOf, shuffle(uid)).process<WindowResult<Value, Value[]>>({
    processElement(row, ctx) {
      const t = ctx.timestamp;
      const watermark = ctx.watermark;
      const pane = t - mod(t - offset, step);
      const start = t - mod(t - offset, size);
      const last = start + size; // the end of the last (largest) window holding the record
      // A window [start, end) fires at the watermark end − 1 (its timer) and is kept until end − 1 + lateness.
      if (last - 1 + lateness <= watermark) {
        ctx.output(LATE_TAG, row); // every window holding it is past its lateness
        return;
      }
      const panes = handle(ctx);
      let p = panes.get();
      if (!p) panes.set((p = { starts: [], accs: [] })); // updated in place from then on
      // The windows holding the record that fired already and are within the lateness: emitted again below, as an
      // update of the key's row, or its first row (`insert`) when the key had none in that window.
      let fired: { end: number; had: boolean }[] | undefined;
      for (let end = pane + step; end <= last && end - 1 <= watermark; end += step) {
        if (end - 1 + lateness > watermark) (fired ??= []).push({ end, had: holds(p, start, end) });
      }
      let i = p.starts.indexOf(pane);
      if (i < 0) {
        i = p.starts.push(pane) - 1;
        p.accs.push(aggregate.create());
        for (let end = pane + step; end <= last; end += step) {
          if (end - 1 > watermark) ctx.timers.registerEventTimeTimer(end - 1);
        }
        // With lateness the panes outlive their last window: a timer drops them (without, the last window's does).
        if (lateness > 0) ctx.timers.registerEventTimeTimer(last - 1 + lateness);
      }
      p.accs[i] = aggregate.add(p.accs[i]!, row);
      if (fired) {
        for (const { end, had } of fired) {
          const value = merged(p, start, end)!;
          const kind = had ? 'update' : 'insert';
          ctx.emit({ kind, key: ctx.key, windowStart: start, windowEnd: end, value }, end - 1);
        }
      }
    },
    onTimer(timestamp, ctx) {
      const p = handle(ctx).get();
      if (!p) return;
      const end = timestamp + 1;
      // A window's end (a lateness timer may fall between two).
      if (mod(end - offset, step) === 0) {
        const start = timestamp - mod(timestamp - offset, size);
        const value = merged(p, start, end);
        if (value !== undefined) {
          ctx.emit({ kind: 'insert', key: ctx.key, windowStart: start, windowEnd: end, value }, timestamp);
        }
      }
      // The panes whose last window is past its lateness go (each pane's size-aligned start + size − 1 + lateness).
      for (let i = p.starts.length - 1; i >= 0; i--) {
        const s = p.starts[i]!;
        if (s - mod(s - offset, size) + size - 1 + lateness <= timestamp) {
          p.starts.splice(i, 1);
          p.accs.splice(i, 1);
        }
      }
      if (p.starts.length === 0) handle(ctx).clear();
    },
  });
}
