// Streaming SQL: the planner per construct, refused SQL with its position, and a SQL tumbling-window count over the
// embedded log equal to the same pipeline written with the DataStream API.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  agg,
  collect,
  type DataStream,
  definePipeline,
  json,
  logSource,
  Pipeline,
  type PipelineDefinition,
  watermarks,
  windows,
} from '../engine/index.ts';
import { isSluiceError } from '../errors.ts';
import { type Log, openLog } from '../log/index.ts';
import { ServingStore } from '../serve/index.ts';
import { explainSql, planScript, type Row, sqlPipeline, sqlStream } from './index.ts';

const BID = `CREATE TABLE bid (
  auction BIGINT,
  bidder BIGINT,
  price DOUBLE,
  channel VARCHAR,
  dateTime TIMESTAMP(3),
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH ('connector' = 'kafka', 'topic' = 'bids', 'format' = 'json', 'partitions' = '2');
`;
const OUT3 = `CREATE TABLE out3 (a BIGINT, b DOUBLE, c VARCHAR) WITH ('topic' = 'out');\n`;

const row = (auction: number, bidder: number, price: number, channel: string | null, dateTime: number) => ({
  auction,
  bidder,
  price,
  channel,
  dateTime,
});

async function plan(text: string) {
  return planScript(text);
}

/** The error the script fails with: its code and message. */
async function refusal(text: string): Promise<{ code: string; message: string }> {
  try {
    await planScript(text);
  } catch (error) {
    assert.ok(isSluiceError(error), `a SluiceError, got ${error}`);
    return { code: error.code, message: error.message };
  }
  assert.fail('the script was accepted');
}

describe('streaming SQL: the planner', () => {
  it('declares a source table: columns, types, event time and its watermark, topic options', async () => {
    const p = await plan(`${BID}${OUT3}INSERT INTO out3 SELECT auction, price, channel FROM bid;`);
    const bid = p.tables.get('bid')!;
    assert.deepEqual(
      bid.columns.map((c) => [c.name, c.type]),
      [
        ['auction', 'BIGINT'],
        ['bidder', 'BIGINT'],
        ['price', 'DOUBLE'],
        ['channel', 'VARCHAR'],
        ['dateTime', 'TIMESTAMP'],
      ],
    );
    assert.deepEqual(bid.watermark && [bid.watermark.column, bid.watermark.boundMs], ['dateTime', 4000]);
    assert.equal(bid.topic, 'bids');
    assert.equal(bid.partitions, 2);
    assert.equal(p.tables.get('out3')!.topic, 'out');
  });

  it('projects and filters with expressions (arithmetic, comparisons, AND/OR/NOT, CASE, functions)', async () => {
    const p = await plan(
      `${BID}${OUT3}INSERT INTO out3
       SELECT auction * 2 + 1, price / 4, CASE WHEN price >= 100 THEN upper(channel) ELSE concat(lower(channel), '!') END
       FROM bid WHERE (price BETWEEN 10 AND 1000 OR channel IN ('x', 'y')) AND NOT bidder = 7 AND channel LIKE '%e%';`,
    );
    const q = p.inserts[0]!.query;
    const where = q.where!.eval;
    assert.equal(where(row(1, 2, 50, 'web', 0)), true);
    assert.equal(where(row(1, 7, 50, 'web', 0)), false, 'NOT bidder = 7');
    assert.equal(where(row(1, 2, 5, 'web', 0)), false, 'BETWEEN');
    assert.equal(where(row(1, 2, 50, null, 0)), null, 'NULL is unknown');
    const out = (r: ReturnType<typeof row>) => q.outputs.map((o) => o.eval(r));
    assert.deepEqual(out(row(3, 2, 200, 'Web', 0)), [7, 50, 'WEB']);
    assert.deepEqual(out(row(3, 2, 20, 'Web', 0)), [7, 5, 'web!']);
    assert.deepEqual(
      q.outputs.map((o) => [o.name, o.type]),
      [
        ['EXPR$0', 'BIGINT'],
        ['EXPR$1', 'DOUBLE'],
        ['EXPR$2', 'VARCHAR'],
      ],
    );
  });

  it('integer division truncates as in Flink SQL; NULLs propagate; CAST converts', async () => {
    const p = await plan(
      `${BID}${OUT3}INSERT INTO out3 SELECT auction / 2, CAST(bidder AS DOUBLE) / 2, CAST(coalesce(channel, 'none') AS VARCHAR) FROM bid;`,
    );
    const q = p.inserts[0]!.query;
    assert.deepEqual(
      q.outputs.map((o) => o.eval(row(7, 3, 0, null, 0))),
      [3, 1.5, 'none'],
    );
  });

  it('plans TUMBLE with GROUP BY window_start, window_end, a key and count/sum/min/max/avg', async () => {
    const p = await plan(
      `${BID}CREATE TABLE w (ws TIMESTAMP, we TIMESTAMP, auction BIGINT, n BIGINT, total DOUBLE, lo DOUBLE, hi DOUBLE, mean DOUBLE, bidders BIGINT);
       INSERT INTO w SELECT window_start, window_end, auction, count(*), sum(price), min(price), max(price), avg(price), count(DISTINCT bidder)
       FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
       GROUP BY window_start, window_end, auction HAVING count(*) > 1;`,
    );
    const q = p.inserts[0]!.query;
    assert.deepEqual(q.window, { kind: 'tumbling', sizeMs: 10_000, slideMs: 10_000, offsetMs: 0, gapMs: 0 });
    assert.equal(q.keys.length, 1);
    assert.deepEqual(
      q.aggregates.map((a) => [a.fn, a.distinct]),
      [
        ['count_star', false],
        ['sum', false],
        ['min', false],
        ['max', false],
        ['avg', false],
        ['count', true],
      ],
    );
    const result = { k: [5], a: [2, 30, 10, 20, 15, 2], ws: 0, we: 10_000 };
    assert.deepEqual(
      q.outputs.map((o) => o.eval(result)),
      [0, 10_000, 5, 2, 30, 10, 20, 15, 2],
    );
    assert.equal(q.having!.eval(result), true);
  });

  it('plans HOP (slide, then size, as Flink) in both the TVF syntaxes', async () => {
    for (const from of [
      `TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))`,
      `HOP(bid, dateTime, INTERVAL '2 seconds', INTERVAL '10 seconds')`,
    ]) {
      const p = await plan(
        `${BID}CREATE TABLE h (ws TIMESTAMP, n BIGINT);
         INSERT INTO h SELECT window_start, count(*) FROM ${from} GROUP BY window_start, window_end;`,
      );
      assert.deepEqual(p.inserts[0]!.query.window, {
        kind: 'sliding',
        sizeMs: 10_000,
        slideMs: 2_000,
        offsetMs: 0,
        gapMs: 0,
      });
    }
  });

  it('reuses an aggregate written twice and reads keys by their expression', async () => {
    const p = await plan(
      `${BID}CREATE TABLE w (k BIGINT, avg_price DOUBLE);
       INSERT INTO w SELECT auction % 10, sum(price) / count(*)
       FROM TUMBLE(bid, dateTime, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, auction % 10;`,
    );
    const q = p.inserts[0]!.query;
    assert.equal(q.aggregates.length, 2);
    assert.deepEqual(
      q.outputs.map((o) => o.eval({ k: [3], a: [30, 4], ws: 0, we: 60_000 })),
      [3, 7.5],
    );
  });

  it('EXPLAIN prints the operator graph without a log', async () => {
    const text = `${BID}CREATE TABLE w (ws TIMESTAMP, n BIGINT);
      EXPLAIN INSERT INTO w SELECT window_start, count(*) FROM TUMBLE(bid, dateTime, INTERVAL '10' SECOND)
      WHERE price > 1 GROUP BY window_start, window_end;`;
    assert.equal((await planScript(text)).explain, true);
    const explained = await explainSql(text, { name: 'q' });
    for (const part of ['source:log:bids', 'timestamps', 'where', 'window-tumbling', 'select', 'sink:log:w']) {
      assert.match(explained, new RegExp(part), explained);
    }
  });
});

