// The planner's relations beyond one table: subqueries in FROM, WITH, CREATE VIEW, regular joins, joins and GROUP BYs
// on window results' times, group windows (GROUP BY SESSION(…)), PROCTIME() windows, a GROUP BY over a GROUP BY; and
// what stays refused, with its position.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sqlPlanning } from '../../test/helpers/sql-planning.ts';
import { planScript, type QueryPlan } from './planner.ts';
import type { Row } from './types.ts';

const DDL = `CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, dateTime TIMESTAMP(3),
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND);
CREATE TABLE auction (id BIGINT, seller BIGINT, category BIGINT, dateTime TIMESTAMP(3), expires TIMESTAMP(3),
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND);
`;

const { select, refusal } = sqlPlanning(DDL);

const derived = (q: QueryPlan) => q.source.derived!;

describe('streaming SQL relations', () => {
  it('a subquery in FROM keeps the columns that tell time (window_end = time + 1 ms)', async () => {
    const q =
      await select(`SELECT auction, num FROM (SELECT auction, count(*) AS num, window_start AS s, window_end AS e
      FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(\`dateTime\`), INTERVAL '10' SECOND)) GROUP BY auction, window_start, window_end) AS c`);
    assert.deepEqual(
      [...derived(q).times],
      [
        ['s', 1 - 10_000],
        ['e', 1],
      ],
    );
  });

  it('a GROUP BY on a window time is a window at that time (q5), not an updating result', async () => {
    const q = await select(`SELECT max(num) AS maxn, s FROM (SELECT auction, count(*) AS num, window_start AS s
      FROM HOP(bid, dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND) GROUP BY auction, window_start, window_end) c
      GROUP BY c.s`);
    assert.equal(q.updating, false);
    assert.deepEqual([q.window?.kind, q.window?.sizeMs], ['tumbling', 1]);
    assert.equal(q.outputs[1]!.timeOffset, 1 - 10_000);
  });

  it('WITH and CREATE VIEW are relations over their queries', async () => {
    const w = await select(`WITH cheap AS (SELECT auction, price FROM bid WHERE price < 10) SELECT auction FROM cheap`);
    assert.equal(w.source.name, 'cheap');
    const v = await select(`CREATE VIEW b AS SELECT *, PROCTIME() AS p FROM bid;
      SELECT bidder, count(*) AS n FROM TUMBLE(b, p, INTERVAL '10' SECOND) GROUP BY bidder, window_start, window_end`);
    assert.equal(v.window?.processingTime, true);
    assert.equal(v.source.derived?.proctime, 'p');
  });

  it('joins: regular without time bounds, interval on window times (q7: BETWEEN window_end - 10 s AND window_end)', async () => {
    const regular = await select(`SELECT A.id, B.price FROM auction A, bid B
      WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires AND A.category = 10`);
    assert.equal(regular.join?.kind, 'regular');
    assert.ok(regular.join?.leftWhere, 'A.category = 10 is applied before the join');
    // A bid can join no on-time auction once the watermark passes its time; an auction no bid past its expiry.
    assert.equal(regular.join?.expiry?.r.afterTime, 0);
    assert.equal(regular.join?.expiry?.l.columns.length, 1);
    assert.equal(regular.join!.expiry!.l.columns[0]!({ expires: 5000 }), 5000);
    const q7 = await select(`SELECT B.auction FROM bid B JOIN (SELECT MAX(price) AS maxprice, window_end AS t
      FROM TUMBLE(bid, dateTime, INTERVAL '10' SECOND) GROUP BY window_start, window_end) B1 ON B.price = B1.maxprice
      WHERE B.dateTime BETWEEN B1.t - INTERVAL '10' SECOND AND B1.t`);
    assert.deepEqual([q7.join?.kind, q7.join?.lowerMs, q7.join?.upperMs], ['interval', -1, 9999]);
  });

  it("Flink's group windows: GROUP BY k, SESSION(ts, gap) with SESSION_START and SESSION_END", async () => {
    const q = await select(`SELECT bidder, count(*) AS n, SESSION_START(dateTime, INTERVAL '10' SECOND) AS s,
      SESSION_END(dateTime, INTERVAL '10' SECOND) AS e FROM bid GROUP BY bidder, SESSION(dateTime, INTERVAL '10' SECOND)`);
    assert.deepEqual([q.window?.kind, q.window?.gapMs], ['session', 10_000]);
    assert.deepEqual(
      q.outputs.map((o) => o.role),
      [0, undefined, 'window_start', 'window_end'],
    );
  });

  it('a GROUP BY over a GROUP BY takes retractions (q4): count, sum and avg', async () => {
    const q = await select(`SELECT category, avg(final) AS a FROM (SELECT A.category, max(B.price) AS final
      FROM auction A JOIN bid B ON A.id = B.auction GROUP BY A.id, A.category) Q GROUP BY category`);
    assert.equal(q.retracting, true);
  });
});

