// Late data in SQL beyond the window aggregations: an interval join's records behind the watermark to their own
// table's late.topic (each side's to its own; in memory and over the embedded log, where the pairs are exactly those
// of the records that were not late), a regular join pairing them (nothing late), the planner letting one
// query write a table's late records (refused at a second, with both positions), and CUMULATE windows with
// 'allowed.lateness' (fired windows updated by late records) and 'late.topic', their state through a snapshot.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import v8 from 'node:v8';
import { sqlPlanning } from '../../test/helpers/sql-planning.ts';
import { OperatorHarness } from '../engine/harness.ts';
import { collect, type DataStream, fromArrays, json, LATE_TAG, Pipeline } from '../engine/index.ts';
import type { Operator } from '../engine/types.ts';
import { openLog } from '../log/index.ts';
import { sqlAggregates } from './aggregates.ts';
import { addToPipeline, tablesRead } from './build.ts';
import { cumulate } from './cumulate.ts';
import { explainSql, sqlPipeline } from './index.ts';
import { planScript } from './planner.ts';
import { KIND, type KindedRow } from './rows.ts';
import type { Row, Value } from './types.ts';

const TABLES = `CREATE TABLE views (ad VARCHAR, vt BIGINT, WATERMARK FOR vt AS vt)
  WITH ('late.topic' = 'views-late', 'key' = 'ad');
CREATE TABLE clicks (ad VARCHAR, ct BIGINT, WATERMARK FOR ct AS ct) WITH ('late.topic' = 'clicks-late');
CREATE TABLE plain (ad VARCHAR, pt BIGINT, WATERMARK FOR pt AS pt);
CREATE TABLE out (ad VARCHAR, vt BIGINT, ct BIGINT) WITH ('topic' = 'out');
CREATE TABLE counts (ad VARCHAR, n BIGINT) WITH ('topic' = 'counts');
`;
const JOIN = `SELECT c.ad, v.vt, c.ct FROM clicks c JOIN views v
  ON c.ad = v.ad AND v.vt BETWEEN c.ct - INTERVAL '10' SECOND AND c.ct`;
const WINDOW = `SELECT ad, count(*) FROM TUMBLE(views, vt, INTERVAL '1' MINUTE) GROUP BY ad, window_start, window_end`;

const refusal = async (text: string) => (await sqlPlanning(TABLES).refusal(text)).message;

type Event = Row & { table: string };

/** Runs a script over `events` (one stream, in order, a record a batch): its INSERTs' rows, and each table's late
 * records (the sink standing for its late.topic), without the `table` tag. */
async function run(script: string, events: Event[]): Promise<{ rows: KindedRow[]; late: Map<string, Row[]> }> {
  const plan = await planScript(script);
  const p = new Pipeline({ bounded: true, onError: 'fail' });
  const all = p.source(fromArrays([events], { batchSize: 1 })) as unknown as DataStream<Event>;
  const streams = new Map<string, DataStream<Row>>();
  const lateSinks = new Map<string, ReturnType<typeof collect<Row>>>();
  for (const table of plan.inserts.flatMap((insert) => tablesRead(insert.query))) {
    streams.set(table.name, all.filter((e) => e.table === table.name) as unknown as DataStream<Row>);
    lateSinks.set(table.name, collect<Row>());
  }
  const sink = collect<Row>();
  const sinks = new Map(plan.inserts.map((insert) => [insert.sink.name, sink]));
  await addToPipeline(p, plan, { log: {} as never, sinks, lateSinks, ensureTopics: false }, streams);
  await p.run();
  const untagged = (rows: Row[]) => rows.map(({ table: _, ...row }) => row);
  return {
    rows: sink.values as KindedRow[],
    late: new Map([...lateSinks].map(([name, s]) => [name, untagged(s.values)])),
  };
}

const view = (ad: string, vt: number): Event => ({ table: 'views', ad, vt });
const click = (ad: string, ct: number): Event => ({ table: 'clicks', ad, ct });