const EV = `CREATE TABLE ev (usr VARCHAR, ts BIGINT, v DOUBLE, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
  WITH ('topic' = 'ev', 'key' = 'usr', 'allowed.lateness' = '30 s', 'late.topic' = 'ev-late');
`;

describe('streaming SQL: materialized views, SESSION, late data', () => {
  it('CREATE MATERIALIZED VIEW of a window aggregation is keyed by window_start and the GROUP BY keys', async () => {
    const p = await plan(
      `${EV}CREATE MATERIALIZED VIEW per_user AS
       SELECT usr AS who, window_start AS ws, window_end, count(*) AS n, sum(v) AS total, window_kind AS kind
       FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, usr;`,
    );
    assert.equal(p.inserts.length, 0);
    const view = p.views[0]!;
    assert.equal(view.view.name, 'per_user');
    assert.deepEqual(view.key, ['ws', 'who']);
    assert.deepEqual(
      view.columns.map((c) => `${c.name} ${c.type}`),
      ['who VARCHAR', 'ws TIMESTAMP', 'window_end TIMESTAMP', 'n BIGINT', 'total DOUBLE', 'kind VARCHAR'],
    );
    const kind = view.query.outputs[5]!.eval({ k: ['a'], a: [1, 2], ws: 0, we: 60_000, kind: 'update' });
    assert.equal(kind, 'update');
  });

  it('a view without a window is an append table unless WITH key; options topic, topic.key, key', async () => {
    const append = await plan(`${EV}CREATE MATERIALIZED VIEW big AS SELECT usr, v FROM ev WHERE v > 10;`);
    assert.deepEqual(append.views[0]!.key, []);
    const keyed = await plan(
      `${EV}CREATE MATERIALIZED VIEW IF NOT EXISTS latest WITH ('key' = 'usr', 'topic' = 'latest', 'topic.key' = 'usr', 'partitions' = '2')
       AS SELECT usr, v FROM ev;`,
    );
    const view = keyed.views[0]!;
    assert.deepEqual(view.key, ['usr']);
    assert.equal(view.view.topic, 'latest');
    assert.equal(view.view.topicKey?.column, 'usr');
    assert.equal(view.view.partitions, 2);
    const explained = await explainSql(
      `${EV}CREATE MATERIALIZED VIEW big WITH ('topic' = 'big') AS SELECT usr, v FROM ev;`,
    );
    assert.match(explained, /sink:log:big/);
    assert.match(explained, /sink:table:big/);
    assert.match(explained, /MATERIALIZED VIEW big \(serving table, append and topic big\) FROM ev: no window/);
  });

  it('plans SESSION in Flink form with PARTITION BY, and plainly; window_start/window_end are the session', async () => {
    for (const from of [
      `TABLE(SESSION(TABLE ev PARTITION BY usr, DESCRIPTOR(ts), INTERVAL '30' SECOND))`,
      `TABLE(SESSION(TABLE ev PARTITION BY (usr), DESCRIPTOR(ts), INTERVAL '30' SECOND))`,
      `SESSION(ev, ts, INTERVAL '30 seconds')`,
    ]) {
      const p = await plan(
        `${EV}CREATE TABLE s (usr VARCHAR, s_start TIMESTAMP, s_end TIMESTAMP, n BIGINT) WITH ('topic' = 's');
         INSERT INTO s SELECT usr, window_start, window_end, count(*) FROM ${from} GROUP BY window_start, window_end, usr;`,
      );
      assert.deepEqual(p.inserts[0]!.query.window, {
        kind: 'session',
        sizeMs: 0,
        slideMs: 0,
        offsetMs: 0,
        gapMs: 30_000,
      });
    }
    const explained = await explainSql(
      `${EV}CREATE MATERIALIZED VIEW sessions AS SELECT usr, window_start, count(*) AS n
       FROM SESSION(ev, ts, INTERVAL '30' SECOND) GROUP BY window_start, window_end, usr;`,
    );
    assert.match(explained, /window-session \(operator: SessionWindowOperator\)/);
    assert.match(explained, /sink:log:ev-late \(sink: log:ev-late\) <- window-session\[late\]/);
    assert.match(
      explained,
      /keyed by window_start, usr\) FROM ev: session gap 30000 ms, 1 key\(s\), count_star, allowed lateness 30000 ms, late records to topic ev-late/,
    );
  });

  it('a regular GROUP BY is an updating result: a view keyed by the GROUP BY keys, or a changelog INSERT', async () => {
    const p = await plan(
      `${EV}CREATE MATERIALIZED VIEW per_user AS SELECT usr, count(*) AS n, max(v) AS top FROM ev GROUP BY usr;
       CREATE TABLE changes (usr VARCHAR, n BIGINT) WITH ('topic' = 'changes', 'key' = 'usr');
       INSERT INTO changes SELECT upper(usr), count(*) FROM ev WHERE v > 0 GROUP BY upper(usr);`,
    );
    const view = p.views[0]!;
    assert.equal(view.query.updating, true);
    assert.equal(view.query.window, undefined);
    assert.deepEqual(view.key, ['usr']);
    assert.equal(p.inserts[0]!.query.outputs[0]!.role, 0);
    const explained = await explainSql(
      `${EV}CREATE MATERIALIZED VIEW per_user AS SELECT usr, count(*) AS n FROM ev GROUP BY usr;`,
    );
    // Rows move to their key's task first (a pass-through in one process; a repartition topic when scaled out).
    assert.match(explained, /repartition:view-per_user-group \(operator: RepartitionOperator\) <- timestamps\n/);
    assert.match(explained, /select \(operator: KeyedProcessOperator\) <- \S+-repartition\n {2}sink:table:per_user/);
    assert.match(explained, /keyed by usr\) FROM ev: GROUP BY without a window \(updating\), 1 key\(s\), count_star/);
  });

  it('plans OVER (PARTITION BY … ORDER BY ts RANGE/ROWS … PRECEDING AND CURRENT ROW) as a rolling aggregate', async () => {
    const p = await plan(
      `CREATE TABLE ev (usr VARCHAR, ts BIGINT, v DOUBLE, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND);
       CREATE MATERIALIZED VIEW rolling AS
       SELECT usr, max(ts) OVER w AS ts, round(avg(v) OVER w, 2) AS a, count(*) OVER w AS n
       FROM ev WHERE v > 0 WINDOW w AS (PARTITION BY usr ORDER BY ts RANGE BETWEEN INTERVAL '5' MINUTE PRECEDING AND CURRENT ROW);
       CREATE TABLE last3 (usr VARCHAR, total DOUBLE) WITH ('topic' = 'last3');
       INSERT INTO last3 SELECT usr, sum(v) OVER (PARTITION BY usr ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM ev;`,
    );
    const q = p.views[0]!.query;
    assert.deepEqual(q.over, { timeMs: 300_000 });
    assert.deepEqual(
      q.aggregates.map((a) => a.fn),
      ['max', 'avg', 'count_star'],
    );
    assert.deepEqual(p.views[0]!.key, []);
    assert.equal(q.outputs[2]!.eval({ k: ['u'], a: [5, 1.23456, 3] }), 1.23);
    assert.deepEqual(p.inserts[0]!.query.over, { count: 3 });
  });

  it("a source's allowed.lateness and late.topic (units: '30 s', '30s', '1 minute', '500 ms')", async () => {
    for (const [text, ms] of [
      ['30 s', 30_000],
      ['30s', 30_000],
      ['1 minute', 60_000],
      ['500 ms', 500],
    ] as const) {
      const p = await plan(
        `CREATE TABLE t (a BIGINT, ts BIGINT, WATERMARK FOR ts AS ts) WITH ('allowed.lateness' = '${text}', 'late.topic' = 'late');
         CREATE TABLE o (a BIGINT); INSERT INTO o SELECT a FROM t;`,
      );
      assert.equal(p.tables.get('t')!.allowedLatenessMs, ms);
      assert.equal(p.tables.get('t')!.lateTopic, 'late');
    }
  });
});