describe('streaming SQL relations: refused with the construct and its position', () => {
  const inner = `(SELECT auction, max(price) AS m FROM bid GROUP BY auction) Q`;
  it('min/max over an updating relation', async () => {
    const e = await refusal(`SELECT count(*) AS n, max(m) FROM ${inner} GROUP BY auction`);
    assert.match(e.message, /max\(\) over an updating relation.*count, sum and avg are.*line 5, column 106/);
  });
  it('a projection of an updating relation', async () => {
    const e = await refusal(`SELECT auction, m FROM ${inner}`);
    assert.match(e.message, /a projection of an updating relation.*line 5, column 1/);
  });
  it('a LEFT JOIN of subqueries', async () => {
    const e = await refusal(`SELECT Q.auction FROM ${inner} LEFT JOIN bid B ON Q.auction = B.auction`);
    assert.match(e.message, /LEFT JOIN is not supported.*line 5, column 85/);
  });
  it('a join of an updating relation', async () => {
    const e = await refusal(`SELECT B.auction FROM bid B JOIN ${inner} ON B.auction = Q.auction`);
    assert.match(e.message, /a join of an updating relation.*line 5, column 29/);
  });
  it('TUMBLE_START with GROUP BY SESSION(…)', async () => {
    const e = await refusal(
      `SELECT TUMBLE_START(dateTime, INTERVAL '1' SECOND) FROM bid GROUP BY SESSION(dateTime, INTERVAL '1' SECOND)`,
    );
    assert.match(e.message, /TUMBLE_START with GROUP BY SESSION.*line 5, column 8/);
  });
});