// The join's watermark is the lower of the two tables' (each its latest time): 20 000 once both passed it.
const EVENTS: Event[] = [
  view('a', 1000),
  click('a', 1500),
  view('b', 20_000),
  click('b', 20_500),
  view('a', 5000), // behind the watermark: late on the right
  click('a', 6000), // late on the left
  view('x', 4000), // late, but filtered out by the right side's WHERE first
  click('b', 21_000),
  view('c', 30_000),
  click('c', 30_100),
];

const pairs = (rows: Row[]) => rows.map((r) => `${r.ad} ${r.vt} ${r.ct}`);

describe('streaming SQL: an interval join sends each side’s late records to its table’s late.topic', () => {
  it('plans a sink per side on the join’s late-left / late-right outputs (EXPLAIN)', async () => {
    const explained = await explainSql(`${TABLES}INSERT INTO out ${JOIN};`);
    assert.match(explained, /sink:log:clicks-late \(sink: log:clicks-late\) <- interval-join\[late-left\]/);
    assert.match(explained, /sink:log:views-late \(sink: log:views-late\) <- interval-join\[late-right\]/);
    assert.match(explained, /no window, late records of clicks to topic clicks-late, late records of views to topic/);
    // Only a side that is a table with late.topic: not `plain`, not a subquery.
    const one = await explainSql(
      `${TABLES}INSERT INTO out SELECT p.ad, v.vt, p.pt FROM plain p JOIN (SELECT ad, vt FROM views WHERE vt > 0) v
        ON p.ad = v.ad AND v.vt BETWEEN p.pt - INTERVAL '10' SECOND AND p.pt;`,
    );
    assert.doesNotMatch(one, /late-(left|right)|-late/);
    const left = await explainSql(
      `${TABLES}INSERT INTO out SELECT c.ad, p.pt, c.ct FROM clicks c JOIN plain p
        ON c.ad = p.ad AND p.pt BETWEEN c.ct - INTERVAL '10' SECOND AND c.ct;`,
    );
    assert.match(left, /sink:log:clicks-late \(sink: log:clicks-late\) <- interval-join\[late-left\]/);
    assert.doesNotMatch(left, /late-right/);
  });

  it('on-time records are joined as before; each side’s late ones land in its own late topic (after WHERE)', async () => {
    const { rows, late } = await run(`${TABLES}INSERT INTO out ${JOIN} WHERE v.ad <> 'x';`, EVENTS);
    assert.deepEqual(pairs(rows), ['a 1000 1500', 'b 20000 20500', 'b 20000 21000', 'c 30000 30100']);
    assert.deepEqual(late.get('views'), [{ ad: 'a', vt: 5000 }]);
    assert.deepEqual(late.get('clicks'), [{ ad: 'a', ct: 6000 }]);
  });

  it('a side without late.topic drops its late records (counted); the other side’s still go to its topic', async () => {
    const script = `${TABLES}CREATE TABLE v2 (ad VARCHAR, vt BIGINT, WATERMARK FOR vt AS vt);
      INSERT INTO out SELECT c.ad, v.vt, c.ct FROM clicks c JOIN v2 v
        ON c.ad = v.ad AND v.vt BETWEEN c.ct - INTERVAL '10' SECOND AND c.ct;`;
    const events = EVENTS.map((e) => (e.table === 'views' ? { ...e, table: 'v2' } : e));
    const { rows, late } = await run(script, events);
    assert.deepEqual(pairs(rows), ['a 1000 1500', 'b 20000 20500', 'b 20000 21000', 'c 30000 30100']);
    assert.deepEqual(late.get('clicks'), [{ ad: 'a', ct: 6000 }]);
    assert.deepEqual(late.get('v2'), []);
  });

  it('a regular join pairs records behind the watermark: nothing is late, nothing goes to late.topic', async () => {
    const { rows, late } = await run(
      `${TABLES}INSERT INTO out SELECT c.ad, v.vt, c.ct FROM clicks c JOIN views v ON c.ad = v.ad;`,
      EVENTS,
    );
    assert.deepEqual(pairs(rows).sort(), [
      'a 1000 1500',
      'a 1000 6000',
      'a 5000 1500',
      'a 5000 6000',
      'b 20000 20500',
      'b 20000 21000',
      'c 30000 30100',
    ]);
    assert.deepEqual(late.get('views'), []);
    assert.deepEqual(late.get('clicks'), []);
  });
});

