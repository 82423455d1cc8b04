// Aggregates with FILTER (WHERE …) and Flink's DATE_FORMAT (Nexmark q15-q17): FILTER planned on every aggregate
// (DISTINCT too) in window, regular and retracting GROUP BYs and run (a record counted only where the condition is
// TRUE; a retraction takes a row out only of the aggregates that took it); DATE_FORMAT's SimpleDateFormat letters
// in UTC; refusals with the position (a non-boolean FILTER, an aggregate in it, an unsupported pattern letter).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sqlPlanning } from '../../test/helpers/sql-planning.ts';
import { collect, fromArrays, Pipeline } from '../engine/index.ts';
import { addToPipeline } from './build.ts';
import { dateFormatter } from './expressions.ts';
import { planScript } from './index.ts';
import { KIND, type KindedRow } from './rows.ts';
import type { Row } from './types.ts';

const DDL = `CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, note VARCHAR, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);
`;
const { select, refusal } = sqlPlanning(DDL);

/** The script's one SELECT run over `rows` as table `bid`: every row it emits, in order. */
async function run(query: string, rows: Row[]): Promise<KindedRow[]> {
  const plan = await planScript(`${DDL}${query}`, { selects: true });
  const p = new Pipeline({ bounded: true, onError: 'fail' });
  const streams = new Map([['bid', p.source(fromArrays([rows], { batchSize: 1 }))]]);
  const [out] = await addToPipeline(p, plan, { log: {} as never, ensureTopics: false }, streams);
  const sink = collect<KindedRow>();
  out!.sinkTo(sink);
  await p.run();
  return sink.values;
}

/** An updating result's final table: the last row per key (a delete removes it). */
function finalRows(rows: KindedRow[], key: string): Row[] {
  const table = new Map<unknown, Row>();
  for (const r of rows) {
    if (r[KIND] === 'delete') table.delete(r[key]);
    else table.set(r[key], { ...r });
  }
  return [...table.values()].sort((a, b) => String(a[key]).localeCompare(String(b[key])));
}

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 11, 5); // 2026-12-05 00:00:00 UTC
const bid = (auction: number, bidder: number, price: number | null, ts: number, channel = 'a'): Row => ({
  auction,
  bidder,
  price,
  channel,
  note: null,
  ts,
});
const BIDS = [
  bid(1, 10, 5, T0 + 1000),
  bid(1, 11, 50, T0 + 2000),
  bid(2, 10, 500, T0 + 3000),
  bid(2, 10, null, T0 + 4000), // FILTER (WHERE price < 100) is NULL: not counted
  bid(1, 12, 7, T0 + 5000),
  bid(3, 11, 70, T0 + DAY + 1000), // the next day
];

