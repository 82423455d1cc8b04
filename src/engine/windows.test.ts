// Window operators through the operator harness: firing on the watermark, allowed lateness as an insert/update
// changelog, the late side output, sliding panes, and session merging (also of sessions that already fired).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OperatorHarness } from './harness.ts';
import { agg } from './index.ts';
import { SessionWindowOperator } from './operators/session-window.ts';
import { LATE_TAG, PaneWindowOperator } from './operators/window-aggregate.ts';
import type { WindowResult } from './windows.ts';

interface Ev {
  k: string;
  v: number;
}
const ev = (k: string, v: number): Ev => ({ k, v });

function tumbling(sizeMs: number, latenessMs = 0) {
  return new OperatorHarness<Ev, WindowResult<string, number>>(
    new PaneWindowOperator({
      key: (e: Ev) => e.k,
      sizeMs,
      slideMs: sizeMs,
      offsetMs: 0,
      allowedLatenessMs: latenessMs,
      aggregate: agg.sum((e: Ev) => e.v),
    }),
    { sideOutputs: [LATE_TAG] },
  );
}

const rows = (h: OperatorHarness<Ev, WindowResult<string, number>>) =>
  h.values().map((r) => `${r.kind} ${r.key} [${r.windowStart},${r.windowEnd}) ${r.value}`);

describe('tumbling windows', () => {
  it('fire once the watermark reaches the window end, per key, with the window bounds', () => {
    const h = tumbling(10);
    h.process([
      [ev('a', 1), 1],
      [ev('b', 5), 3],
      [ev('a', 2), 9],
      [ev('a', 4), 10],
    ]);
    h.watermark(9);
    assert.deepEqual(rows(h), []);
    h.watermark(10);
    assert.deepEqual(rows(h), ['insert a [0,10) 3', 'insert b [0,10) 5']);
    assert.equal(h.stateSize(), 1, 'only the open window [10,20) is kept');
    h.watermark(Number.POSITIVE_INFINITY);
    assert.deepEqual(rows(h), ['insert a [10,20) 4']);
    assert.equal(h.stateSize(), 0);
  });

  it('emits results with the window end - 1 as timestamp', () => {
    const h = tumbling(10);
    h.process([[ev('a', 1), 4]]).watermark(10);
    assert.deepEqual(
      h.output().map((e) => e.timestamp),
      [9],
    );
  });

  it('with allowed lateness, updates a fired window for each late record, then sends later ones aside', () => {
    const h = tumbling(10, 5);
    h.process([[ev('a', 1), 1]]).watermark(10);
    assert.deepEqual(rows(h), ['insert a [0,10) 1']);
    h.process([[ev('a', 10), 2]]); // late but within lateness: an update
    h.process([[ev('b', 7), 3]]); // late, first record of b in that window: an insert
    assert.deepEqual(rows(h), ['update a [0,10) 11', 'insert b [0,10) 7']);
    h.watermark(15); // end + lateness: the window is gone
    h.process([[ev('a', 100), 4]]);
    assert.deepEqual(rows(h), []);
    assert.deepEqual(
      h.sideOutput<Ev>(LATE_TAG).map((e) => e.value.v),
      [100],
    );
    assert.equal(h.node.lateRecords, 1);
  });

  it('without lateness, a record for a fired window goes to the late output', () => {
    const h = tumbling(10);
    h.process([[ev('a', 1), 1]]).watermark(12);
    h.process([
      [ev('a', 2), 9],
      [ev('a', 3), 12],
    ]);
    h.watermark(Number.POSITIVE_INFINITY);
    assert.deepEqual(rows(h), ['insert a [0,10) 1', 'insert a [10,20) 3']);
    assert.deepEqual(
      h.sideOutput<Ev>(LATE_TAG).map((e) => e.value.v),
      [2],
    );
  });
});