describe('streaming SQL relations: a GROUP BY over a GROUP BY, run', () => {
  // Each auction's count moves from one row of the histogram to the next: a retraction under another key.
  async function histogram(where: string): Promise<Map<number, number>> {
    const { addToPipeline } = await import('./build.ts');
    const { KIND } = await import('./rows.ts');
    const { collect, fromArrays, Pipeline } = await import('../engine/index.ts');
    const plan = await planScript(
      `CREATE TABLE b (auction BIGINT); SELECT n, count(*) AS c FROM (SELECT auction, count(*) AS n FROM b
       GROUP BY auction) q ${where} GROUP BY n`,
      { selects: true },
    );
    const p = new Pipeline({ bounded: true, onError: 'fail' });
    const rows = [1, 2, 1, 3, 1, 3].map((auction) => ({ auction }));
    const streams = new Map([['b', p.source(fromArrays([rows as Row[]], { batchSize: 1 }))]]);
    const [out] = await addToPipeline(p, plan, { log: {} as never, ensureTopics: false }, streams);
    const sink = collect<Record<string | symbol, unknown>>();
    out!.sinkTo(sink);
    await p.run();
    const table = new Map<number, number>();
    for (const r of sink.values) {
      if (r[KIND] === 'delete') table.delete(r.n as number);
      else table.set(r.n as number, r.c as number);
    }
    return table;
  }

  it('moves a row between keys, and in and out of WHERE', async () => {
    // Counts: auction 1 → 3, 2 → 1, 3 → 2.
    assert.deepEqual([...(await histogram(''))].sort(), [
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    assert.deepEqual([...(await histogram('WHERE n > 1'))].sort(), [
      [2, 1],
      [3, 1],
    ]);
  });
});

describe('streaming SQL relations: window Top-N', () => {
  it('ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY …) <= N over window results', async () => {
    const { addToPipeline } = await import('./build.ts');
    const { collect, fromArrays, Pipeline } = await import('../engine/index.ts');
    const plan = await planScript(
      `CREATE TABLE b (auction BIGINT, ts BIGINT, WATERMARK FOR ts AS ts);
       SELECT auction, n, ws, rownum FROM (
         SELECT *, ROW_NUMBER() OVER (PARTITION BY ws, we ORDER BY n DESC, auction) AS rownum FROM (
           SELECT auction, count(*) AS n, window_start AS ws, window_end AS we FROM TUMBLE(b, ts, INTERVAL '10' SECOND)
           GROUP BY auction, window_start, window_end) c) r
       WHERE rownum <= 2`,
      { selects: true },
    );
    const p = new Pipeline({ bounded: true, onError: 'fail' });
    const rows = [
      [1, 1000],
      [2, 1500],
      [1, 2000],
      [3, 2500],
      [2, 3000],
      [1, 9999],
      [3, 10_000],
      [4, 12_000],
      [3, 19_000],
      [9, 40_000],
    ].map(([auction, ts]) => ({ auction, ts }) as Row);
    const streams = new Map([['b', p.source(fromArrays([rows], { batchSize: 2 }))]]);
    const [out] = await addToPipeline(p, plan, { log: {} as never, ensureTopics: false }, streams);
    const sink = collect<Row>();
    out!.sinkTo(sink);
    await p.run();
    assert.deepEqual(
      sink.values
        .map((r) => [r.auction, r.n, r.ws, r.rownum] as number[])
        .sort((a, b) => a[2]! - b[2]! || a[3]! - b[3]!),
      [
        [1, 3, 0, 1],
        [2, 2, 0, 2],
        [3, 2, 10_000, 1],
        [4, 1, 10_000, 2],
        [9, 1, 40_000, 1],
      ],
    );
  });

  it('ROW_NUMBER() not partitioned by a window is refused', async () => {
    const e = await refusal(`SELECT auction, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) FROM bid`);
    assert.match(e.message, /ROW_NUMBER\(\) not partitioned by the window.*line 5, column 17/);
  });
});

describe('streaming SQL relations: CUMULATE windows', () => {
  it('windows growing by a step up to their size, each fired as the watermark passes its end', async () => {
    const { addToPipeline } = await import('./build.ts');
    const { collect, fromArrays, Pipeline } = await import('../engine/index.ts');
    const plan = await planScript(
      `CREATE TABLE e (usr VARCHAR, ts BIGINT, WATERMARK FOR ts AS ts);
       SELECT usr, window_start AS ws, window_end AS we, count(*) AS n
       FROM TABLE(CUMULATE(TABLE e, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '6' SECOND))
       GROUP BY usr, window_start, window_end`,
      { selects: true },
    );
    const p = new Pipeline({ bounded: true, onError: 'fail' });
    const rows = [
      ['a', 500],
      ['a', 1500],
      ['a', 2500],
      ['b', 3000],
      ['a', 4100],
      ['c', 20_000],
    ].map(([usr, ts]) => ({ usr, ts }) as Row);
    const streams = new Map([['e', p.source(fromArrays([rows], { batchSize: 1 }))]]);
    const [out] = await addToPipeline(p, plan, { log: {} as never, ensureTopics: false }, streams);
    const sink = collect<Row>();
    out!.sinkTo(sink);
    await p.run();
    assert.deepEqual(sink.values.map((r) => [r.usr, r.ws, r.we, r.n].join(' ')).sort(), [
      'a 0 2000 2',
      'a 0 4000 3',
      'a 0 6000 4',
      'b 0 4000 1',
      'b 0 6000 1',
      'c 18000 22000 1',
      'c 18000 24000 1',
    ]);
  });

  it("CUMULATE's size must be a multiple of its step", async () => {
    const e = await refusal(
      `SELECT bidder, count(*) FROM CUMULATE(bid, dateTime, INTERVAL '4' SECOND, INTERVAL '10' SECOND) GROUP BY bidder, window_start, window_end`,
    );
    assert.match(e.message, /CUMULATE's size must be a multiple of its step.*line 5, column 30/);
  });
});
