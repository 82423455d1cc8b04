// `npm run bench -- serve`: the serving stage.
//   ingest:    rows/s written into a keyed serving table in a data directory through the table sink (batches of
//              10,000; every row a first result, as window results mostly are).
//   freshness: events POSTed as NDJSON at 50,000 events/s (every 10 ms) → log → 250 ms tumbling windows per key
//              → serving table, polled with SQL every 5 ms: how long after a window's end its row is queryable
//              (p50/p99). The window cannot fire before the first event past its end arrives on every
//              partition, so this includes up to one ingest interval (10 ms) of waiting for time to move.
//   query:     a group-by-minute count and sum over the last hour of 10,000,000 rows spread over 24 hours (p50),
//              and over all of them; queryPartitioned: the same in a table partitioned by hour (retention).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agg, json, logSource, Pipeline, watermarks, windows } from '../src/engine/index.ts';
import { startServer } from '../src/http/index.ts';
import { openLog } from '../src/log/index.ts';
import { ServingStore, serveTable } from '../src/serve/index.ts';

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const round = (x: number) => Math.round(x * 10) / 10;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-serve-'));

async function ingest(N: number, name: string): Promise<{ rows: number; rowsPerSec: number }> {
  const store = await ServingStore.open({ dir: path.join(dir, name) });
  const sink = serveTable({
    store,
    name: 'totals',
    columns: [
      { name: 'window_start', type: 'TIMESTAMP_MS' },
      { name: 'key', type: 'VARCHAR' },
      { name: 'cnt', type: 'BIGINT' },
      { name: 'total', type: 'DOUBLE' },
    ],
    key: ['window_start', 'key'],
    flushRows: 10_000,
  });
  await sink.open?.();
  const batch = 10_000;
  const start = performance.now();
  for (let i = 0; i < N; i += batch) {
    const values = Array.from({ length: batch }, (_, j) => ({
      window_start: Math.floor((i + j) / 1000) * 60_000,
      key: `sensor-${(i + j) % 1000}`,
      cnt: j,
      total: j * 1.5,
      kind: 'insert',
    }));
    await sink.write({ values, timestamps: [] });
  }
  await sink.flush?.();
  const rowsPerSec = Math.round(N / ((performance.now() - start) / 1000));
  const count = (await store.query('SELECT count(*) FROM totals')).rows[0]![0];
  await sink.close?.();
  await store.close();
  if (Number(count) !== N) throw new Error(`wrote ${count} rows, expected ${N}`);
  return { rows: N, rowsPerSec };
}