describe('sliding windows', () => {
  it('put each record in size/slide windows and fire them in order of end', () => {
    const h = new OperatorHarness<Ev, WindowResult<string, number>>(
      new PaneWindowOperator({
        key: (e: Ev) => e.k,
        sizeMs: 30,
        slideMs: 10,
        offsetMs: 0,
        allowedLatenessMs: 0,
        aggregate: agg.count(),
      }),
    );
    h.process([
      [ev('a', 0), 5],
      [ev('a', 0), 15],
      [ev('a', 0), 25],
    ]);
    h.watermark(Number.POSITIVE_INFINITY);
    assert.deepEqual(rows(h), [
      'insert a [-20,10) 1',
      'insert a [-10,20) 2',
      'insert a [0,30) 3',
      'insert a [10,40) 2',
      'insert a [20,50) 1',
    ]);
  });

  it('handles a slide that does not divide the size (panes of the gcd)', () => {
    const h = new OperatorHarness<Ev, WindowResult<string, number>>(
      new PaneWindowOperator({
        key: (e: Ev) => e.k,
        sizeMs: 25,
        slideMs: 10,
        offsetMs: 0,
        allowedLatenessMs: 0,
        aggregate: agg.sum((e: Ev) => e.v),
      }),
    );
    h.process([
      [ev('a', 1), 0],
      [ev('a', 2), 12],
      [ev('a', 4), 24],
    ]);
    h.watermark(Number.POSITIVE_INFINITY);
    // Windows [s, s+25) with s = -20, -10, 0, 10, 20.
    assert.deepEqual(rows(h), [
      'insert a [-20,5) 1',
      'insert a [-10,15) 3',
      'insert a [0,25) 7',
      'insert a [10,35) 6',
      'insert a [20,45) 4',
    ]);
  });
});

describe('window firing as the watermark creeps', () => {
  it('fires the same rows, each as soon as its end passes, whether the watermark moves by 1 ms or all at once', () => {
    const make = () =>
      new OperatorHarness<Ev, WindowResult<string, number>>(
        new PaneWindowOperator({
          key: (e: Ev) => e.k,
          sizeMs: 30,
          slideMs: 10,
          offsetMs: 0,
          allowedLatenessMs: 15,
          aggregate: agg.sum((e: Ev) => e.v),
        }),
        { sideOutputs: [LATE_TAG] },
      );
    const input: [Ev, number][] = [
      [ev('a', 1), 3],
      [ev('b', 2), 14],
      [ev('a', 4), 47],
      [ev('b', 8), 95],
    ];
    const creeping = make();
    const fired: string[] = [];
    let previous = Number.NEGATIVE_INFINITY;
    for (const [e, ts] of input) {
      creeping.process([[e, ts]]);
      for (let w = Math.max(previous + 1, ts - 20); w <= ts; w++) {
        creeping.watermark(w);
        for (const r of rows(creeping)) {
          fired.push(r);
          const end = Number(/,(-?\d+)\)/.exec(r)![1]);
          assert.ok(end <= w && end > previous, `${r} fires at the first watermark reaching its end (${w})`);
        }
        previous = w;
      }
    }
    // A late record (within lateness) into a pane that never had data, two of whose three windows have fired
    // (one of them already past its lateness).
    creeping.process([[ev('c', 16), 77]]);
    creeping.watermark(Number.POSITIVE_INFINITY);
    fired.push(...rows(creeping));
    const all = make();
    for (const [e, ts] of input) all.process([[e, ts]]);
    all
      .watermark(95)
      .process([[ev('c', 16), 77]])
      .watermark(Number.POSITIVE_INFINITY);
    const expected = rows(all);
    assert.deepEqual(fired, expected);
    assert.deepEqual(
      expected.filter((r) => r.includes(' c ')),
      ['insert c [60,90) 16', 'insert c [70,100) 16'],
    );
    assert.equal(creeping.stateSize(), 0);
  });
});

