// The demo's pipelines written in SQL (examples/*.sql) give the same records as the TypeScript ones over the same
// generated input: windowed-counts.sql (a materialized view written to a topic and a serving table, allowed
// lateness and late data to a topic) against examples/windowed-counts.ts, sensor-averages.sql against
// sensor-averages.ts, clickstream.sql (UNION ALL: views with attributed clicks, views with clicks) against
// clickstream.ts's `ad-ctr` and `user-sessions`; and `sluice run file.sql --bounded` runs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import clickstream, { type Interaction } from '../examples/clickstream.ts';
import sensorAverages, { type Reading } from '../examples/sensor-averages.ts';
import windowedCounts, { type Event } from '../examples/windowed-counts.ts';
import type { PipelineDefinition } from '../src/engine/index.ts';
import { openLog, partitionForKey } from '../src/log/index.ts';
import { ServingStore } from '../src/serve/index.ts';
import { sqlPipeline } from '../src/sql/index.ts';
import { openTestLog, runBounded } from '../src/testing.ts';
import { sluice } from '../support/processes.ts';

const WINDOWED_COUNTS_SQL = new URL('../examples/windowed-counts.sql', import.meta.url).pathname;
const SENSOR_AVERAGES_SQL = new URL('../examples/sensor-averages.sql', import.meta.url).pathname;
const CLICKSTREAM_SQL = new URL('../examples/clickstream.sql', import.meta.url).pathname;
const KEYS = ['kitchen', 'hall', 'garage', 'attic', 'cellar', 'porch', 'office', 'garden'];

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sql-examples-'));
  dirs.push(dir);
  return dir;
}

/**
 * 20,000 events 50 ms apart, out of order by up to 4 s, in one partition. A bounded run reads 2048 records a batch
 * and the watermark moves between batches, so the first records of each batch are made older (8 s to 100 s): some
 * update a window that already fired (within the 30 s allowed lateness), some are later still (late data).
 */
function generatedEvents(): Event[] {
  const events: Event[] = [];
  const behind = [8_000, 15_000, 25_000, 35_000, 50_000, 70_000, 100_000];
  for (let i = 0; i < 20_000; i++) {
    const key = KEYS[(i * 7) % KEYS.length]!;
    let ts = 100_000 + i * 50 - ((i * 7919) % 4000);
    if (i % 2048 < behind.length * 3) ts -= behind[(i % 2048) % behind.length]!;
    events.push({ key, ts, value: (i * 31) % 17 });
  }
  return events;
}

/** 20,000 readings of 8 sensors, 1 s apart per sensor, with older ones at batch starts (some past the minute). */
function generatedReadings(): Reading[] {
  const readings: Reading[] = [];
  const behind = [20_000, 45_000, 65_000, 80_000, 200_000];
  for (let i = 0; i < 20_000; i++) {
    const sensor = KEYS[i % KEYS.length]!;
    let ts = 1_000_000 + Math.floor(i / KEYS.length) * 1000 - ((i * 7919) % 9000);
    if (i % 2048 < behind.length * 3) ts -= behind[(i % 2048) % behind.length]!;
    readings.push({ sensor, ts, temperature: Math.round((18 + (i % 13) * 0.7) * 10) / 10 });
  }
  return readings;
}

/** Runs a definition over a fresh log holding the records (one partition) and a serving store: topics and table. */
async function runOver<T extends { ts: number }>(
  define: PipelineDefinition,
  input: { topic: string; records: T[]; key: (r: T) => string },
  outputs: string[],
  tableQuery: string,
) {
  const log = await openTestLog();
  const serving = await ServingStore.open({ dir: tempDir() });
  try {
    await log.log.createTopic(input.topic, { partitions: 1 });
    const records = input.records.map((r) => ({
      key: Buffer.from(input.key(r)),
      value: Buffer.from(JSON.stringify(r)),
    }));
    for (let at = 0; at < records.length; at += 5000) {
      await log.log.append(input.topic, 0, records.slice(at, at + 5000));
    }
    await runBounded(define, { log, serving });
    const topics: Record<string, string[]> = {};
    for (const topic of outputs) topics[topic] = (await log.read(topic)).map((r) => JSON.stringify(r)).sort();
    const table = await serving.query(tableQuery);
    return { topics, table: JSON.stringify(table.rows), rows: table.rows.length };
  } finally {
    await serving.close();
    await log.close();
  }
}