describe('streaming SQL: aggregates with FILTER (WHERE …)', () => {
  it('takes a record only where the condition is TRUE, in a regular GROUP BY (DISTINCT too)', async () => {
    const rows = await run(
      `SELECT DATE_FORMAT(ts, 'yyyy-MM-dd') AS day, count(*) AS n, count(*) FILTER (WHERE price < 100) AS cheap,
         count(price) FILTER (WHERE price >= 10) AS priced, count(DISTINCT bidder) FILTER (WHERE price < 100) AS bidders,
         sum(price) FILTER (WHERE auction = 1) AS s, min(price) FILTER (WHERE price > 5) AS lo,
         max(price) FILTER (WHERE price < 100) AS hi, avg(price) FILTER (WHERE auction = 1) AS a,
         count(DISTINCT auction) AS auctions
       FROM bid GROUP BY DATE_FORMAT(ts, 'yyyy-MM-dd')`,
      BIDS,
    );
    assert.deepEqual(finalRows(rows, 'day'), [
      { day: '2026-12-05', n: 5, cheap: 3, priced: 2, bidders: 3, s: 62, lo: 7, hi: 50, a: 62 / 3, auctions: 2 },
      { day: '2026-12-06', n: 1, cheap: 1, priced: 1, bidders: 1, s: null, lo: 70, hi: 70, a: null, auctions: 1 },
    ]);
    // Every record re-emits its key's row.
    assert.equal(rows.length, BIDS.length);
  });

  it('in a window aggregation', async () => {
    const rows = await run(
      `SELECT window_start, count(*) FILTER (WHERE channel = 'b') AS b, count(*) AS n,
         count(DISTINCT bidder) FILTER (WHERE channel = 'b') AS bidders
       FROM TUMBLE(bid, ts, INTERVAL '1' DAY) GROUP BY window_start, window_end`,
      [
        ...BIDS.slice(0, 3),
        bid(4, 13, 1, T0 + 6000, 'b'),
        bid(4, 13, 2, T0 + 7000, 'b'),
        bid(5, 14, 3, T0 + 8000, 'b'),
      ],
    );
    assert.deepEqual(
      rows.map((r) => ({ ...r })),
      [{ window_start: T0, b: 3, n: 6, bidders: 2 }],
    );
  });

  it('over an updating relation: a retraction leaves the aggregates that did not take the row', async () => {
    // Each auction's maximum moves above 100 and back is not possible (a maximum only grows): auction 1 goes from
    // 5 (not counted) to 500 (counted); auction 2 stays at 50.
    const rows = await run(
      `SELECT channel, count(*) AS n, count(*) FILTER (WHERE top > 100) AS high, sum(top) FILTER (WHERE top > 100) AS s
       FROM (SELECT auction, channel, max(price) AS top FROM bid GROUP BY auction, channel) m GROUP BY channel`,
      [bid(1, 10, 5, T0), bid(2, 10, 50, T0 + 1), bid(1, 11, 500, T0 + 2), bid(1, 12, 600, T0 + 3)],
    );
    assert.deepEqual(finalRows(rows, 'channel'), [{ channel: 'a', n: 2, high: 1, s: 600 }]);
  });

  it('in an OVER aggregate', async () => {
    const rows = await run(
      `SELECT auction, count(*) FILTER (WHERE price > 5) OVER w AS n, sum(price) FILTER (WHERE price < 100) OVER w AS s
       FROM bid WINDOW w AS (PARTITION BY auction ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)`,
      BIDS.slice(0, 5),
    );
    assert.deepEqual(
      rows.map((r) => [r.auction, r.n, r.s]),
      [
        [1, 0, 5],
        [1, 1, 55],
        [2, 1, null],
        [2, 1, null],
        [1, 2, 57],
      ],
    );
  });

  it('plans each FILTER as its own aggregate', async () => {
    const q = await select(
      `SELECT auction, count(*) AS n, count(*) FILTER (WHERE price < 10) AS a, count(*) FILTER (WHERE price < 10) AS b,
         count(*) FILTER (WHERE price >= 10) AS c FROM bid GROUP BY auction`,
    );
    assert.deepEqual(
      q.aggregates.map((a) => [a.fn, a.filter !== undefined]),
      [
        ['count_star', false],
        ['count', true],
        ['count', true],
      ],
    );
  });

  it('refuses a condition that is not BOOLEAN, or holds an aggregate, with the position', async () => {
    let e = await refusal(`SELECT auction, count(*) FILTER (WHERE price) AS n FROM bid GROUP BY auction`);
    assert.match(e.message, /FILTER \(WHERE …\) needs a BOOLEAN condition, got BIGINT.*line 3, column 40/);
    e = await refusal(
      `SELECT window_start, sum(price) FILTER (WHERE max(price) > 1) AS n FROM TUMBLE(bid, ts, INTERVAL '1' DAY)
       GROUP BY window_start, window_end`,
    );
    assert.match(e.message, /max\(\) is not allowed here.*line 3, column 47/);
  });
});