describe('sliding windows past their lateness', () => {
  it('send a record to the late output once the last window holding it has fired, even when slide does not divide size', () => {
    const h = new OperatorHarness<Ev, WindowResult<string, number>>(
      new PaneWindowOperator({
        key: (e: Ev) => e.k,
        sizeMs: 10,
        slideMs: 4,
        offsetMs: 0,
        allowedLatenessMs: 0,
        aggregate: agg.sum((e: Ev) => e.v),
      }),
      { sideOutputs: [LATE_TAG] },
    );
    h.process([[ev('a', 1), 1]]).watermark(15);
    assert.deepEqual(rows(h), ['insert a [-8,2) 1', 'insert a [-4,6) 1', 'insert a [0,10) 1']);
    // ts 6 is in [0,10) and [4,14), both fired (panes of 2 ms: the pane [6,8) starts after the last window).
    h.process([[ev('a', 2), 6]]);
    assert.deepEqual(rows(h), []);
    assert.deepEqual(
      h.sideOutput<Ev>(LATE_TAG).map((e) => e.timestamp),
      [6],
    );
    assert.equal(h.stateSize(), 0);
  });

  it('honour the window offset', () => {
    const h = new OperatorHarness<Ev, WindowResult<string, number>>(
      new PaneWindowOperator({
        key: (e: Ev) => e.k,
        sizeMs: 10,
        slideMs: 10,
        offsetMs: 3,
        allowedLatenessMs: 0,
        aggregate: agg.sum((e: Ev) => e.v),
      }),
      { sideOutputs: [LATE_TAG] },
    );
    h.process([
      [ev('a', 1), 2],
      [ev('a', 2), 3],
      [ev('a', 4), 12],
    ]);
    h.watermark(13);
    assert.deepEqual(rows(h), ['insert a [-7,3) 1', 'insert a [3,13) 6']);
    h.process([[ev('a', 8), 12]]);
    assert.deepEqual(
      h.sideOutput<Ev>(LATE_TAG).map((e) => e.value.v),
      [8],
    );
  });
});

describe('session windows', () => {
  function sessions(gapMs: number, latenessMs = 0) {
    return new OperatorHarness<Ev, WindowResult<string, number>>(
      new SessionWindowOperator({
        key: (e: Ev) => e.k,
        gapMs,
        allowedLatenessMs: latenessMs,
        aggregate: agg.sum((e: Ev) => e.v),
      }),
      { sideOutputs: [LATE_TAG] },
    );
  }

  it('close a session after a gap of inactivity, per key', () => {
    const h = sessions(10);
    h.process([
      [ev('a', 1), 0],
      [ev('a', 2), 5],
      [ev('b', 7), 6],
      [ev('a', 4), 30],
    ]);
    h.watermark(15);
    assert.deepEqual(rows(h), ['insert a [0,15) 3']);
    h.watermark(Number.POSITIVE_INFINITY);
    assert.deepEqual(rows(h), ['insert b [6,16) 7', 'insert a [30,40) 4']);
  });

  it('grow a session in place with in-order records, firing it once at its final end, and clean it up', () => {
    const h = sessions(10, 5);
    h.process([[ev('a', 1), 0]]);
    h.watermark(9); // the session's first end was 10: nothing is due yet
    h.process([
      [ev('a', 2), 8],
      [ev('a', 3), 17],
    ]);
    h.watermark(20); // its queued end (10) comes up: the session now ends at 27, queued again
    assert.deepEqual(rows(h), []);
    h.process([[ev('a', 4), 26]]);
    h.watermark(36);
    assert.deepEqual(rows(h), ['insert a [0,36) 10']);
    assert.equal(h.stateSize(), 1); // kept for its lateness
    h.watermark(41);
    assert.equal(h.stateSize(), 0);
  });

  it('merge two fired sessions when a late record bridges them: one update, one delete', () => {
    const h = sessions(10, 100);
    h.process([
      [ev('a', 1), 0],
      [ev('a', 2), 15],
    ]);
    h.watermark(30);
    assert.deepEqual(rows(h), ['insert a [0,10) 1', 'insert a [15,25) 2']);
    h.process([[ev('a', 4), 8]]); // [8,18) overlaps both: [0,25)
    assert.deepEqual(rows(h), ['delete a [15,15) 0', 'update a [0,25) 7']);
    assert.equal(h.stateSize(), 1);
  });

  it('merge sessions before they fire without any delete', () => {
    const h = sessions(10);
    h.process([
      [ev('a', 1), 0],
      [ev('a', 2), 15],
      [ev('a', 4), 8],
    ]);
    h.watermark(Number.POSITIVE_INFINITY);
    assert.deepEqual(rows(h), ['insert a [0,25) 7']);
  });

  it('send a record whose session would end beyond the lateness to the late output', () => {
    const h = sessions(10, 5);
    h.process([[ev('a', 1), 0]]).watermark(100);
    h.process([[ev('a', 2), 50]]);
    assert.deepEqual(rows(h), ['insert a [0,10) 1']);
    assert.deepEqual(
      h.sideOutput<Ev>(LATE_TAG).map((e) => e.value.v),
      [2],
    );
  });
});