/**
 * 6,000 views of 8 ads by 40 users over an hour, and clicks on a third of them 2 s to 12 min later (those after
 * 10 min are not attributed) plus clicks on views that never came; each topic out of order by up to 4 s (under the
 * 5 s bound: nothing is late; without allowed lateness in clickstream.ts every session row is an insert anyway).
 */
function generatedClickstream(): { views: Interaction[]; clicks: Interaction[] } {
  const jitter = (i: number) => (i * 7919) % 4000;
  const views: Interaction[] = [];
  const clicks: Interaction[] = [];
  for (let i = 0; i < 6000; i++) {
    const view = { viewId: `v${i}`, user: `u${(i * 13) % 40}`, ad: `ad${(i * 5) % 8}`, ts: 1_000_000 + i * 600 };
    views.push({ ...view, ts: view.ts - jitter(i) });
    if (i % 3 === 0) clicks.push({ ...view, ts: view.ts + 2000 + ((i * 104_729) % 720_000) });
    if (i % 97 === 0) clicks.push({ ...view, viewId: `lost${i}`, ts: view.ts + 30_000 });
  }
  clicks.sort((a, b) => a.ts - b.ts);
  return { views, clicks: clicks.map((c, i) => ({ ...c, ts: c.ts - jitter(i) })) };
}

/** Runs a definition over a fresh log holding the views and clicks (one partition each): the output topics. */
async function runClickstream(define: PipelineDefinition, outputs: string[]): Promise<Record<string, unknown[]>> {
  const { views, clicks } = generatedClickstream();
  const log = await openTestLog();
  const serving = await ServingStore.open({ dir: tempDir() });
  try {
    await log.produce('views', views, { key: (v) => v.user });
    await log.produce('clicks', clicks, { key: (c) => c.user });
    await runBounded(define, { log, serving });
    const topics: Record<string, unknown[]> = {};
    for (const topic of outputs) topics[topic] = await log.read(topic);
    return topics;
  } finally {
    await serving.close();
    await log.close();
  }
}

interface AdCtr {
  ad: string;
  window_start: number;
  window_end: number;
  views: number;
  clicks: number;
  ctr: number | null;
  kind: string;
}

interface UserSession {
  user: string;
  session_start: number;
  session_end: number;
  events: number;
  kind: string;
}

const byAdWindow = (a: AdCtr, b: AdCtr) => a.ad.localeCompare(b.ad) || a.window_start - b.window_start;
const byUserSession = (a: UserSession, b: UserSession) =>
  a.user.localeCompare(b.user) || a.session_start - b.session_start || a.kind.localeCompare(b.kind);

