// Pruning a join with a window maximum of the same table: what may still match is kept (the maximum so far, ties, a
// record at a window's edge that may equal the window before's maximum), what cannot is dropped; and when the planner
// prunes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planScript } from './planner.ts';
import { extremumPrune } from './prune.ts';

const ten = {
  column: 'price',
  time: 'ts',
  timeOffset: 0,
  sizeMs: 10_000,
  slideMs: 10_000,
  offsetMs: 0,
  lo: -1,
  hi: 9999,
};

describe('extremum pruning', () => {
  it('keeps the running maximum and its ties, drops what is below every window it may join', () => {
    const keep = extremumPrune({ ...ten, fn: 'max' });
    assert.equal(keep({ price: 5, ts: 1000 }), true); // the first of its window
    assert.equal(keep({ price: 3, ts: 2000 }), false);
    assert.equal(keep({ price: 5, ts: 3000 }), true); // a tie
    assert.equal(keep({ price: 9, ts: 4000 }), true);
    assert.equal(keep({ price: null, ts: 4000 }), false);
    // At 10 s: in the window [10 s, 20 s) (its first) and joining [0, 10 s)'s maximum (9) too.
    assert.equal(keep({ price: 9, ts: 10_000 }), true);
    assert.equal(keep({ price: 7, ts: 10_000 }), false); // below both windows' maxima so far (9)
    assert.equal(keep({ price: 6, ts: 10_001 }), false);
  });

  it('MIN the other way round', () => {
    const keep = extremumPrune({ ...ten, fn: 'min' });
    assert.equal(keep({ price: 5, ts: 1000 }), true);
    assert.equal(keep({ price: 8, ts: 2000 }), false);
    assert.equal(keep({ price: 2, ts: 3000 }), true);
  });

  it('is planned for a join with a window MAX of the same table on its value, not for others', async () => {
    const ddl = `CREATE TABLE bid (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts);\n`;
    const q7 = (inner: string) =>
      planScript(
        `${ddl}SELECT B.auction FROM bid B JOIN (SELECT MAX(price) AS m, window_end AS t FROM TUMBLE(bid, ts,
        INTERVAL '10' SECOND) ${inner} GROUP BY window_start, window_end) B1 ON B.price = B1.m
        WHERE B.ts BETWEEN B1.t - INTERVAL '10' SECOND AND B1.t`,
        { selects: true },
      );
    const pruned = (await q7('')).selects[0]!.join!.prune;
    assert.deepEqual(
      [pruned?.side, pruned?.fn, pruned?.column, pruned?.lo, pruned?.hi],
      ['l', 'max', 'price', -1, 9999],
    );
    assert.equal((await q7('WHERE auction > 3')).selects[0]!.join!.prune, undefined);
  });
});