describe('streaming SQL: an interval join’s late records over the embedded log', () => {
  it('every on-time pair joined, and each late record in its own table’s late topic (views keyed by ad)', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sql-late-'));
    const log = await openLog({ dataDir, fsync: { mode: 'none' } });
    after(async () => {
      await log.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });
    const format = json<unknown>();
    const produce = async (topic: string, values: object[]) => {
      await log.createTopic(topic, { partitions: 1 });
      for (let i = 0; i < values.length; i += 500) {
        const records = values
          .slice(i, i + 500)
          .map((v, j) => ({ key: null, value: format.encode(v), timestamp: i + j }));
        await log.append(topic, 0, records);
      }
    };
    const read = (topic: string) => {
      const out: { key: string | null; value: Record<string, unknown> }[] = [];
      let offset = 0;
      const end = log.describeTopic(topic).partitions[0]!.logEndOffset;
      while (offset < end) {
        const page = log.readRecords(topic, 0, offset, { maxBytes: 1 << 20 });
        for (const r of page.records) {
          out.push({ key: r.key ? r.key.toString() : null, value: format.decode(r.value!) as Record<string, unknown> });
        }
        offset = page.nextOffset;
      }
      return out;
    };
    // Two feeds in time order with a record 20 s behind now and then: more than a batch each, so that the join's
    // watermark (the lower of the two) has moved when the later batches come.
    const n = 6000;
    const views = Array.from({ length: n }, (_, i) => ({
      id: i,
      ad: `ad${i % 7}`,
      vt: i * 100 - (i % 13 === 0 ? 20_000 : 0),
    }));
    const clicks = Array.from({ length: n }, (_, i) => ({
      id: i,
      ad: `ad${(i * 3) % 7}`,
      ct: i * 100 + 50 - (i % 11 === 0 ? 20_000 : 0),
    }));
    await produce('views', views);
    await produce('clicks', clicks);
    const script = `CREATE TABLE views (id BIGINT, ad VARCHAR, vt BIGINT, WATERMARK FOR vt AS vt - INTERVAL '1' SECOND)
        WITH ('late.topic' = 'views-late', 'key' = 'ad');
      CREATE TABLE clicks (id BIGINT, ad VARCHAR, ct BIGINT, WATERMARK FOR ct AS ct - INTERVAL '1' SECOND)
        WITH ('late.topic' = 'clicks-late');
      CREATE TABLE out (v BIGINT, c BIGINT) WITH ('topic' = 'out');
      INSERT INTO out SELECT v.id, c.id FROM clicks c JOIN views v
        ON c.ad = v.ad AND v.vt BETWEEN c.ct - INTERVAL '2' SECOND AND c.ct;`;
    const pipeline = await sqlPipeline(script)({ log, bounded: true, dataDir, serving: undefined });
    await pipeline.run();
    const lateViews = read('views-late');
    const lateClicks = read('clicks-late');
    const late = pipeline.metrics().operators.find((o) => o.name === 'interval-join')!.lateRecords;
    // Which side's records come late depends on how the two sources' reads interleave (the join's watermark is the
    // lower of theirs; under load one may run ahead): late records of some side, each in its own table's topic. The
    // in-memory runs above check each side's routing with one ordered stream.
    assert.ok(lateViews.length + lateClicks.length > 0, `${lateViews.length} and ${lateClicks.length} late`);
    assert.equal(lateViews.length + lateClicks.length, late, 'every record the join counted late, in a topic');
    // The table's rows (its declared columns), keyed by its key column (views) or not (clicks).
    for (const { key, value } of lateViews) assert.deepEqual([key, value], [value.ad, views[value.id as number]]);
    for (const { key, value } of lateClicks) assert.deepEqual([key, value], [null, clicks[value.id as number]]);
    // The pairs are exactly those of the records that were not late.
    const lateView = new Set(lateViews.map((r) => r.value.id));
    const lateClick = new Set(lateClicks.map((r) => r.value.id));
    const expected: string[] = [];
    for (const c of clicks) {
      if (lateClick.has(c.id)) continue;
      for (const v of views) {
        if (!lateView.has(v.id) && v.ad === c.ad && v.vt >= c.ct - 2000 && v.vt <= c.ct)
          expected.push(`${v.id} ${c.id}`);
      }
    }
    const got = read('out').map((r) => `${r.value.v} ${r.value.c}`);
    assert.ok(expected.length > 1000, `${expected.length} pairs`);
    assert.deepEqual(got.sort(), expected.sort());
  });
});

