// UNION ALL: planned in INSERT INTO, subqueries, WITH and views, its columns by position with a common type, its
// event time where every SELECT has it in the same column (an interval join's later side too); UNION (distinct),
// INTERSECT, EXCEPT and mismatched SELECTs refused with the position; and a run: a window over a union equal to the
// counts of both tables' records.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sqlPlanning } from '../../test/helpers/sql-planning.ts';
import { openLog } from '../log/index.ts';
import { planScript, type QueryPlan, sqlPipeline } from './index.ts';

const DDL = `CREATE TABLE views (viewId VARCHAR, usr VARCHAR, ad VARCHAR, ts BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND);
CREATE TABLE clicks (viewId VARCHAR, usr VARCHAR, ad VARCHAR, ts BIGINT, price DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND);
CREATE TABLE names (usr VARCHAR);
`;

const { select, refusal } = sqlPlanning(DDL);

describe('streaming SQL: UNION ALL', () => {
  it('unites SELECTs by position, named by the first, with a common type and a shared time column', async () => {
    const q = await select(`SELECT usr AS who, ts, 1 AS n FROM views UNION ALL SELECT ad, ts, price FROM clicks`);
    assert.equal(q.union?.queries.length, 2);
    assert.deepEqual(
      q.outputs.map((o) => [o.name, o.type, o.timeOffset]),
      [
        ['who', 'VARCHAR', undefined],
        ['ts', 'BIGINT', 0],
        ['n', 'DOUBLE', undefined],
      ],
    );
    // Three SELECTs are one union; a column that is the time in only some of them is not the union's time.
    const three = await select(`SELECT usr, ts FROM views UNION ALL SELECT usr, ts FROM clicks
      UNION ALL SELECT usr, ts + 1 FROM views`);
    assert.equal(three.union?.queries.length, 3);
    assert.equal(three.outputs[1]!.timeOffset, undefined);
  });

  it('in a subquery, WITH and a view, a window over it uses its time column', async () => {
    const sub = await select(`SELECT usr, ts FROM (SELECT usr, ts FROM views UNION ALL SELECT usr, ts FROM clicks) AS u
      WHERE usr <> 'x'`);
    assert.ok((sub.source.derived!.query as QueryPlan).union);
    assert.deepEqual([...sub.source.derived!.times], [['ts', 0]]);
    const withQuery = await select(`WITH u AS (SELECT usr, ts FROM views UNION ALL SELECT usr, ts FROM clicks)
      SELECT usr, window_start, count(*) AS n FROM TABLE(SESSION(TABLE u, DESCRIPTOR(ts), INTERVAL '30' SECOND))
      GROUP BY usr, window_start, window_end`);
    assert.equal(withQuery.window?.kind, 'session');
    const view = await select(`CREATE VIEW u AS SELECT usr, ts FROM views UNION ALL SELECT usr, ts FROM clicks;
      SELECT usr, count(*) AS n FROM HOP(u, ts, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE)
      GROUP BY usr, window_start, window_end`);
    assert.equal(view.window?.kind, 'sliding');
    const plan = await planScript(`${DDL}CREATE TABLE out (usr VARCHAR, ts BIGINT);
      INSERT INTO out SELECT usr, ts FROM views UNION ALL SELECT usr, ts FROM clicks;`);
    assert.equal(plan.inserts[0]!.query.union?.queries.length, 2);
  });

  it("an interval join's rows keep the time of the side never earlier: a union with it has event time", async () => {
    const q = await select(`WITH u AS (SELECT ad, ts FROM views UNION ALL
      SELECT c.ad, c.ts FROM clicks c JOIN views v ON c.viewId = v.viewId AND c.ts BETWEEN v.ts AND v.ts + INTERVAL '10' MINUTE)
      SELECT ad, count(*) AS n FROM TUMBLE(u, ts, INTERVAL '1' MINUTE) GROUP BY ad, window_start, window_end`);
    assert.equal(q.window?.kind, 'tumbling');
    // The view's ts is not the row's time (the click is later): not a time column.
    const e = await refusal(`WITH u AS (SELECT ad, ts FROM views UNION ALL
      SELECT c.ad, v.ts FROM clicks c JOIN views v ON c.viewId = v.viewId AND c.ts BETWEEN v.ts AND v.ts + INTERVAL '10' MINUTE)
      SELECT ad, count(*) AS n FROM TUMBLE(u, ts, INTERVAL '1' MINUTE) GROUP BY ad, window_start, window_end`);
    assert.match(
      e.message,
      /u has no event time: a UNION ALL's column is its event time when it is each SELECT's.*line 8, column 47/,
    );
  });

  it('refuses UNION, INTERSECT, EXCEPT and mismatched SELECTs, with the position', async () => {
    const distinct = await refusal(`SELECT usr FROM views\n  UNION SELECT usr FROM clicks`);
    assert.match(distinct.message, /UNION \(distinct\) is not supported.*UNION ALL is.*line 7, column 3/);
    const intersect = await refusal(`SELECT usr FROM views INTERSECT SELECT usr FROM clicks`);
    assert.match(intersect.message, /INTERSECT is not supported.*line 6, column 23/);
    const except = await refusal(`SELECT usr FROM views UNION ALL SELECT usr FROM clicks EXCEPT SELECT usr FROM names`);
    assert.match(except.message, /EXCEPT is not supported.*line 6, column 56/);
    const count = await refusal(`SELECT usr, ts FROM views UNION ALL SELECT usr FROM clicks`);
    assert.match(count.message, /same number of columns: the first has 2, SELECT 2 has 1.*line 6, column 44/);
    const type = await refusal(`SELECT usr, ts FROM views UNION ALL SELECT usr, ad FROM clicks`);
    assert.match(
      type.message,
      /column 2 of the UNION ALL \(ts\) is BIGINT in the first SELECT and VARCHAR in SELECT 2.*line 6, column 49/,
    );
    const order = await refusal(`SELECT usr FROM views UNION ALL SELECT usr FROM clicks ORDER BY usr`);
    assert.match(order.message, /ORDER BY on a UNION ALL is not supported/);
    const updating = await refusal(
      `SELECT usr, count(*) AS n FROM views GROUP BY usr UNION ALL SELECT usr, 1 FROM clicks`,
    );
    assert.match(updating.message, /UNION ALL of an updating relation.*line 6, column 8/);
    const twice = await refusal(`SELECT usr, usr FROM views UNION ALL SELECT usr, ad FROM clicks`);
    assert.match(twice.message, /column usr appears twice in a UNION ALL/);
  });

  it('runs: a tumbling window over the union of two tables counts the records of both', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-union-'));
    const log = await openLog({ dataDir, fsync: { mode: 'none' } });
    const produce = async (topic: string, values: unknown[]) => {
      await log.createTopic(topic, { partitions: 1 });
      await log.append(
        topic,
        0,
        values.map((v) => ({ key: null, value: Buffer.from(JSON.stringify(v)) })),
      );
    };
    try {
      const views = Array.from({ length: 600 }, (_, i) => ({
        viewId: `v${i}`,
        usr: `u${i % 3}`,
        ad: 'a',
        ts: i * 500,
      }));
      const clicks = views.filter((_, i) => i % 4 === 0).map((v) => ({ ...v, ts: v.ts + 100, price: 1.5 }));
      await produce('views', views);
      await produce('clicks', clicks);
      const define = sqlPipeline(
        `${DDL}CREATE TABLE counts (usr VARCHAR, window_start BIGINT, n BIGINT, spent DOUBLE) WITH ('topic' = 'counts');
        CREATE VIEW u AS SELECT usr, ts, 0 AS price FROM views UNION ALL SELECT usr, ts, price FROM clicks;
        INSERT INTO counts SELECT usr, window_start, count(*), sum(price)
        FROM TABLE(TUMBLE(TABLE u, DESCRIPTOR(ts), INTERVAL '10' SECOND))
        GROUP BY window_start, window_end, usr;`,
        { name: 'union-run' },
      );
      const pipeline = await define({ log, bounded: true, dataDir: os.tmpdir(), serving: undefined });
      await pipeline.run();
      const rows: { usr: string; window_start: number; n: number; spent: number }[] = [];
      for (let offset = 0; offset < log.describeTopic('counts').partitions[0]!.logEndOffset; ) {
        const page = log.readRecords('counts', 0, offset, { maxBytes: 1 << 20 });
        for (const record of page.records) rows.push(JSON.parse(String(record.value)));
        offset = page.nextOffset;
      }
      const expected = new Map<string, { n: number; spent: number }>();
      for (const r of [...views.map((v) => ({ ...v, price: 0 })), ...clicks]) {
        const id = `${r.usr}@${Math.floor(r.ts / 10_000) * 10_000}`;
        const e = expected.get(id) ?? { n: 0, spent: 0 };
        expected.set(id, { n: e.n + 1, spent: e.spent + r.price });
      }
      assert.equal(rows.length, expected.size);
      for (const r of rows) assert.deepEqual({ n: r.n, spent: r.spent }, expected.get(`${r.usr}@${r.window_start}`));
    } finally {
      await log.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