describe('the demo pipelines in SQL', () => {
  it('clickstream.sql equals clickstream.ts: ad-ctr (UNION ALL of views and attributed clicks), user-sessions', async () => {
    const outputs = ['ad-ctr', 'user-sessions'];
    const ts = await runClickstream(clickstream, outputs);
    const text = fs.readFileSync(CLICKSTREAM_SQL, 'utf8');
    const sql = await runClickstream(sqlPipeline(text, { name: 'clickstream' }), outputs);
    const ctr = (ts['ad-ctr'] as AdCtr[]).sort(byAdWindow);
    assert.ok(ctr.length > 500, `${ctr.length} ad windows`);
    assert.ok(ctr.some((r) => r.clicks > 0) && ctr.some((r) => r.views > 0 && r.clicks === 0));
    assert.ok(
      ctr.some((r) => r.views === 0 && r.clicks > 0 && r.ctr === null),
      'a window of clicks without views',
    );
    const clicks = ctr.reduce((n, r) => n + r.clicks, 0) / 5;
    assert.ok(clicks > 1000 && clicks < generatedClickstream().clicks.length - 100, `${clicks} attributed clicks`);
    assert.deepEqual((sql['ad-ctr'] as AdCtr[]).sort(byAdWindow), ctr);
    const sessions = (ts['user-sessions'] as UserSession[]).sort(byUserSession);
    assert.ok(sessions.length > 100, `${sessions.length} sessions`);
    assert.ok(
      sessions.every((s) => s.kind === 'insert'),
      'no allowed lateness: no update or delete (docs/sql.md, the demo in SQL)',
    );
    assert.deepEqual((sql['user-sessions'] as UserSession[]).sort(byUserSession), sessions);
  });

  it('windowed-counts.sql equals windowed-counts.ts: topic, late data, serving table', async () => {
    const input = { topic: 'events', records: generatedEvents(), key: (e: Event) => e.key };
    const outputs = ['window-totals', 'events-late'];
    const query = 'SELECT epoch_ms(window_start) AS ws, key, cnt, total FROM window_totals ORDER BY ws, key';
    const text = fs.readFileSync(WINDOWED_COUNTS_SQL, 'utf8');
    const ts = await runOver(windowedCounts, input, outputs, query);
    const sql = await runOver(sqlPipeline(text, { name: 'windowed-counts' }), input, outputs, query);
    const totals = ts.topics['window-totals']!;
    assert.ok(totals.length > 50, `${totals.length} window results`);
    assert.ok(
      totals.some((r) => r.includes('"kind":"update"')),
      'late updates within the allowed lateness',
    );
    assert.ok(ts.topics['events-late']!.length > 10, `${ts.topics['events-late']!.length} late events`);
    assert.ok(ts.rows > 50, 'rows in the serving table');
    assert.deepEqual(sql, ts);
  });

  it('sensor-averages.sql equals sensor-averages.ts: OVER rolling aggregates, late readings, serving table', async () => {
    const input = { topic: 'readings', records: generatedReadings(), key: (r: Reading) => r.sensor };
    const outputs = ['sensor-averages', 'readings-late'];
    // The whole table, as a row count and an order-free hash of its rows (a query returns 10,000 rows at most).
    const query =
      'SELECT count(*) AS n, bit_xor(hash(sensor, epoch_ms(ts), avg_5m, min_5m, max_5m, readings_5m)) AS h FROM sensor_averages';
    const text = fs.readFileSync(SENSOR_AVERAGES_SQL, 'utf8');
    const ts = await runOver(sensorAverages, input, outputs, query);
    const sql = await runOver(sqlPipeline(text, { name: 'sensor-averages' }), input, outputs, query);
    const late = ts.topics['readings-late']!.length;
    assert.ok(late > 5 && late < 100, `${late} late readings`);
    assert.equal(ts.topics['sensor-averages']!.length, 20_000 - late);
    assert.equal(Number((JSON.parse(ts.table) as unknown[][])[0]![0]), 20_000 - late);
    assert.deepEqual(sql, ts);
  });

  it('`sluice run examples/windowed-counts.sql --bounded --no-kafka --no-http` runs over its data directory', async () => {
    const dataDir = tempDir();
    const log = await openLog({ dataDir });
    await log.createTopic('events', { partitions: 3 });
    for (const e of generatedEvents().slice(0, 600)) {
      const key = Buffer.from(e.key);
      await log.append('events', partitionForKey(key, 3), [{ key, value: Buffer.from(JSON.stringify(e)) }]);
    }
    await log.close();
    const ran = await sluice([
      'run',
      'examples/windowed-counts.sql',
      '--bounded',
      '--no-kafka',
      '--no-http',
      '--data-dir',
      dataDir,
    ]);
    assert.equal(ran.code, 0, ran.stderr.toString());
    const after = await openLog({ dataDir });
    try {
      const total = after
        .describeTopic('window-totals')
        .partitions.reduce((n, p) => n + p.logEndOffset - p.logStartOffset, 0);
      assert.ok(total > 0, 'window results on topic window-totals');
    } finally {
      await after.close();
    }
  });
});
