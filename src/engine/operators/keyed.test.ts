// Keyed operators through the harness: keyed process functions (value state with TTL, event- and processing-time
// timers, snapshot and restore) and rolling aggregates over the last N records or the last T of event time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OperatorHarness } from '../harness.ts';
import { agg } from '../index.ts';
import { type KeyedProcessFunction, KeyedProcessOperator } from './keyed-process.ts';
import { RollingOperator, type RollingResult } from './rolling.ts';
import { LATE_TAG } from './window-aggregate.ts';

describe('keyed process functions', () => {
  it('keep value state per key and fire event-time timers on the watermark', () => {
    const fn: KeyedProcessFunction<string, { k: string }, string> = {
      processElement(_value, ctx) {
        const count = ctx.state.value<number>('count');
        count.set((count.get() ?? 0) + 1);
        ctx.timers.registerEventTimeTimer(ctx.timestamp + 10);
      },
      onTimer(timestamp, ctx) {
        ctx.emit(`${ctx.key}:${ctx.state.value<number>('count').get()}@${timestamp}/${ctx.timeDomain}`);
      },
    };
    const h = new OperatorHarness(new KeyedProcessOperator((v: { k: string }) => v.k, fn));
    h.process([
      [{ k: 'a' }, 1],
      [{ k: 'b' }, 2],
      [{ k: 'a' }, 1],
    ]);
    h.watermark(10);
    assert.deepEqual(h.values(), []);
    h.watermark(11);
    assert.deepEqual(h.values(), ['a:2@11/event'], 'one timer per key and timestamp');
    h.watermark(12);
    assert.deepEqual(h.values(), ['b:1@12/event']);
  });

  it("count what they send to the 'late' output as late records, not what goes to other outputs", () => {
    const fn: KeyedProcessFunction<string, { k: string; late: boolean }, string> = {
      processElement(value, ctx) {
        if (value.late) ctx.output(LATE_TAG, value);
        else ctx.output('other', value);
      },
    };
    const h = new OperatorHarness(new KeyedProcessOperator((v: { k: string }) => v.k, fn), {
      sideOutputs: [LATE_TAG, 'other'],
    });
    h.process([
      [{ k: 'a', late: true }, 1],
      [{ k: 'b', late: false }, 2],
      [{ k: 'a', late: true }, 3],
    ]);
    assert.deepEqual(
      h.sideOutput<{ k: string }>(LATE_TAG).map((e) => e.value.k),
      ['a', 'a'],
    );
    assert.equal(h.sideOutput('other').length, 1);
    assert.equal(h.node.lateRecords, 2);
  });

  it('finish each batch: what a function collected per key goes out before the next watermark', () => {
    const seen = new Map<string, { n: number; ts: number }>();
    const fn: KeyedProcessFunction<string, { k: string }, string> = {
      processElement(_value, ctx) {
        const entry = seen.get(ctx.key) ?? { n: 0, ts: 0 };
        entry.n++;
        entry.ts = ctx.timestamp;
        seen.set(ctx.key, entry);
      },
      finishBatch(out) {
        for (const [key, { n, ts }] of seen) out.emit(`${key}:${n}`, ts);
        seen.clear();
      },
    };
    const h = new OperatorHarness(new KeyedProcessOperator((v: { k: string }) => v.k, fn));
    h.process([
      [{ k: 'a' }, 1],
      [{ k: 'b' }, 2],
      [{ k: 'a' }, 3],
    ]);
    assert.deepEqual(
      h.output().map((e) => [e.value, e.timestamp]),
      [
        ['a:2', 3],
        ['b:1', 2],
      ],
    );
    h.process([[{ k: 'b' }, 4]]);
    assert.deepEqual(h.values(), ['b:1'], 'one batch at a time');
  });

  it('expire state after its TTL and run processing-time timers on the clock', () => {
    const fn: KeyedProcessFunction<string, string, string> = {
      processElement(value, ctx) {
        const seen = ctx.state.value<string>('last', { ttl: 1000 });
        ctx.emit(`${value} after ${seen.get() ?? 'nothing'}`);
        seen.set(value);
        ctx.timers.registerProcessingTimeTimer(5000);
      },
      onTimer(_ts, ctx) {
        ctx.emit(`timer ${ctx.key} ${ctx.timeDomain}`);
      },
    };
    const h = new OperatorHarness(new KeyedProcessOperator((v: string) => v[0]!, fn));
    h.processingTime(0).process([['a1', 0]]);
    h.processingTime(500).process([['a2', 0]]);
    h.processingTime(1600).process([['a3', 0]]);
    assert.deepEqual(h.values(), ['a1 after nothing', 'a2 after a1', 'a3 after nothing']);
    h.processingTime(5000);
    assert.deepEqual(h.values(), ['timer a processing']);
  });

  it('snapshot and restore state and timers into a new instance', () => {
    const fn: KeyedProcessFunction<string, string, number> = {
      processElement(_v, ctx) {
        const list = ctx.state.list<number>('l');
        list.add(ctx.timestamp);
        ctx.timers.registerEventTimeTimer(100);
      },
      onTimer(_ts, ctx) {
        ctx.emit(
          ctx.state
            .list<number>('l')
            .get()
            .reduce((a, b) => a + b, 0),
        );
      },
    };
    const h = new OperatorHarness(new KeyedProcessOperator((v: string) => v, fn));
    h.process([
      ['x', 1],
      ['x', 2],
    ]);
    const saved = structuredClone(h.snapshot());
    const again = new KeyedProcessOperator((v: string) => v, fn);
    const h2 = new OperatorHarness(again);
    again.restore(saved);
    h2.watermark(100);
    assert.deepEqual(h2.values(), [3]);
  });
});

describe('rolling aggregates', () => {
  it('average over the last N records of each key, on every record', () => {
    const h = new OperatorHarness<number, RollingResult<string, number | null>>(
      new RollingOperator(
        (v: number) => (v % 2 ? 'odd' : 'even'),
        agg.avg((v: number) => v),
        { count: 2 },
      ),
    );
    h.process([
      [1, 0],
      [3, 1],
      [5, 2],
      [2, 3],
    ]);
    assert.deepEqual(
      h.values().map((r) => `${r.key}=${r.value}`),
      ['odd=1', 'odd=2', 'odd=4', 'even=2'],
    );
  });

  it('over the last T of event time, with non-invertible aggregates (max)', () => {
    const h = new OperatorHarness<number, RollingResult<string, number | null>>(
      new RollingOperator(
        () => 'k',
        agg.max((v: number) => v),
        { timeMs: 10 },
      ),
    );
    h.process([
      [9, 0],
      [1, 5],
      [2, 10],
      [3, 16],
    ]);
    // At t=10 the record of t=0 is out ((0, 10] excludes 0); at t=16 the one of t=5 too.
    assert.deepEqual(
      h.values().map((r) => r.value),
      [9, 9, 2, 3],
    );
  });
});