async function freshness(): Promise<unknown> {
  const log = await openLog({ dataDir: path.join(dir, 'fresh') }); // fsync before every acknowledgement
  const store = await ServingStore.open({ dir: path.join(dir, 'fresh', 'serve') });
  const server = await startServer({ log, store, port: 0, ingestRatePerSec: 1_000_000 });
  await log.createTopic('events', { partitions: 3 });
  const p = new Pipeline({ name: 'fresh' });
  p.source(logSource({ log, topic: 'events', format: json<{ key: string; ts: number }>() }))
    .withTimestamps((e) => e.ts, watermarks.boundedOutOfOrderness(0))
    .keyBy((e) => e.key)
    .window(windows.tumbling(250))
    .aggregate(agg.count())
    .map((r) => ({ window_end: r.windowEnd, key: r.key, cnt: r.value, kind: r.kind }))
    .sinkTo(
      serveTable({
        store,
        name: 'fresh',
        columns: [
          { name: 'window_end', type: 'BIGINT' },
          { name: 'key', type: 'VARCHAR' },
          { name: 'cnt', type: 'BIGINT' },
        ],
        key: ['window_end', 'key'],
        flushMs: 5,
      }),
    );
  const running = p.run();
  const seconds = 12;
  const latencies: number[] = [];
  let sent = 0;
  let stop = false;
  const loader = (async () => {
    const startAt = performance.now();
    for (let tick = 0; !stop; tick++) {
      const lines: string[] = [];
      const now = Date.now();
      for (let i = 0; i < 500; i++) lines.push(JSON.stringify({ key: `k${(sent + i) % 100}`, ts: now }));
      const response = await fetch(`${server.url}/v1/topics/events/records?key=key`, {
        method: 'POST',
        body: lines.join('\n'),
      });
      if (!response.ok) throw new Error(`ingest: ${response.status} ${await response.text()}`);
      sent += 500;
      const next = startAt + (tick + 1) * 10;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
    }
  })();
  const poller = (async () => {
    let seen = 0;
    while (!stop) {
      const result = await store.query('SELECT max(window_end) FROM fresh').catch(() => ({ rows: [] as unknown[][] }));
      const end = Number(result.rows[0]?.[0] ?? 0);
      if (end > seen) {
        if (seen > 0) latencies.push(Date.now() - end);
        seen = end;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  stop = true;
  await Promise.all([loader, poller]);
  p.stop();
  await running;
  await server.close();
  await store.close();
  await log.close();
  const samples = latencies.slice(4); // after warm-up
  return {
    eventsPerSec: Math.round(sent / seconds),
    windows: samples.length,
    p50Ms: percentile(samples, 0.5),
    p99Ms: percentile(samples, 0.99),
    maxMs: Math.max(...samples),
  };
}

async function query(partitioned: boolean): Promise<unknown> {
  const store = await ServingStore.open({ dir: path.join(dir, partitioned ? 'query-partitioned' : 'query') });
  const sink = serveTable({
    store,
    name: 'events',
    columns: [
      { name: 'ts', type: 'TIMESTAMP_MS' },
      { name: 'key', type: 'VARCHAR' },
      { name: 'value', type: 'DOUBLE' },
    ],
    flushRows: 50_000,
    // One table per hour behind the view (25 of them), as time-partitioned retention stores it.
    ...(partitioned ? { retention: { column: 'ts', keepMs: 7 * 86_400_000, partitionMs: 3_600_000 } } : {}),
  });
  await sink.open?.();
  const N = 10_000_000;
  const now = Date.now();
  const day = 86_400_000;
  const loadStart = performance.now();
  for (let i = 0; i < N; i += 50_000) {
    const values = Array.from({ length: 50_000 }, (_, j) => ({
      ts: now - day + Math.floor(((i + j) / N) * day),
      key: `k${(i + j) % 1000}`,
      value: (i + j) % 100,
    }));
    await sink.write({ values, timestamps: [] });
  }
  await sink.flush?.();
  const loadRowsPerSec = Math.round(N / ((performance.now() - loadStart) / 1000));
  await store.write((db) => db.run('CHECKPOINT'));
  const sql = `SELECT time_bucket(INTERVAL '1 minute', ts) AS minute, count(*) AS n, sum(value) AS total
    FROM events WHERE ts >= make_timestamp(${now - 3_600_000}::BIGINT * 1000) GROUP BY minute ORDER BY minute`;
  const times: number[] = [];
  let rows = 0;
  for (let r = 0; r < 21; r++) {
    const start = performance.now();
    const result = await store.query(sql);
    times.push(performance.now() - start);
    rows = result.rows.length;
  }
  const fullDay: number[] = [];
  for (let r = 0; r < 7; r++) {
    const start = performance.now();
    await store.query(
      `SELECT time_bucket(INTERVAL '1 minute', ts) AS minute, count(*), sum(value) FROM events GROUP BY minute`,
    );
    fullDay.push(performance.now() - start);
  }
  await sink.close?.();
  await store.close();
  return {
    rows: N,
    loadRowsPerSec,
    buckets: rows,
    lastHourP50Ms: round(percentile(times, 0.5)),
    lastHourP99Ms: round(percentile(times, 0.99)),
    fullDayP50Ms: round(percentile(fullDay, 0.5)),
  };
}

try {
  const result = {
    bench: 'serve',
    ingest: await ingest(200_000, 'warm-up').then(() => ingest(2_000_000, 'ingest')),
    freshness: await freshness(),
    query: await query(false),
    queryPartitioned: await query(true),
  };
  console.log(JSON.stringify(result));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
