// CUMULATE(TABLE t, DESCRIPTOR(ts), step, size): Flink's cumulating windows, [s, s + step), [s, s + 2·step), …,
// [s, s + size) for each s aligned to size, each fired when the watermark passes its end. The engine has no such
// assigner: each key's records are aggregated per step (a pane) in keyed state, and a timer at every step's end merges
// the window's panes so far into its result; the panes are dropped with the window's last step. A record whose first
// window has fired is late and dropped.
import type { Aggregate, DataStream, ValueState, WindowResult } from '../engine/index.ts';
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
): DataStream<WindowResult<Value, Value[]>> {
  const { sizeMs: size, slideMs: step, offsetMs: offset } = window;
  let owner: unknown;
  let state!: ValueState<Panes>;
  const handle = (ctx: { state: { value<S>(name: string): ValueState<S> } }) => {
    if (owner !== ctx.state) {
      owner = ctx.state;
      state = ctx.state.value<Panes>('panes');
    }
    return state;
  };
  return stream.keyBy(keyOf, shuffle(uid)).process<WindowResult<Value, Value[]>>({
    processElement(row, ctx) {
      const t = ctx.timestamp;
      const pane = t - mod(t - offset, step);
      if (pane + step - 1 <= ctx.watermark) return; // its first window has fired
      const panes = handle(ctx);
      let p = panes.get();
      if (!p) panes.set((p = { starts: [], accs: [] })); // updated in place from then on
      let i = p.starts.indexOf(pane);
      if (i < 0) {
        i = p.starts.push(pane) - 1;
        p.accs.push(aggregate.create());
        const start = t - mod(t - offset, size);
        for (let end = pane + step; end <= start + size; end += step) ctx.timers.registerEventTimeTimer(end - 1);
      }
      p.accs[i] = aggregate.add(p.accs[i]!, row);
    },
    onTimer(timestamp, ctx) {
      const p = handle(ctx).get();
      if (!p) return;
      const end = timestamp + 1;
      const start = timestamp - mod(timestamp - offset, size);
      let acc: Acc[] | undefined;
      for (let i = 0; i < p.starts.length; i++) {
        const s = p.starts[i]!;
        if (s >= start && s < end) acc = aggregate.merge(acc ?? aggregate.create(), p.accs[i]!);
      }
      if (acc) {
        const result = {
          kind: 'insert',
          key: ctx.key,
          windowStart: start,
          windowEnd: end,
          value: aggregate.result(acc),
        };
        ctx.emit(result as WindowResult<Value, Value[]>, timestamp);
      }
      if (end === start + size) {
        // The window's last step: its panes go.
        for (let i = p.starts.length - 1; i >= 0; i--) {
          if (p.starts[i]! >= start && p.starts[i]! < end) {
            p.starts.splice(i, 1);
            p.accs.splice(i, 1);
          }
        }
        if (p.starts.length === 0) handle(ctx).clear();
      }
    },
  });
}