describe('streaming SQL: DATE_FORMAT', () => {
  const at = Date.UTC(2026, 11, 5, 7, 4, 9, 45); // Saturday 2026-12-05 07:04:09.045 UTC

  it("writes SimpleDateFormat's letters in UTC", () => {
    const fmt = (p: string, t = at) => dateFormatter(p, (m) => new Error(m))(t);
    assert.equal(fmt('yyyy-MM-dd'), '2026-12-05');
    assert.equal(fmt('HH:mm'), '07:04');
    assert.equal(fmt('yyyy-MM-dd HH:mm:ss.SSS'), '2026-12-05 07:04:09.045');
    assert.equal(fmt('yy/M/d H:m:s'), '26/12/5 7:4:9');
    assert.equal(fmt("EEE, d MMM yyyy hh:mm a 'at' K k D"), 'Sat, 5 Dec 2026 07:04 AM at 7 7 339');
    assert.equal(fmt("EEEE MMMM 'o''clock' ''"), "Saturday December o'clock '");
    assert.equal(fmt('h a k', Date.UTC(2026, 0, 1, 0, 30)), '12 AM 24');
    assert.equal(fmt('yyyy-MM-dd', Date.UTC(1969, 11, 31, 23)), '1969-12-31');
    // The last result is kept within the pattern's finest unit, and recomputed past it.
    const day = dateFormatter('yyyy-MM-dd', (m) => new Error(m));
    assert.deepEqual([T0 - 1, T0, T0 + DAY - 1, T0 + DAY].map(day), [
      '2026-12-04',
      '2026-12-05',
      '2026-12-05',
      '2026-12-06',
    ]);
  });

  it('in a query: a timestamp, a string read as one, NULL, a pattern of another column', async () => {
    const rows = await run(
      `SELECT DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm') AS a, DATE_FORMAT('2026-12-05 01:02:03', 'HH.mm.ss') AS b,
         DATE_FORMAT(ts, note) AS c, DATE_FORMAT(CAST(NULL AS TIMESTAMP), 'yyyy') AS d FROM bid`,
      [{ ...bid(1, 1, 1, at), note: "yyyy 'Q'" }, bid(1, 1, 1, at)],
    );
    assert.deepEqual(
      rows.map((r) => ({ ...r })),
      [
        { a: '2026-12-05 07:04', b: '01.02.03', c: '2026 Q', d: null },
        { a: '2026-12-05 07:04', b: '01.02.03', c: null, d: null },
      ],
    );
  });

  it('refuses an unsupported letter of a constant pattern at the pattern, and wrong arguments', async () => {
    let e = await refusal(`SELECT DATE_FORMAT(ts, 'yyyy-ww') AS w FROM bid`);
    assert.match(e.message, /the DATE_FORMAT pattern letter ww \(at offset 5 of "yyyy-ww"\).*line 3, column 24/);
    assert.equal((e as { code?: string }).code, 'UNSUPPORTED_SQL');
    e = await refusal(`SELECT DATE_FORMAT(ts, 'HH:mm:ss.S') AS w FROM bid`);
    assert.match(e.message, /pattern letter S .*line 3, column 24/);
    e = await refusal(`SELECT DATE_FORMAT(ts, 'yyyy ''Q') AS w FROM bid`);
    assert.match(e.message, /unterminated quote/);
    e = await refusal(`SELECT DATE_FORMAT(price, 'yyyy') AS w FROM bid`);
    assert.match(e.message, /date_format\(\) takes \(TIMESTAMP, VARCHAR\), got \(BIGINT, VARCHAR\).*line 3, column 8/);
    e = await refusal(`SELECT DATE_FORMAT(ts) AS w FROM bid`);
    assert.match(e.message, /date_format\(\) takes 2 arguments, got 1/);
  });
});

describe('streaming SQL: comparisons with a constant', () => {
  it('either side, every operator, NULLs unknown', async () => {
    const rows = await run(
      `SELECT price < 50 AS a, 50 > price AS b, price >= 50 AS c, price = 50 AS d, price <> 50 AS e, 50 <= price AS f,
         channel = 'b' AS g, -price < -10 AS h FROM bid`,
      [bid(1, 1, 5, T0), bid(1, 1, 50, T0), bid(1, 1, null, T0, 'b')],
    );
    assert.deepEqual(
      rows.map((r) => Object.values(r)),
      [
        [true, true, false, false, true, false, false, false],
        [false, false, true, true, false, true, false, true],
        [null, null, null, null, null, null, true, null],
      ],
    );
  });
});
