// The joins through the harness: interval joins (also over disordered inputs, with the live state checked; each
// side's late records in its own side output, and through the stream API's leftLateData()/rightLateData()),
// window joins, and enrichment with a changelog table by processing order and by event time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OperatorHarness } from '../harness.ts';
import { collect, fromArrays, Pipeline, watermarks } from '../index.ts';
import {
  EnrichJoinOperator,
  IntervalJoinOperator,
  LATE_LEFT_TAG,
  LATE_RIGHT_TAG,
  WindowJoinOperator,
} from './joins.ts';
import { TemporalJoinOperator } from './temporal-join.ts';
import { LATE_TAG } from './window-aggregate.ts';

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

  it("interval join: each side's late records also go to that side's own output (late-left, late-right)", () => {
    type Rec = { id: string; k: string };
    const h = new OperatorHarness<Rec, string>(
      new IntervalJoinOperator(
        (a: Rec) => a.k,
        (b: Rec) => b.k,
        -10,
        10,
        (a, b) => `${a.id}+${b.id}`,
      ),
      { inputs: 2, sideOutputs: [LATE_TAG, LATE_LEFT_TAG, LATE_RIGHT_TAG] },
    );
    h.process([[{ id: 'l1', k: 'p' }, 100]], 0);
    h.watermark(100);
    h.process([[{ id: 'r-late', k: 'p' }, 95]], 1); // behind the watermark: not joined with l1
    h.process([[{ id: 'r1', k: 'p' }, 105]], 1);
    h.process([[{ id: 'l-late', k: 'p' }, 99]], 0);
    h.process([[{ id: 'l-edge', k: 'p' }, 100]], 0); // at the watermark: on time
    assert.deepEqual(h.values(), ['l1+r1', 'l-edge+r1']);
    const ids = (tag: string) => h.sideOutput<Rec>(tag).map((e) => `${e.value.id}@${e.timestamp}`);
    assert.deepEqual(ids(LATE_LEFT_TAG), ['l-late@99']);
    assert.deepEqual(ids(LATE_RIGHT_TAG), ['r-late@95']);
    assert.deepEqual(ids(LATE_TAG), ['r-late@95', 'l-late@99'], 'lateData() still has both, in arrival order');
    assert.equal(h.node.lateRecords, 2, 'each late record counted once');
  });

  it('intervalJoin(…).leftLateData() / rightLateData() in a pipeline: typed per side, lateData() both', async () => {
    type Click = { side: 'click'; ad: string; click: number };
    type View = { side: 'view'; ad: string; view: number };
    const events: (Click | View)[] = [
      { side: 'view', ad: 'a', view: 1000 },
      { side: 'click', ad: 'a', click: 1500 },
      { side: 'view', ad: 'b', view: 5000 },
      { side: 'click', ad: 'b', click: 5200 },
      { side: 'view', ad: 'a', view: 900 }, // behind the watermark (5200): late on the right
      { side: 'click', ad: 'a', click: 4000 }, // late on the left
      { side: 'click', ad: 'b', click: 5300 },
    ];
    const p = new Pipeline({ bounded: true, onError: 'fail' });
    const all = p
      .source(fromArrays([events], { batchSize: 1 }))
      .withTimestamps((e) => (e.side === 'click' ? e.click : e.view), watermarks.boundedOutOfOrderness(0));
    const clicks = all.filter((e): e is Click => e.side === 'click').keyBy((c) => c.ad);
    const views = all.filter((e): e is View => e.side === 'view').keyBy((v) => v.ad);
    const joined = clicks.intervalJoin(views, { lower: '-10s', upper: 0 }, (c, v) => `${c.ad}:${v.view}->${c.click}`);
    const pairs = collect<string>();
    const lefts = collect<number>();
    const rights = collect<number>();
    const both = collect<string>();
    joined.sinkTo(pairs);
    // Typed per side: a click's `click`, a view's `view` (no narrowing needed).
    joined
      .leftLateData()
      .map((c) => c.click)
      .sinkTo(lefts);
    joined
      .rightLateData()
      .map((v) => v.view)
      .sinkTo(rights);
    joined
      .lateData()
      .map((e) => e.side)
      .sinkTo(both);
    await p.run();
    assert.deepEqual(pairs.values, ['a:1000->1500', 'b:5000->5200', 'b:5000->5300']);
    assert.deepEqual(lefts.values, [4000]);
    assert.deepEqual(rights.values, [900]);
    assert.deepEqual(both.values, ['view', 'click']);
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
