// Streaming SQL as users reach it from TypeScript, through the package ('sluice'): `p.sql(…)` mixed with DataStream
// operators (over a bound stream and over a topic, into a serving table too), equal to the same pipeline written with
// the DataStream API; `sqlPipeline` as a pipeline file's default export; and p.sql's errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  agg,
  definePipeline,
  isSluiceError,
  json,
  logSource,
  Pipeline,
  sqlPipeline,
  watermarks,
  windows,
} from 'sluice';
import { collect, fromArrays, openTestLog, runBounded } from 'sluice/testing';
import { ServingStore } from '../src/serve/index.ts';

interface Event {
  key: string;
  ts: number;
  value: number;
}

const EVENTS: Event[] = Array.from({ length: 1000 }, (_, i) => ({
  key: `k${i % 4}`,
  ts: i * 300 + ((i * 7919) % 3000),
  value: i % 7,
}));

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

interface Total {
  key: string;
  start: number;
  n: number;
  total: number;
}

/** The DataStream API's version of the SQL window below, over `events`. */
function expectedTotals(events: Event[]): Map<string, Total> {
  const out = new Map<string, Total>();
  for (const e of events) {
    if (e.value <= 0) continue;
    const start = Math.floor(e.ts / 30_000) * 30_000;
    const id = `${e.key}@${start}`;
    const t = out.get(id) ?? { key: e.key, start, n: 0, total: 0 };
    t.n += 1;
    t.total += e.value;
    out.set(id, t);
  }
  return out;
}

const byKeyAndStart = (a: Total, b: Total) => a.key.localeCompare(b.key) || a.start - b.start;

describe('streaming SQL from TypeScript (the package)', () => {
  it('p.sql over a bound DataStream, between DataStream operators, equals the DataStream API', async () => {
    const log = await openTestLog();
    after(() => log.close());
    await log.produce('events', EVENTS, { key: (e) => e.key, partitions: 2 });
    const got = collect<Total & { mean: number }>();
    const expected = collect<Total & { mean: number }>();
    await runBounded(
      definePipeline(async (env) => {
        const p = new Pipeline({ name: 'mixed', bounded: env.bounded });
        const events = p.source(logSource({ log: env.log, topic: 'events', format: json<Event>() }));
        // DataStream operators before the SQL (a map), the SQL window, and DataStream operators after it.
        const doubled = events.map((e) => ({ ...e, value: e.value * 2 }));
        const totals = await p.sql<Total>(
          `CREATE TABLE ev (key VARCHAR, ts BIGINT, value BIGINT, WATERMARK FOR ts AS ts - INTERVAL '3' SECOND);
           SELECT key, window_start AS start, count(*) AS n, sum(value) AS total
           FROM TUMBLE(ev, ts, INTERVAL '30' SECOND) WHERE value > 0 GROUP BY window_start, window_end, key;`,
          { env, streams: { ev: doubled } },
        );
        totals.map((t) => ({ ...t, mean: t.total / t.n })).sinkTo(got);
        doubled
          .filter((e) => e.value > 0)
          .withTimestamps((e) => e.ts, watermarks.boundedOutOfOrderness('3s'))
          .keyBy((e) => e.key)
          .window(windows.tumbling('30s'))
          .aggregate(agg.multi({ n: agg.count<Event>(), total: agg.sum((e: Event) => e.value) }))
          .map((r) => ({ key: r.key, start: r.windowStart, n: r.value.n, total: r.value.total }))
          .map((t) => ({ ...t, mean: t.total / t.n }))
          .sinkTo(expected);
        return p;
      }),
      { log },
    );
    assert.ok(got.values.length > 30, `${got.values.length} windows`);
    assert.deepEqual(
      got.values.map((t) => ({ ...t })).sort(byKeyAndStart),
      expected.values.map((t) => ({ ...t })).sort(byKeyAndStart),
    );
  });

  it('p.sql over a topic of env.log, with a materialized view in env.serving, then DataStream operators', async () => {
    const log = await openTestLog();
    after(() => log.close());
    await log.produce('events', EVENTS, { key: (e) => e.key, partitions: 2 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sql-api-'));
    dirs.push(dir);
    const serving = await ServingStore.open({ dir });
    try {
      const got = collect<string>();
      await runBounded(
        definePipeline(async (env) => {
          const p = new Pipeline({ name: 'from-topic', bounded: env.bounded });
          const totals = await p.sql(
            `CREATE TABLE events (key VARCHAR, ts BIGINT, value BIGINT, WATERMARK FOR ts AS ts - INTERVAL '3' SECOND);
             CREATE MATERIALIZED VIEW per_key AS SELECT key, count(*) AS n FROM events GROUP BY key;
             SELECT key, window_start AS start, count(*) AS n, sum(value) AS total
             FROM TUMBLE(events, ts, INTERVAL '30' SECOND) WHERE value > 0 GROUP BY window_start, window_end, key;`,
            { env },
          );
          // Untyped rows are SqlRow: values are number | string | boolean | null.
          totals
            .filter((t) => t.key === 'k1')
            .map((t) => `${t.start}:${t.n}:${t.total}`)
            .sinkTo(got);
          return p;
        }),
        { log, serving },
      );
      const k1 = [...expectedTotals(EVENTS).values()].filter((t) => t.key === 'k1');
      assert.deepEqual(got.values.sort(), k1.map((t) => `${t.start}:${t.n}:${t.total}`).sort());
      const table = await serving.query('SELECT key, n FROM per_key ORDER BY key');
      assert.deepEqual(
        table.rows.map((r) => (r as unknown[]).map(String)),
        ['k0', 'k1', 'k2', 'k3'].map((k) => [k, '250']),
      );
    } finally {
      await serving.close();
    }
  });

  it('sqlPipeline is a pipeline file definition', async () => {
    const log = await openTestLog();
    after(() => log.close());
    await log.produce('events', EVENTS, { key: (e) => e.key, partitions: 2 });
    const definition = sqlPipeline(
      `CREATE TABLE events (key VARCHAR, ts BIGINT, value BIGINT);
       CREATE TABLE big (key VARCHAR, value BIGINT) WITH ('topic' = 'big');
       INSERT INTO big SELECT key, value FROM events WHERE value >= 6;`,
      { name: 'big-values' },
    );
    const pipeline = await runBounded(definition, { log });
    assert.equal(pipeline.name, 'big-values');
    const big = await log.read<{ key: string; value: number }>('big');
    assert.equal(big.length, EVENTS.filter((e) => e.value >= 6).length);
  });

  it('p.sql refuses: a topic table without env, a bad script with its position', async () => {
    const p = new Pipeline({ name: 'refused', bounded: true });
    const rows = p.source(fromArrays([[{ key: 'a', ts: 1, value: 1 }]]));
    await assert.rejects(
      p.sql('CREATE TABLE ev (key VARCHAR, ts BIGINT); SELECT key FROM ev;'),
      (error: unknown) => isSluiceError(error) && /pass \{ env \}/.test(error.message),
    );
    await assert.rejects(
      p.sql('CREATE TABLE ev (key VARCHAR, ts BIGINT);\nSELECT nope FROM ev;', { streams: { ev: rows } }),
      (error: unknown) =>
        isSluiceError(error) && error.code === 'INVALID_SQL' && /at line 2, column \d+/.test(error.message),
    );
    await assert.rejects(
      p.sql('CREATE TABLE ev (key VARCHAR); SELECT key FROM ev;', { streams: { other: rows } }),
      (error: unknown) => isSluiceError(error) && /streams\.other/.test(error.message),
    );
  });
});
