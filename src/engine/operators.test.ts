// The other operators through the harness: watermarks per channel with idleness, keyed state with TTL and
// timers, rolling aggregates, the three joins, and dead letters for failing user functions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OperatorHarness } from './harness.ts';
import { agg } from './index.ts';
import { EnrichJoinOperator, IntervalJoinOperator, WindowJoinOperator } from './operators/joins.ts';
import { type KeyedProcessFunction, KeyedProcessOperator } from './operators/keyed-process.ts';
import { RollingOperator, type RollingResult } from './operators/rolling.ts';
import { MapOperator, UnionOperator } from './operators/stateless.ts';
import { TemporalJoinOperator } from './operators/temporal-join.ts';
import { TimestampAssigner } from './operators/timestamps.ts';
import { LATE_TAG } from './operators/window-aggregate.ts';

describe('timestamps and watermarks', () => {
  it('tracks the maximum per channel and emits the minimum over channels minus the bound', () => {
    const h = new OperatorHarness(new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 5 }));
    h.process([], 0, 0).process([], 0, 1); // two partitions announced
    h.process([[{ ts: 100 }, 0]], 0, 0);
    assert.deepEqual(h.emittedWatermarks(), [], 'partition 1 has not spoken: hold');
    h.process([[{ ts: 50 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [45]);
    h.process(
      [
        [{ ts: 70 }, 0],
        [{ ts: 60 }, 0],
      ],
      0,
      1,
    );
    assert.deepEqual(h.emittedWatermarks(), [45, 65]);
    assert.deepEqual(
      h.output().map((e) => e.timestamp),
      [100, 50, 70, 60],
      'records carry their event time',
    );
  });

  it('ignores an idle channel after the idle timeout, and counts it again when it speaks', () => {
    const h = new OperatorHarness(
      new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 0, idleTimeoutMs: 1000 }),
    );
    h.processingTime(0);
    h.process([[{ ts: 10 }, 0]], 0, 0).process([[{ ts: 500 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [10]);
    h.processingTime(500).process([[{ ts: 600 }, 0]], 0, 1);
    h.processingTime(1200); // channel 0 silent for 1.2 s
    assert.deepEqual(h.emittedWatermarks(), [10, 600]);
    h.process([[{ ts: 20 }, 0]], 0, 0); // back: it holds the watermark again (never goes backwards)
    h.process([[{ ts: 700 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [10, 600]);
  });

  it('marks the stream idle once every channel is, and active again when one speaks', () => {
    const h = new OperatorHarness(
      new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 0, idleTimeoutMs: 1000 }),
    );
    h.processingTime(0);
    h.process([], 0, 0).process([[{ ts: 10 }, 0]], 0, 1);
    h.processingTime(999);
    assert.equal(h.outputIdle(), false);
    h.processingTime(1000);
    assert.equal(h.outputIdle(), true, 'both channels silent for the idle timeout');
    h.process([[{ ts: 20 }, 0]], 0, 0);
    assert.equal(h.outputIdle(), false);
    assert.deepEqual(h.emittedWatermarks(), [20]);
  });

  it('leaves a channel its source reported idle out of the minimum until its records wake it', () => {
    const h = new OperatorHarness(new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 5 }));
    const assigner = h.node.operator as TimestampAssigner<{ ts: number }>;
    h.processingTime(1000);
    h.process([], 0, 0).process([], 0, 1); // two partitions announced
    h.process([[{ ts: 100 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [], 'partition 0 has not spoken: hold');
    h.processingTime(60_000);
    assert.deepEqual(h.emittedWatermarks(), [], 'no idleTimeout of its own: silence alone does not make it idle');
    h.processingTime(61_000).channelIdle(0);
    assert.deepEqual(h.emittedWatermarks(), [95], 'its source says it is idle: left out');
    assert.deepEqual(assigner.channelTimes().get(0), { watermark: Number.NEGATIVE_INFINITY, idleSince: 61_000 });
    assert.equal(h.outputIdle(), false, 'partition 1 is still active');
    h.process([[{ ts: 200 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [95, 195]);
    // Woken by its records, which go on before the watermark counts it again: on time, and never backwards.
    h.output();
    h.process([[{ ts: 150 }, 0]], 0, 0);
    assert.deepEqual(h.values(), [{ ts: 150 }]);
    assert.deepEqual(h.emittedWatermarks(), [95, 195], 'partition 0 holds time at 145 now, not backwards');
    assert.deepEqual(assigner.channelTimes().get(0), { watermark: 145, idleSince: null });
    h.process([[{ ts: 300 }, 0]], 0, 1).process([[{ ts: 260 }, 0]], 0, 0);
    assert.deepEqual(h.emittedWatermarks(), [95, 195, 255]);
    // An explicit wake-up without records counts the channel again at the time it had reached.
    h.channelIdle(0).process([[{ ts: 400 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [95, 195, 255, 295, 395]);
    h.channelIdle(0, false).process([[{ ts: 500 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [95, 195, 255, 295, 395], 'partition 0 holds at 255 again');
  });

  it('marks the stream idle once its source reports every channel idle, and active with the next record', () => {
    const h = new OperatorHarness(new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 0 }));
    h.process([], 0, 0)
      .process([], 0, 1)
      .process([[{ ts: 10 }, 0]], 0, 1);
    h.channelIdle(0);
    assert.equal(h.outputIdle(), false);
    assert.deepEqual(h.emittedWatermarks(), [10]);
    h.channelIdle(1);
    assert.equal(h.outputIdle(), true, 'every channel idle: so is the stream');
    h.channelIdle(1); // said twice: nothing changes
    h.process([[{ ts: 20 }, 0]], 0, 0);
    assert.equal(h.outputIdle(), false);
    assert.deepEqual(h.emittedWatermarks(), [10, 20]);
  });

  it("combines the source's idleness with the strategy's idleTimeout: either leaves a channel out", () => {
    const h = new OperatorHarness(
      new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 0, idleTimeoutMs: 1000 }),
    );
    const assigner = h.node.operator as TimestampAssigner<{ ts: number }>;
    h.processingTime(0);
    h.process([[{ ts: 10 }, 0]], 0, 0)
      .process([[{ ts: 20 }, 0]], 0, 1)
      .process([[{ ts: 30 }, 0]], 0, 2);
    assert.deepEqual(h.emittedWatermarks(), [10]);
    h.channelIdle(0); // by its source
    assert.deepEqual(h.emittedWatermarks(), [10, 20]);
    h.processingTime(600).process([[{ ts: 40 }, 0]], 0, 2);
    h.processingTime(1000); // channel 1 silent for its idleTimeout
    assert.deepEqual(h.emittedWatermarks(), [10, 20, 40]);
    assert.deepEqual(
      [...assigner.channelTimes()].map(([c, t]) => [c, t.idleSince]),
      [
        [0, 0],
        [1, 1000],
        [2, null],
      ],
    );
    h.processingTime(1600);
    assert.equal(h.outputIdle(), true, 'channel 2 silent too: the stream is idle');
  });

  it('starts every channel active after a restore: idleness is not state', () => {
    const strategy = { maxOutOfOrdernessMs: 0 };
    const h = new OperatorHarness(new TimestampAssigner((v: { ts: number }) => v.ts, strategy));
    h.process([[{ ts: 10 }, 0]], 0, 0)
      .process([[{ ts: 50 }, 0]], 0, 1)
      .channelIdle(0);
    assert.deepEqual(h.emittedWatermarks(), [10, 50]);
    const state = structuredClone(h.snapshot());
    assert.doesNotMatch(JSON.stringify(state), /idle/i);
    const assigner = new TimestampAssigner((v: { ts: number }) => v.ts, strategy);
    const restored = new OperatorHarness(assigner);
    assigner.restore(state);
    assert.deepEqual(
      [...assigner.channelTimes()].map(([c, t]) => [c, t.watermark, t.idleSince]),
      [
        [0, 10, null],
        [1, 50, null],
      ],
    );
    restored.process([[{ ts: 70 }, 0]], 0, 1);
    assert.deepEqual(restored.emittedWatermarks(), [], 'partition 0 holds time at 10 again until it is idle again');
    restored.channelIdle(0);
    assert.deepEqual(restored.emittedWatermarks(), [70]);
  });

  it('leaves idle inputs out of the minimum downstream, and holds when all are idle', () => {
    const h = new OperatorHarness(new UnionOperator<number>(), { inputs: 2 });
    h.watermark(100, 0);
    assert.deepEqual(h.emittedWatermarks(), [], 'input 1 holds time back');
    h.idle(true, 1);
    assert.deepEqual(h.emittedWatermarks(), [100]);
    assert.equal(h.outputIdle(), false);
    h.idle(true, 0);
    assert.equal(h.outputIdle(), true, 'all inputs idle: so is the union');
    h.watermark(150, 1).idle(false, 1);
    assert.equal(h.outputIdle(), false);
    assert.deepEqual(h.emittedWatermarks(), [100, 150], 'input 0 is still idle');
    h.idle(false, 0);
    h.watermark(300, 1);
    assert.deepEqual(h.emittedWatermarks(), [100, 150], 'input 0 is back at 100: never backwards, hold');
    h.watermark(200, 0);
    assert.deepEqual(h.emittedWatermarks(), [100, 150, 200]);
  });

  it('sends records with a bad timestamp to the dead letters', () => {
    const h = new OperatorHarness(new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 0 }));
    h.process([
      [{ ts: Number.NaN }, 0],
      [{ ts: 5 }, 0],
    ]);
    assert.equal(h.output().length, 1);
    assert.match(h.deadLetters[0]!.error, /not a finite number/);
  });
});

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

describe('joins', () => {
  it('interval join pairs records within [a.ts + lower, a.ts + upper] and forgets what can no longer match', () => {
    const h = new OperatorHarness<{ id: string; k: string }, string>(
      new IntervalJoinOperator(
        (a: { id: string; k: string }) => a.k,
        (b: { id: string; k: string }) => b.k,
        -10,
        0,
        (a, b) => `${a.id}+${b.id}`,
      ),
      { inputs: 2, sideOutputs: [LATE_TAG] },
    );
    h.process([[{ id: 'view1', k: 'p' }, 100]], 1);
    h.process([[{ id: 'view2', k: 'p' }, 85]], 1);
    h.process([[{ id: 'click1', k: 'p' }, 105]], 0); // views in [95, 105]: view1
    h.process([[{ id: 'click2', k: 'q' }, 105]], 0);
    assert.deepEqual(h.values(), ['click1+view1']);
    h.watermark(120);
    assert.equal(h.stateSize(), 0, 'nothing left that a future record could match');
    h.process([[{ id: 'late', k: 'p' }, 110]], 0);
    assert.equal(h.node.lateRecords, 1);
    assert.deepEqual(
      h.sideOutput<{ id: string }>(LATE_TAG).map((e) => e.value.id),
      ['late'],
    );
  });

  it('interval join over disordered inputs: every pair of accepted records, and exactly the live state kept', () => {
    // Its buffers are kept in time order with a heap of keys by oldest record, so that a watermark prunes only
    // what expired; this drives both through disorder, uneven inputs and a snapshot/restore against brute force.
    type Rec = { side: 'l' | 'r'; id: number; k: number };
    const lower = -30;
    const upper = 10;
    const make = () =>
      new IntervalJoinOperator(
        (a: Rec) => a.k,
        (b: Rec) => b.k,
        lower,
        upper,
        (a, b) => `${a.id}+${b.id}`,
      );
    let h = new OperatorHarness<Rec, string>(make(), { inputs: 2, sideOutputs: [LATE_TAG] });
    let seed = 7;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 16) % n;
    };
    const accepted: { rec: Rec; ts: number }[] = [];
    const got: string[] = [];
    let late = 0;
    let watermark = Number.NEGATIVE_INFINITY;
    const maxTs = [0, 0];
    for (let round = 0; round < 400; round++) {
      const input = rand(3) === 0 ? 1 : 0; // the left input runs ahead, as a faster source would
      const batch: [Rec, number][] = [];
      for (let j = rand(4); j >= 0; j--) {
        maxTs[input]! += rand(4);
        const ts = maxTs[input]! - rand(25); // up to 24 ms out of order
        const rec: Rec = { side: input === 0 ? 'l' : 'r', id: accepted.length * 10 + j, k: rand(3) };
        batch.push([rec, ts]);
        if (ts >= watermark) accepted.push({ rec, ts });
        else late++;
      }
      h.process(batch, input);
      if (round % 5 === 4) {
        watermark = Math.max(watermark, Math.min(maxTs[0]!, maxTs[1]!) - 15); // some records fall behind it
        h.watermark(watermark);
        const live = accepted.filter(({ rec, ts }) =>
          rec.side === 'l' ? ts + upper >= watermark : ts - lower >= watermark,
        );
        assert.equal(h.stateSize(), live.length, `state at watermark ${watermark}`);
      }
      if (round === 200) {
        got.push(...h.values());
        const saved = structuredClone(h.snapshot());
        const again = make();
        h = new OperatorHarness<Rec, string>(again, { inputs: 2, sideOutputs: [LATE_TAG] });
        again.restore(saved);
        h.watermark(watermark);
      }
    }
    got.push(...h.values());
    const expected: string[] = [];
    for (const a of accepted) {
      if (a.rec.side !== 'l') continue;
      for (const b of accepted) {
        if (b.rec.side === 'r' && b.rec.k === a.rec.k && b.ts >= a.ts + lower && b.ts <= a.ts + upper)
          expected.push(`${a.rec.id}+${b.rec.id}`);
      }
    }
    assert.ok(expected.length > 100 && late > 10, `a meaningful run: ${expected.length} pairs, ${late} late`);
    assert.deepEqual(got.sort(), expected.sort());
  });

  it('window join pairs both sides of a key within a window when it fires', () => {
    const h = new OperatorHarness<{ v: string }, string>(
      new WindowJoinOperator(
        () => 'k',
        () => 'k',
        10,
        10,
        (l: { v: string }, r: { v: string }, w) => `${l.v}${r.v}@${w.start}`,
      ),
      { inputs: 2 },
    );
    h.process(
      [
        [{ v: 'a' }, 1],
        [{ v: 'b' }, 12],
      ],
      0,
    ).process(
      [
        [{ v: 'x' }, 5],
        [{ v: 'y' }, 9],
      ],
      1,
    );
    h.watermark(10);
    assert.deepEqual(h.values(), ['ax@0', 'ay@0']);
    h.watermark(20);
    assert.deepEqual(h.values(), [], 'b had no partner in [10,20)');
  });

  it('enrichment joins each record with the latest table row of its key (left join, deletes)', () => {
    const h = new OperatorHarness<{ user: string; name?: string | null }, string>(
      new EnrichJoinOperator(
        (c: { user: string }) => c.user,
        (u: { user: string; name?: string | null }) => u.user,
        (c, u) => `${c.user}:${u?.name ?? '?'}`,
        (u) => u.name === null,
      ),
      { inputs: 2 },
    );
    h.process([[{ user: 'u1', name: 'Ann' }, 0]], 1);
    h.process(
      [
        [{ user: 'u1' }, 1],
        [{ user: 'u2' }, 1],
      ],
      0,
    );
    h.process([[{ user: 'u1', name: 'Anna' }, 2]], 1);
    h.process([[{ user: 'u1' }, 3]], 0);
    h.process([[{ user: 'u1', name: null }, 4]], 1);
    h.process([[{ user: 'u1' }, 5]], 0);
    assert.deepEqual(h.values(), ['u1:Ann', 'u2:?', 'u1:Anna', 'u1:?']);
  });

  it('event-time enrichment joins the row valid at each record time, whatever the arrival order', () => {
    type Row = { user: string; name: string | null };
    const make = () =>
      new OperatorHarness<{ user: string } | Row, string>(
        new TemporalJoinOperator(
          (c: { user: string }) => c.user,
          (u: Row) => u.user,
          (c, u) => `${c.user}@${u?.name ?? '?'}`,
          (u) => u.name === null,
        ),
        { inputs: 2, sideOutputs: [LATE_TAG] },
      );
    const clicks: [{ user: string }, number][] = [
      [{ user: 'u1' }, 5],
      [{ user: 'u1' }, 10],
      [{ user: 'u1' }, 25],
      [{ user: 'u1' }, 40],
      [{ user: 'u2' }, 12],
    ];
    const rows: [Row, number][] = [
      [{ user: 'u1', name: 'Ann' }, 10],
      [{ user: 'u1', name: 'Anna' }, 20],
      [{ user: 'u1', name: null }, 30],
    ];
    const expected = ['u1@?', 'u1@Ann', 'u2@?', 'u1@Anna', 'u1@?'];
    // The table first, or the stream first: the same answer.
    const a = make();
    a.process(rows, 1).process(clicks, 0).watermark(Number.POSITIVE_INFINITY);
    assert.deepEqual(a.values(), expected);
    const b = make();
    b.process(clicks, 0).watermark(5);
    assert.deepEqual(b.values(), [], 'the table may still change at 5');
    b.process(rows, 1).watermark(Number.POSITIVE_INFINITY);
    assert.deepEqual(b.values(), expected);
    assert.equal(b.stateSize(), 0, 'the deleted row is gone, nothing waits');
  });

  it('event-time enrichment keeps only the rows a future record can see, and sends records behind the watermark aside', () => {
    type Row = { user: string; name: string };
    const h = new OperatorHarness<{ user: string } | Row, string>(
      new TemporalJoinOperator(
        (c: { user: string }) => c.user,
        (u: Row) => u.user,
        (c, u) => `${c.user}@${u?.name ?? '?'}`,
      ),
      { inputs: 2, sideOutputs: [LATE_TAG] },
    );
    h.process(
      [
        [{ user: 'u1', name: 'v1' }, 10],
        [{ user: 'u1', name: 'v2' }, 20],
        [{ user: 'u1', name: 'v3' }, 30],
      ],
      1,
    );
    h.watermark(25);
    assert.equal(h.stateSize(), 2, 'v2 (valid at 25) and v3');
    h.process([[{ user: 'u1' }, 24]], 0);
    assert.deepEqual(
      h.sideOutput<{ user: string }>(LATE_TAG).map((e) => e.timestamp),
      [24],
    );
    h.process([[{ user: 'u1' }, 26]], 0).watermark(40);
    assert.deepEqual(h.values(), ['u1@v2']);
  });
});

describe('dead letters', () => {
  it('a throwing user function loses only its record', () => {
    const h = new OperatorHarness(
      new MapOperator((v: number) => {
        if (v === 2) throw new Error('two is bad');
        return v * 10;
      }),
    );
    h.process([
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
    assert.deepEqual(h.values(), [10, 30]);
    assert.deepEqual(
      h.deadLetters.map((d) => [d.error, d.original]),
      [['two is bad', '2']],
    );
  });
});