describe('streaming SQL: refused with the construct and its position', () => {
  const cases: [string, string, string, RegExp][] = [
    [
      'a join without an equality (a cross join)',
      `SELECT a.auction, 1.0, 'x' FROM bid a JOIN bid b ON a.price > b.price`,
      'UNSUPPORTED_SQL',
      /a join without an equality between its two sides \(a cross join\).*line 11, column 39/,
    ],
    [
      'OVER',
      `SELECT auction, sum(price) OVER (PARTITION BY auction), 'x' FROM bid`,
      'UNSUPPORTED_SQL',
      /an OVER window not ordered by the event-time column.*line 11, column 17/,
    ],
    [
      'HAVING on a regular GROUP BY',
      `SELECT auction, sum(price), 'x' FROM bid GROUP BY auction HAVING sum(price) > 10`,
      'UNSUPPORTED_SQL',
      /HAVING on a GROUP BY without a window TVF is not supported.*line 11, column 77/,
    ],
    [
      'an aggregate without a window',
      `SELECT count(*), 1.0, 'x' FROM bid`,
      'UNSUPPORTED_SQL',
      /aggregate count_star\(\) without a window TVF.*line 11, column 8/,
    ],
    [
      'an unknown column',
      `SELECT auction, prize, 'x' FROM bid`,
      'INVALID_SQL',
      /unknown column "prize".*line 11, column 17/,
    ],
    [
      'a type error',
      `SELECT auction, price, channel FROM bid WHERE channel > 3`,
      'INVALID_SQL',
      /cannot compare VARCHAR with BIGINT.*line 11, column 55/,
    ],
    [
      'an unknown function',
      `SELECT auction, price, md5(channel) FROM bid`,
      'UNSUPPORTED_SQL',
      /function md5\(\).*line 11, column 24/,
    ],
    [
      'ORDER BY',
      `SELECT auction, price, channel FROM bid ORDER BY price`,
      'UNSUPPORTED_SQL',
      /ORDER BY.*line 11, column 50/,
    ],
    [
      'a syntax error',
      `SELECT auction, price, channel FROM bid WHERE`,
      'INVALID_SQL',
      /syntax error.*line 11, column 46/,
    ],
    [
      'a narrowing insert',
      `SELECT price, price, channel FROM bid`,
      'INVALID_SQL',
      /column 1 of the query \(price\) is DOUBLE but out3.a is BIGINT: CAST.*line 11, column 8/,
    ],
    [
      'another table function',
      `SELECT count(*), 1.0, 'x' FROM range(bid, dateTime, INTERVAL '1' MINUTE) GROUP BY window_start, window_end`,
      'UNSUPPORTED_SQL',
      /the table function range\(\).*line 11, column 32/,
    ],
  ];
  for (const [what, query, code, message] of cases) {
    it(what, async () => {
      const error = await refusal(`${BID}${OUT3}INSERT INTO out3\n${query};`);
      assert.equal(error.code, code, error.message);
      assert.match(error.message, message);
    });
  }

  it('materialized views: names, types, keys, options', async () => {
    const unnamed = await refusal(`${EV}CREATE MATERIALIZED VIEW m AS\nSELECT usr, v * 2 FROM ev;`);
    assert.match(unnamed.message, /columns need names: write the expression AS name.*line 4, column 15/);
    const twice = await refusal(`${EV}CREATE MATERIALIZED VIEW m AS\nSELECT usr, v AS usr FROM ev;`);
    assert.match(twice.message, /two columns named "usr".*line 4, column 13/);
    const noKey = await refusal(
      `${EV}CREATE MATERIALIZED VIEW m AS\nSELECT window_start, count(*) AS n FROM SESSION(ev, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end, usr;`,
    );
    assert.match(
      noKey.message,
      /keyed by window_start and the GROUP BY keys: select GROUP BY key 1 too.*line 4, column 1/,
    );
    const badKey = await refusal(`${EV}CREATE MATERIALIZED VIEW m WITH ('key' = 'usr,nope') AS SELECT usr FROM ev;`);
    assert.match(
      badKey.message,
      /option 'key' names "nope" \(2\), not a column of the view \(usr\).*line 3, column 42/,
    );
    const option = await refusal(`${EV}CREATE MATERIALIZED VIEW m WITH ('flush.ms' = '10') AS SELECT usr FROM ev;`);
    assert.equal(option.code, 'UNSUPPORTED_SQL');
    assert.match(option.message, /materialized view option 'flush.ms'.*line 3, column 47/);
    const nullColumn = await refusal(`${EV}CREATE MATERIALIZED VIEW m AS SELECT usr, NULL AS nothing FROM ev;`);
    assert.match(nullColumn.message, /nothing is NULL, which a table cannot hold: CAST it.*line 3, column 43/);
    const missingAs = await refusal(`${EV}CREATE MATERIALIZED VIEW m SELECT usr FROM ev;`);
    assert.match(missingAs.message, /expected AS, got "SELECT".*line 3, column 28/);
    const dup = await refusal(
      `${EV}CREATE MATERIALIZED VIEW m AS SELECT usr FROM ev;\nCREATE MATERIALIZED VIEW m AS SELECT usr FROM ev;`,
    );
    assert.match(dup.message, /materialized view m is declared twice.*line 4, column 26/);
  });

  it('a materialized view without a serving store writes its changelog topic (src/orchestrate/view-loaders.test.ts)', async () => {
    const log = await testLog();
    const define = sqlPipeline(`${EV}CREATE MATERIALIZED VIEW m AS SELECT usr FROM ev;`, { name: 'p' });
    const pipeline = await define({ log: log.log, bounded: true, dataDir: os.tmpdir(), serving: undefined });
    assert.ok(pipeline.topology().nodes.some((n) => n.description === 'log:p-view-m'));
    assert.equal(log.log.hasTopic('p-view-m'), true);
  });

  it('SESSION: PARTITION BY must be the GROUP BY keys; arguments', async () => {
    const other = await refusal(
      `${EV}${OUT3}INSERT INTO out3\nSELECT count(*), 1.0, 'x' FROM TABLE(SESSION(TABLE ev PARTITION BY usr, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, v;`,
    );
    assert.equal(other.code, 'UNSUPPORTED_SQL');
    assert.match(other.message, /SESSION PARTITION BY usr without usr in the GROUP BY.*line 5, column 68/);
    const more = await refusal(
      `${EV}${OUT3}INSERT INTO out3\nSELECT count(*), 1.0, usr FROM TABLE(SESSION(TABLE ev PARTITION BY usr, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, usr, v;`,
    );
    assert.match(more.message, /GROUP BY keys beyond the SESSION PARTITION BY columns.*line 5, column 151/);
    const unknown = await refusal(
      `${EV}${OUT3}INSERT INTO out3\nSELECT count(*), 1.0, 'x' FROM TABLE(SESSION(TABLE ev PARTITION BY nope, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, nope;`,
    );
    assert.match(unknown.message, /unknown column "nope".*line 5/);
    const hop = await refusal(
      `${EV}${OUT3}INSERT INTO out3\nSELECT count(*), 1.0, 'x' FROM TABLE(TUMBLE(TABLE ev PARTITION BY usr, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, usr;`,
    );
    assert.match(hop.message, /PARTITION BY in a window TVF other than SESSION.*line 5, column 54/);
    const gap = await refusal(
      `${EV}${OUT3}INSERT INTO out3\nSELECT count(*), 1.0, usr FROM SESSION(ev, ts, INTERVAL '1' MINUTE, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, usr;`,
    );
    assert.match(gap.message, /too many arguments to SESSION.*line 5, column 32/);
  });

  it('regular GROUP BY: columns outside the keys, window columns, a view without its keys', async () => {
    const outside = await refusal(
      `${EV}CREATE MATERIALIZED VIEW m AS\nSELECT usr, v, count(*) AS n FROM ev GROUP BY usr;`,
    );
    assert.match(outside.message, /column "v" must be in the GROUP BY or inside an aggregate.*line 4, column 13/);
    const windowColumn = await refusal(
      `${EV}CREATE MATERIALIZED VIEW m AS\nSELECT usr, window_start, count(*) AS n FROM ev GROUP BY usr;`,
    );
    assert.match(windowColumn.message, /unknown column "window_start".*line 4, column 13/);
    const noKey = await refusal(`${EV}CREATE MATERIALIZED VIEW m AS\nSELECT count(*) AS n FROM ev GROUP BY usr;`);
    assert.match(noKey.message, /keyed by the GROUP BY keys: select GROUP BY key 1 too.*line 4, column 1/);
  });

  it('OVER: frames, order, several windows, functions, columns', async () => {
    const over = (select: string) => refusal(`${EV}CREATE MATERIALIZED VIEW m AS\n${select};`);
    const unbounded = await over(`SELECT usr, sum(v) OVER (PARTITION BY usr ORDER BY ts) AS s FROM ev`);
    assert.match(unbounded.message, /the OVER frame .* is not supported.*unbounded frame.*line 4, column 13/);
    const order = await over(
      `SELECT usr, sum(v) OVER (PARTITION BY usr ORDER BY v ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s FROM ev`,
    );
    assert.match(order.message, /an OVER window not ordered by the event-time column.*line 4, column 13/);
    const two = await over(
      `SELECT usr, sum(v) OVER (PARTITION BY usr ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s, ` +
        `max(v) OVER (PARTITION BY usr ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS m FROM ev`,
    );
    assert.match(two.message, /OVER aggregates with different windows in one query.*line 4, column 103/);
    const rank = await over(
      `SELECT usr, row_number() OVER (PARTITION BY usr ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS r FROM ev`,
    );
    assert.match(rank.message, /ROW_NUMBER\(\) not partitioned by the window.*line 4, column 13/);
    const column = await over(
      `SELECT usr, v, sum(v) OVER (PARTITION BY usr ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s FROM ev`,
    );
    assert.match(column.message, /column "v" must be in the GROUP BY or inside an aggregate.*line 4, column 13/);
    const plain = await over(
      `SELECT usr, max(v) AS x, sum(v) OVER (PARTITION BY usr ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s FROM ev`,
    );
    assert.match(plain.message, /max\(\) needs OVER \(…\) here.*line 4, column 13/);
  });

  it('approx_quantile: a constant quantile in [0, 1]', async () => {
    const window = `FROM TUMBLE(ev, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, usr`;
    const range = await refusal(
      `${EV}CREATE MATERIALIZED VIEW m AS\nSELECT usr, window_start, approx_quantile(v, 1.5) AS q ${window};`,
    );
    assert.match(range.message, /approx_quantile\(\)'s quantile must be a constant in \[0, 1\].*line 4, column 46/);
    const column = await refusal(
      `${EV}CREATE MATERIALIZED VIEW m AS\nSELECT usr, window_start, approx_quantile(v, v) AS q ${window};`,
    );
    assert.match(column.message, /expected a constant, got column v.*line 4, column 46/);
  });

  it('joins: kinds, bounds, columns, aggregations', async () => {
    const t = `CREATE TABLE a (k BIGINT, x DOUBLE, ts BIGINT, WATERMARK FOR ts AS ts);
CREATE TABLE b (k BIGINT, y DOUBLE, ts BIGINT, WATERMARK FOR ts AS ts);
CREATE TABLE o (k BIGINT, v DOUBLE);
INSERT INTO o\n`;
    const bounds = `a.ts BETWEEN b.ts - INTERVAL '1' SECOND AND b.ts`;
    const left = await refusal(`${t}SELECT a.k, y FROM a LEFT JOIN b ON a.k = b.k AND ${bounds};`);
    assert.match(left.message, /LEFT JOIN is not supported.*line 5, column 22/);
    const cross = await refusal(`${t}SELECT a.k, y FROM a JOIN b ON a.ts <= b.ts;`);
    assert.match(cross.message, /a join without an equality between its two sides.*line 5, column 22/);
    const ambiguous = await refusal(`${t}SELECT k, y FROM a JOIN b ON a.k = b.k AND ${bounds};`);
    assert.match(ambiguous.message, /column k is ambiguous: qualify it \(a.k\).*line 5, column 8/);
    const ungrouped = await refusal(`${t}SELECT a.k, sum(y) FROM a JOIN b ON a.k = b.k AND ${bounds};`);
    assert.match(ungrouped.message, /sum\(\) over a join needs a GROUP BY.*line 5, column 13/);
    const empty = await refusal(
      `${t}SELECT a.k, y FROM a JOIN b ON a.k = b.k AND a.ts > b.ts AND a.ts < b.ts + INTERVAL '1' MILLISECOND;`,
    );
    assert.match(empty.message, /the join's time bounds leave no interval.*line 5, column 22/);
  });

  it('late data: option values, and two window aggregations over a table with late.topic', async () => {
    const lateness = await refusal(`CREATE TABLE t (a BIGINT) WITH ('allowed.lateness' = 'soon');`);
    assert.match(
      lateness.message,
      /'allowed.lateness' must be a duration such as '30 s', got 'soon'.*line 1, column 54/,
    );
    const twice = await refusal(
      `${EV}CREATE MATERIALIZED VIEW a AS SELECT usr, window_start, count(*) AS n FROM TUMBLE(ev, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, usr;
CREATE MATERIALIZED VIEW b AS SELECT usr, window_start, count(*) AS n FROM TUMBLE(ev, ts, INTERVAL '1' HOUR) GROUP BY window_start, window_end, usr;`,
    );
    assert.equal(twice.code, 'UNSUPPORTED_SQL');
    assert.match(
      twice.message,
      /a second window aggregation over ev, whose late records go to 'ev-late'.*line 4, column 26/,
    );
  });

  it('DDL errors name their position too', async () => {
    const bad = await refusal(`CREATE TABLE t (a BIGINT, b MAP<VARCHAR, BIGINT>);`);
    assert.equal(bad.code, 'UNSUPPORTED_SQL');
    assert.match(bad.message, /column type MAP.*line 1, column 29/);
    const watermark = await refusal(`CREATE TABLE t (a BIGINT, WATERMARK FOR ts AS ts);`);
    assert.match(watermark.message, /unknown column "ts" in WATERMARK FOR.*line 1, column 41/);
    const option = await refusal(`CREATE TABLE t (a BIGINT) WITH ('format' = 'avro');`);
    assert.match(option.message, /format 'avro'.*line 1, column 44/);
  });

  it('a window over a table without event time, and a window without GROUP BY', async () => {
    const noTime = await refusal(
      `CREATE TABLE t (a BIGINT, ts BIGINT); CREATE TABLE o (n BIGINT);
       INSERT INTO o SELECT count(*) FROM TUMBLE(t, ts, INTERVAL '1' SECOND) GROUP BY window_start, window_end;`,
    );
    assert.match(noTime.message, /table t has no event time.*line 2/);
    const noGroup = await refusal(
      `${BID}CREATE TABLE o (a BIGINT);\nINSERT INTO o SELECT auction FROM SESSION(bid, dateTime, INTERVAL '1' SECOND);`,
    );
    assert.equal(noGroup.code, 'UNSUPPORTED_SQL');
    assert.match(noGroup.message, /SESSION window TVF without GROUP BY.*line 10/);
  });
});

/** An embedded log in a temporary directory with JSON produce and read (src/testing.ts sits above this layer). */
async function testLog() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sql-'));
  const log: Log = await openLog({ dataDir, fsync: { mode: 'none' } });
  after(async () => {
    await log.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const format = json<unknown>();
  return {
    log,
    async produce<T>(topic: string, values: T[], options: { key?: (v: T) => string; partitions?: number } = {}) {
      const partitions = options.partitions ?? 1;
      if (!log.hasTopic(topic)) await log.createTopic(topic, { partitions });
      for (const [i, value] of values.entries()) {
        const key = options.key?.(value);
        const partition = key === undefined ? 0 : Number(key.replace(/\D/g, '') || 0) % partitions;
        await log.append(topic, partition, [
          { key: key === undefined ? null : Buffer.from(key), value: format.encode(value), timestamp: i },
        ]);
      }
    },
    async read<T = Record<string, unknown>>(topic: string): Promise<T[]> {
      const out: T[] = [];
      for (const { partition, logStartOffset, logEndOffset } of log.describeTopic(topic).partitions) {
        let offset = logStartOffset;
        while (offset < logEndOffset) {
          const page = log.readRecords(topic, partition, offset, { maxBytes: 1 << 20 });
          for (const record of page.records) if (record.value) out.push(format.decode(record.value) as T);
          offset = page.nextOffset;
        }
      }
      return out;
    },
  };
}

/** Builds a definition in bounded mode and runs it to the end of the log, as `sluice run --bounded` does. */
async function runBounded(define: PipelineDefinition, log: Log): Promise<Pipeline> {
  const pipeline = await define({ log, bounded: true, dataDir: os.tmpdir(), serving: undefined });
  await pipeline.run();
  return pipeline;
}

interface Event {
  key: string;
  ts: number;
  value: number;
}

describe('streaming SQL: end to end over the embedded log', () => {
  it('a tumbling-window count and sum equal the DataStream pipeline', async () => {
    const log = await testLog();
    const events: Event[] = [];
    for (let i = 0; i < 3000; i++) {
      // Disorder within the 5 s bound, 7 keys, 60 s windows over ~10 minutes.
      events.push({ key: `k${i % 7}`, ts: i * 200 + ((i * 7919) % 5000), value: (i * 31) % 100 });
    }
    await log.produce('events', events, { key: (e) => e.key, partitions: 3 });

    const sql = sqlPipeline(
      `CREATE TABLE events (key VARCHAR, ts BIGINT, value BIGINT, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
         WITH ('topic' = 'events', 'format' = 'json');
       CREATE TABLE totals (window_start BIGINT, window_end BIGINT, key VARCHAR, cnt BIGINT, total BIGINT)
         WITH ('topic' = 'sql-totals', 'key' = 'key');
       INSERT INTO totals
       SELECT window_start, window_end, key, count(*), sum(value)
       FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '60' SECOND))
       GROUP BY window_start, window_end, key;`,
      { name: 'sql-totals' },
    );
    const ran = await runBounded(sql, log.log);
    assert.equal(ran.metrics().deadLetters, 0);

    const expected = collect<{ window_start: number; window_end: number; key: string; cnt: number; total: number }>();
    const dataStream = definePipeline(({ log: l, bounded }) => {
      const p = new Pipeline({ name: 'ds-totals', bounded });
      p.source(logSource({ log: l, topic: 'events', format: json<Event>() }))
        .withTimestamps((e) => e.ts, watermarks.boundedOutOfOrderness('5s'))
        .keyBy((e) => e.key)
        .window(windows.tumbling('60s'))
        .aggregate(agg.multi({ cnt: agg.count<Event>(), total: agg.sum((e: Event) => e.value) }))
        .map((r) => ({
          window_start: r.windowStart,
          window_end: r.windowEnd,
          key: r.key,
          cnt: r.value.cnt,
          total: r.value.total,
        }))
        .sinkTo(expected);
      return p;
    });
    await runBounded(dataStream, log.log);

    const order = (rows: { window_start: number; key: string }[]) =>
      [...rows].sort((a, b) => a.window_start - b.window_start || a.key.localeCompare(b.key));
    const got = order(await log.read('sql-totals'));
    assert.ok(got.length > 50, `${got.length} windows`);
    assert.deepEqual(got, order(expected.values));
    assert.equal(
      got.reduce((n, r) => n + (r as unknown as { cnt: number }).cnt, 0),
      events.length,
    );
  });

  it('a regular GROUP BY into a keyed serving table and a changelog topic; a SESSION view', async () => {
    const log = await testLog();
    const events: Event[] = [];
    for (let i = 0; i < 600; i++) {
      // Bursts per key with 40 s pauses: sessions of a 10 s gap.
      events.push({ key: `k${i % 3}`, ts: Math.floor(i / 30) * 50_000 + (i % 30) * 200, value: i % 10 });
    }
    await log.produce('events', events, { key: (e) => e.key, partitions: 1 });
    const serving = await ServingStore.open({ dir: fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sql-serve-')) });
    after(() => serving.close());
    const sql = sqlPipeline(
      `CREATE TABLE events (key VARCHAR, ts BIGINT, value BIGINT, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);
       CREATE MATERIALIZED VIEW totals AS SELECT key, count(*) AS n, sum(value) AS total FROM events GROUP BY key;
       CREATE TABLE changes (key VARCHAR, n BIGINT) WITH ('topic' = 'changes', 'key' = 'key');
       INSERT INTO changes SELECT key, count(*) FROM events WHERE value > 4 GROUP BY key;
       CREATE MATERIALIZED VIEW sessions AS
       SELECT key, window_start AS session_start, window_end AS session_end, count(*) AS n
       FROM TABLE(SESSION(TABLE events PARTITION BY key, DESCRIPTOR(ts), INTERVAL '10' SECOND))
       GROUP BY window_start, window_end, key;`,
    );
    await (await sql({ log: log.log, bounded: true, dataDir: os.tmpdir(), serving })).run();
    const totals = await serving.query('SELECT key, n, total FROM totals ORDER BY key');
    const expected = ['k0', 'k1', 'k2'].map((key) => {
      const mine = events.filter((e) => e.key === key);
      return [key, mine.length, mine.reduce((n, e) => n + e.value, 0)];
    });
    assert.deepEqual(
      totals.rows.map((r) => (r as unknown[]).map((v, j) => (j === 0 ? v : Number(v)))),
      expected,
    );
    // The changelog: a row per key and batch of records that changed it (mini-batch), the count of its key so far,
    // growing; the last per key wins.
    const changes = await log.read<{ key: string; n: number }>('changes');
    assert.ok(changes.length >= 3 && changes.length <= events.filter((e) => e.value > 4).length, `${changes.length}`);
    for (const key of ['k0', 'k1', 'k2']) {
      const counts = changes.filter((c) => c.key === key).map((c) => c.n);
      assert.deepEqual(
        counts,
        [...counts].sort((a, b) => a - b),
        `${key}: counts only grow`,
      );
    }
    const last = new Map(changes.map((c) => [c.key, c.n]));
    assert.deepEqual([...last.values()], [100, 100, 100]);
    // 20 bursts of 30 events, 10 per key each: one session per burst and key.
    const sessions = await serving.query('SELECT count(*) AS sessions, sum(n) AS events FROM sessions');
    assert.deepEqual((sessions.rows[0] as unknown[]).map(Number), [60, 600]);
  });

  it('sqlStream: a SELECT inside a TypeScript pipeline, over a bound DataStream, equals the DataStream API', async () => {
    const log = await testLog();
    const events: Event[] = [];
    for (let i = 0; i < 1000; i++) events.push({ key: `k${i % 4}`, ts: i * 300 + ((i * 7919) % 3000), value: i % 7 });
    await log.produce('events', events, { key: (e) => e.key, partitions: 2 });

    const got = collect<{ key: string; start: number; n: number; total: number }>();
    const expected = collect<{ key: string; start: number; n: number; total: number }>();
    const definition = definePipeline(async (env) => {
      const p = new Pipeline({ name: 'mixed', bounded: env.bounded });
      const stream = p.source(logSource({ log: env.log, topic: 'events', format: json<Event>() }));
      const rows = await sqlStream(
        p,
        env,
        `CREATE TABLE ev (key VARCHAR, ts BIGINT, value BIGINT, WATERMARK FOR ts AS ts - INTERVAL '3' SECOND);
         SELECT key, window_start AS start, count(*) AS n, sum(value) AS total
         FROM TUMBLE(ev, ts, INTERVAL '30' SECOND) WHERE value > 0 GROUP BY window_start, window_end, key;`,
        { streams: { ev: stream as unknown as DataStream<Row> } },
      );
      rows.map((r) => r as unknown as { key: string; start: number; n: number; total: number }).sinkTo(got);
      stream
        .filter((e) => e.value > 0)
        .withTimestamps((e) => e.ts, watermarks.boundedOutOfOrderness('3s'))
        .keyBy((e) => e.key)
        .window(windows.tumbling('30s'))
        .aggregate(agg.multi({ n: agg.count<Event>(), total: agg.sum((e: Event) => e.value) }))
        .map((r) => ({ key: r.key, start: r.windowStart, n: r.value.n, total: r.value.total }))
        .sinkTo(expected);
      return p;
    });
    await runBounded(definition, log.log);
    const order = (rows: { start: number; key: string }[]) =>
      [...rows].sort((a, b) => a.start - b.start || a.key.localeCompare(b.key));
    assert.ok(got.values.length > 20, `${got.values.length} windows`);
    assert.deepEqual(order(got.values), order(expected.values));

    await assert.rejects(
      sqlStream(
        new Pipeline({ name: 'x', bounded: true }),
        { log: log.log },
        `${EV}SELECT usr FROM ev; SELECT v FROM ev;`,
      ),
      /exactly one SELECT .*got 2/,
    );
    await assert.rejects(
      sqlStream(new Pipeline({ name: 'x', bounded: true }), { log: log.log }, `${EV}SELECT usr FROM ev;`, {
        streams: { nope: got as unknown as DataStream<Row> },
      }),
      /streams.nope is bound to no table/,
    );
  });

  it('approximate aggregates: approx_quantile / percentile_approx (DDSketch) and approx_count_distinct (HLL)', async () => {
    const log = await testLog();
    const events: Event[] = [];
    for (let i = 0; i < 4000; i++) events.push({ key: `k${i % 2}`, ts: i * 10, value: (i * 7919) % 1000 });
    await log.produce('events', events, { key: (e) => e.key, partitions: 1 });
    const p = await plan(
      `CREATE TABLE events (key VARCHAR, ts BIGINT, value BIGINT, WATERMARK FOR ts AS ts);
       CREATE TABLE q (key VARCHAR, p50 DOUBLE, p99 DOUBLE, d BIGINT) WITH ('topic' = 'q');
       INSERT INTO q SELECT key, approx_quantile(value, 0.5), percentile_approx(value, 0.99), approx_count_distinct(value)
       FROM TUMBLE(events, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, key;`,
    );
    assert.deepEqual(
      p.inserts[0]!.query.aggregates.map((a) => [a.fn, a.quantile, a.type]),
      [
        ['approx_quantile', 0.5, 'DOUBLE'],
        ['approx_quantile', 0.99, 'DOUBLE'],
        ['approx_count_distinct', undefined, 'BIGINT'],
      ],
    );
    const sql = sqlPipeline(
      `CREATE TABLE events (key VARCHAR, ts BIGINT, value BIGINT, WATERMARK FOR ts AS ts);
       CREATE TABLE q (key VARCHAR, p50 DOUBLE, p99 DOUBLE, d BIGINT) WITH ('topic' = 'q');
       INSERT INTO q SELECT key, approx_quantile(value, 0.5), percentile_approx(value, 0.99), approx_count_distinct(value)
       FROM TUMBLE(events, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, key;`,
    );
    await runBounded(sql, log.log);
    const rows = await log.read<{ key: string; p50: number; p99: number; d: number }>('q');
    assert.equal(rows.length, 2);
    for (const row of rows) {
      const values = events.filter((e) => e.key === row.key).map((e) => e.value);
      const sorted = [...values].sort((a, b) => a - b);
      const exact = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
      assert.ok(Math.abs(row.p50 - exact(0.5)) <= exact(0.5) * 0.03, `p50 ${row.p50} ~ ${exact(0.5)}`);
      assert.ok(Math.abs(row.p99 - exact(0.99)) <= exact(0.99) * 0.03, `p99 ${row.p99} ~ ${exact(0.99)}`);
      const distinct = new Set(values).size;
      assert.ok(Math.abs(row.d - distinct) <= distinct * 0.03, `distinct ${row.d} ~ ${distinct}`);
    }
  });

  it('an interval join (ON keys AND time bounds) equals intervalJoin of the DataStream API', async () => {
    const log = await testLog();
    interface View {
      viewId: string;
      ad: string;
      ts: number;
    }
    const views: View[] = [];
    const clicks: View[] = [];
    for (let i = 0; i < 1000; i++) {
      const view = { viewId: `v${i}`, ad: `ad${i % 5}`, ts: i * 1000 + ((i * 7919) % 3000) };
      views.push(view);
      // Some clicks within 10 s of their view, some too late, one per three views.
      if (i % 3 === 0) clicks.push({ viewId: view.viewId, ad: view.ad, ts: view.ts + ((i * 31) % 14) * 1000 });
    }
    await log.produce('views', views, { partitions: 1 });
    await log.produce('clicks', clicks, { partitions: 1 });
    const tables = `
      CREATE TABLE views (viewId VARCHAR, ad VARCHAR, ts BIGINT, WATERMARK FOR ts AS ts - INTERVAL '3' SECOND);
      CREATE TABLE clicks (viewId VARCHAR, ad VARCHAR, ts BIGINT, WATERMARK FOR ts AS ts - INTERVAL '3' SECOND);
      CREATE TABLE attributed (viewId VARCHAR, ad VARCHAR, delay BIGINT) WITH ('topic' = 'attributed');`;
    const p = await plan(
      `${tables}
       INSERT INTO attributed SELECT c.viewId, v.ad, c.ts - v.ts
       FROM clicks c JOIN views AS v ON c.viewId = v.viewId AND v.ts BETWEEN c.ts - INTERVAL '10' SECOND AND c.ts
       WHERE v.ad <> 'ad4';`,
    );
    const join = p.inserts[0]!.query.join!;
    assert.equal(join.right.name, 'views');
    assert.deepEqual([join.lowerMs, join.upperMs, join.leftKeys.length], [-10_000, 0, 1]);
    const explained = await explainSql(
      `${tables} INSERT INTO attributed SELECT c.viewId, v.ad, c.ts - v.ts FROM clicks c, views v
       WHERE c.viewId = v.viewId AND c.ts >= v.ts AND c.ts < v.ts + INTERVAL '10' SECOND;`,
    );
    assert.match(explained, /interval-join \(operator: IntervalJoinOperator\)/);
    const comma = await plan(
      `${tables} INSERT INTO attributed SELECT c.viewId, v.ad, c.ts - v.ts FROM clicks c, views v
       WHERE c.viewId = v.viewId AND c.ts >= v.ts AND c.ts < v.ts + INTERVAL '10' SECOND AND v.ad <> 'ad4';`,
    );
    assert.deepEqual([comma.inserts[0]!.query.join!.lowerMs, comma.inserts[0]!.query.join!.upperMs], [-9_999, 0]);

    const sql = sqlPipeline(
      `${tables}
       INSERT INTO attributed SELECT c.viewId, v.ad, c.ts - v.ts
       FROM clicks c JOIN views AS v ON c.viewId = v.viewId AND v.ts BETWEEN c.ts - INTERVAL '10' SECOND AND c.ts
       WHERE v.ad <> 'ad4';`,
    );
    await runBounded(sql, log.log);
    const expected = collect<{ viewId: string; ad: string; delay: number }>();
    await runBounded(
      definePipeline(({ log: l, bounded }) => {
        const p = new Pipeline({ name: 'ds-join', bounded });
        const strategy = watermarks.boundedOutOfOrderness('3s');
        const v = p
          .source(logSource({ log: l, topic: 'views', format: json<View>() }))
          .withTimestamps((x) => x.ts, strategy);
        const c = p
          .source(logSource({ log: l, topic: 'clicks', format: json<View>() }))
          .withTimestamps((x) => x.ts, strategy);
        c.keyBy((x) => x.viewId)
          .intervalJoin(
            v.keyBy((x) => x.viewId),
            { lower: '-10s', upper: 0 },
            (click, view) => ({
              viewId: click.viewId,
              ad: view.ad,
              delay: click.ts - view.ts,
            }),
          )
          .filter((r) => r.ad !== 'ad4')
          .sinkTo(expected);
        return p;
      }),
      log.log,
    );
    const order = (rows: { viewId: string }[]) => [...rows].sort((a, b) => a.viewId.localeCompare(b.viewId));
    const got = await log.read<{ viewId: string; ad: string; delay: number }>('attributed');
    assert.ok(got.length > 100 && got.length < clicks.length, `${got.length} of ${clicks.length} clicks attributed`);
    assert.deepEqual(order(got), order(expected.values));
  });

  it('a projection with a filter, and records that do not fit the table go to dead letters', async () => {
    const log = await testLog();
    await log.produce('clicks', [
      { page: '/a', ms: 10, ts: '2024-05-01 10:00:00' },
      { page: '/b', ms: 300, ts: '2024-05-01T10:00:01Z' },
      { page: 7, ms: 1, ts: 0 },
      { page: '/c', ms: 500, ts: 1714557603000 },
    ]);
    const sql = sqlPipeline(
      `CREATE TABLE clicks (page VARCHAR, ms BIGINT, ts TIMESTAMP);
       CREATE TABLE slow (page VARCHAR, seconds DOUBLE, ts TIMESTAMP, tier VARCHAR) WITH ('topic' = 'slow');
       INSERT INTO slow SELECT upper(page), ms / 1000.0, ts, CASE WHEN ms >= 400 THEN 'bad' ELSE 'meh' END
       FROM clicks WHERE ms > 100;`,
    );
    const ran = await runBounded(sql, log.log);
    assert.equal(ran.metrics().deadLetters, 1);
    assert.deepEqual(await log.read('slow'), [
      { page: '/B', seconds: 0.3, ts: Date.parse('2024-05-01T10:00:01Z'), tier: 'meh' },
      { page: '/C', seconds: 0.5, ts: 1714557603000, tier: 'bad' },
    ]);
  });
});