describe('streaming SQL: one query writes a table’s late records', () => {
  it('a window aggregation and an interval join over the same late.topic table are refused at the second', async () => {
    const message = await refusal(`INSERT INTO counts ${WINDOW};\nINSERT INTO out ${JOIN};`);
    assert.match(
      message,
      /a second interval join over views, whose late records go to 'views-late' \(the window aggregation at line 7, column 13 writes them\) is not supported.*line 8, column 13/,
    );
    const reversed = await refusal(`INSERT INTO out ${JOIN};\nINSERT INTO counts ${WINDOW};`);
    assert.match(
      reversed,
      /a second window aggregation over views.*\(the interval join at line 7, column 13.*line 9, column 13/,
    );
  });

  it('two interval joins, an OVER and a join, and a window inside a view are refused too', async () => {
    const twice = await refusal(`INSERT INTO out ${JOIN};\nINSERT INTO out ${JOIN};`);
    assert.match(
      twice,
      /a second interval join over clicks, whose late records go to 'clicks-late'.*line 9, column 13/,
    );
    const over = await refusal(
      `INSERT INTO counts SELECT ad, count(*) OVER (PARTITION BY ad ORDER BY ct ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM clicks;
INSERT INTO out ${JOIN};`,
    );
    assert.match(
      over,
      /a second interval join over clicks.*\(the OVER aggregation at line 7, column 13.*line 8, column 13/,
    );
    // Through a view: its window aggregation over views writes views' late records wherever it is read.
    const viewed = await refusal(
      `CREATE VIEW per_minute AS SELECT ad, window_end AS we, count(*) AS n FROM TUMBLE(views, vt, INTERVAL '1' MINUTE) GROUP BY ad, window_start, window_end;
INSERT INTO counts SELECT ad, n FROM per_minute;
INSERT INTO out ${JOIN};`,
    );
    assert.match(
      viewed,
      /a second interval join over views.*\(the window aggregation at line 8, column 13.*line 9, column 13/,
    );
    const self = await refusal(
      `INSERT INTO out SELECT a.ad, b.vt, a.vt FROM views a JOIN views b ON a.ad = b.ad AND b.vt BETWEEN a.vt - INTERVAL '1' SECOND AND a.vt;`,
    );
    assert.match(
      self,
      /an interval join of views with itself, whose late records go to 'views-late'.*line 7, column 13/,
    );
    // A view of the table on one side has no late.topic: the other side's late records are the table's.
    const viewSide = await planScript(
      `${TABLES}CREATE VIEW v AS SELECT ad, vt FROM views;
       INSERT INTO out SELECT a.ad, b.vt, a.vt FROM views a JOIN v b ON a.ad = b.ad AND b.vt BETWEEN a.vt - INTERVAL '1' SECOND AND a.vt;`,
    );
    assert.equal(viewSide.inserts.length, 1);
  });

  it('a regular join is no writer; equal window aggregations of two subqueries are computed and written once', async () => {
    const regular = await planScript(
      `${TABLES}INSERT INTO counts ${WINDOW};
       INSERT INTO out SELECT c.ad, v.vt, c.ct FROM clicks c JOIN views v ON c.ad = v.ad;`,
    );
    assert.equal(regular.inserts.length, 2);
    // Nexmark q5's shape: the same window counts twice, joined on the window's end.
    const shared = `SELECT ad, window_end AS we, count(*) AS n FROM HOP(views, vt, INTERVAL '2' SECOND, INTERVAL '10' SECOND) GROUP BY ad, window_start, window_end`;
    const q5 = await planScript(
      `${TABLES}INSERT INTO counts SELECT a.ad, a.n FROM (${shared}) a JOIN (${shared}) b ON a.we = b.we AND a.n >= b.n;`,
    );
    assert.equal(q5.inserts.length, 1);
    const explained = await explainSql(
      `${TABLES}INSERT INTO counts SELECT a.ad, a.n FROM (${shared}) a JOIN (${shared}) b ON a.we = b.we AND a.n >= b.n;`,
    );
    assert.equal(explained.match(/sink:log:views-late/g)?.length, 1, explained);
  });
});

const E = (late: string) => `CREATE TABLE e (usr VARCHAR, ts BIGINT, WATERMARK FOR ts AS ts) WITH (${late});
CREATE TABLE c (usr VARCHAR, ws BIGINT, we BIGINT, n BIGINT, kind VARCHAR) WITH ('topic' = 'c');
INSERT INTO c SELECT usr, window_start, window_end, count(*), window_kind
FROM TABLE(CUMULATE(TABLE e, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '6' SECOND))
GROUP BY usr, window_start, window_end;`;

const ev = (usr: string, ts: number): Event => ({ table: 'e', usr, ts });
/** The rows as text, sorted (keys whose windows fire at one watermark come in the timers' order). */
const results = (rows: Row[]) => rows.map((r) => `${r.usr} ${r.ws}-${r.we} ${r.n} ${r.kind}`).sort();

describe('streaming SQL: CUMULATE with late.topic and allowed.lateness', () => {
  it('late.topic: a record goes to its still open windows; one whose every window fired goes to the topic', async () => {
    const { rows, late } = await run(E(`'late.topic' = 'e-late'`), [
      ev('a', 500),
      ev('a', 2500),
      ev('b', 4500), // [0, 2 s) and [0, 4 s) fire
      ev('a', 1000), // too late for those two, on time for [0, 6 s) (as Flink's)
      ev('a', 7000), // [0, 6 s) fires
      ev('a', 3000), // every window holding it fired: late
      ev('c', 20_000),
    ]);
    assert.deepEqual(
      results(rows),
      [
        'a 0-2000 1 insert',
        'a 0-4000 2 insert',
        'a 0-6000 3 insert',
        'b 0-6000 1 insert',
        'a 6000-8000 1 insert',
        'a 6000-10000 1 insert',
        'a 6000-12000 1 insert',
        'c 18000-22000 1 insert',
        'c 18000-24000 1 insert',
      ].sort(),
    );
    assert.deepEqual(late.get('e'), [{ usr: 'a', ts: 3000 }]);
  });

  it('allowed.lateness: fired windows within it updated by late records (update, or insert for a new key)', async () => {
    const { rows, late } = await run(E(`'allowed.lateness' = '3 s', 'late.topic' = 'e-late'`), [
      ev('a', 500),
      ev('a', 2500),
      ev('b', 4500), // [0, 2 s) and [0, 4 s) fire
      ev('a', 1000), // updates both
      ev('b', 1500), // b's first rows in both
      ev('a', 7000), // [0, 6 s) fires; [0, 4 s) is past its lateness (3 999 + 3 000)
      ev('a', 3500), // updates [0, 6 s) only
      ev('a', 1200), // [0, 6 s) only again
      ev('x', 10_000), // [0, 6 s) past its lateness too: its panes dropped
      ev('a', 5000), // late
    ]);
    assert.deepEqual(
      results(rows),
      [
        'a 0-2000 1 insert',
        'a 0-4000 2 insert',
        'a 0-2000 2 update',
        'a 0-4000 3 update',
        'b 0-2000 1 insert',
        'b 0-4000 1 insert',
        'a 0-6000 3 insert',
        'b 0-6000 2 insert',
        'a 6000-8000 1 insert',
        'a 0-6000 4 update',
        'a 0-6000 5 update',
        'a 6000-10000 1 insert',
        'a 6000-12000 1 insert',
        'x 6000-12000 1 insert',
      ].sort(),
    );
    assert.deepEqual(late.get('e'), [{ usr: 'a', ts: 5000 }]);
    // Each row carries its kind (a materialized view replaces the row on an update).
    assert.equal(rows.find((r) => r.kind === 'update')?.[KIND], 'update');
  });

  it('allowed.lateness without late.topic: the late records are dropped; EXPLAIN has no late sink', async () => {
    const { rows } = await run(E(`'allowed.lateness' = '1 s'`), [
      ev('a', 500),
      ev('a', 2500), // [0, 2 s) fires
      ev('a', 900), // within its lateness: updated
      ev('a', 4000), // [0, 4 s) fires
      ev('a', 1800), // [0, 2 s) is past its lateness, [0, 4 s) not: updated; [0, 6 s) takes it when it fires
      ev('a', 7500), // [0, 6 s) fires, and is past its lateness at 6 999
      ev('a', 100), // late: dropped
    ]);
    assert.deepEqual(
      results(rows),
      [
        'a 0-2000 1 insert',
        'a 0-2000 2 update',
        'a 0-4000 3 insert',
        'a 0-4000 4 update',
        'a 0-6000 5 insert',
        'a 6000-8000 1 insert',
        'a 6000-10000 1 insert',
        'a 6000-12000 1 insert',
      ].sort(),
    );
    assert.doesNotMatch(await explainSql(E(`'allowed.lateness' = '1 s'`)), /\[late\]/);
    assert.match(
      await explainSql(E(`'late.topic' = 'e-late'`)),
      /sink:log:e-late \(sink: log:e-late\) <- keyed-process\[late\]/,
    );
  });

  it('its state (panes and timers) through a snapshot and restore at every point: the same rows', () => {
    // The operator alone, through the harness: records with watermarks (each record's time: no disorder bound).
    const make = () => {
      const p = new Pipeline({ bounded: true });
      const src = p.source(fromArrays<Row>([[]]));
      const aggregate = sqlAggregates([{ fn: 'count_star', distinct: false, type: 'BIGINT' }]);
      const window = { sizeMs: 6000, slideMs: 2000, offsetMs: 0 };
      const stream = cumulate(src, (r) => r.usr as Value, aggregate, window, 'u', 3000);
      const operator = (stream as unknown as { node: { operator: Operator<Row, unknown> } }).node.operator;
      return new OperatorHarness<
        Row,
        { key: Value; windowStart: number; windowEnd: number; kind: string; value: Value[] }
      >(operator as never, { sideOutputs: [LATE_TAG] });
    };
    const input: [string, number][] = [
      ['a', 500],
      ['a', 2500],
      ['b', 4500],
      ['a', 1000],
      ['b', 1500],
      ['a', 7000],
      ['a', 3500],
      ['a', 1200],
      ['x', 10_000],
      ['a', 5000],
      ['y', 30_000],
    ];
    const feed = (h: ReturnType<typeof make>, from: number, to: number, watermark: { value: number }) => {
      const out: string[] = [];
      let seen = 0;
      for (let i = from; i < to; i++) {
        const [usr, ts] = input[i]!;
        h.process([[{ usr, ts }, ts]]);
        if (ts > watermark.value) h.watermark((watermark.value = ts));
        // A step's rows (keys firing at one timer come in the timers' heap order, which a restore may change).
        const step = h.values().map((r) => `${r.key} ${r.windowStart}-${r.windowEnd} ${r.value[0]} ${r.kind}`);
        const late = h.sideOutput<Row>(LATE_TAG);
        for (const l of late.slice(seen)) step.push(`late ${l.value.usr} ${l.timestamp}`);
        seen = late.length;
        out.push(...step.sort());
      }
      return out;
    };
    const whole = feed(make(), 0, input.length, { value: Number.NEGATIVE_INFINITY });
    assert.ok(whole.includes('a 0-6000 5 update') && whole.includes('late a 5000'), whole.join('\n'));
    for (let cut = 1; cut < input.length; cut++) {
      const watermark = { value: Number.NEGATIVE_INFINITY };
      const first = make();
      const before = feed(first, 0, cut, watermark);
      const snapshot = v8.deserialize(v8.serialize(first.snapshot()));
      const second = make();
      second.node.operator.restore?.(snapshot);
      second.watermark(watermark.value); // the watermark the restored run starts from (its timers up to it fired)
      const after = feed(second, cut, input.length, watermark);
      assert.deepEqual([...before, ...after], whole, `restored after ${cut} records`);
    }
  });
});
