// Materialized views through a topic: a script run without a serving store writes each view's rows with their kinds to
// its changelog topic (`<pipeline>-view-<view>`, keyed by the table's key, with the input's partitions), and a table
// loader following that topic ends with the same table as the script run with the store: upserted window results,
// late updates, a merged session's deleted rows, an append view and a regular GROUP BY.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { json, type Pipeline } from '../engine/index.ts';
import { type Log, openLog, partitionForKey } from '../log/index.ts';
import { createLogger } from '../logger.ts';
import { ServingStore } from '../serve/index.ts';
import { compileSql, scriptViewTables, viewTopic } from '../sql/index.ts';
import { startTableLoader } from './table-loader.ts';
import { viewTableSpec } from './view-loaders.ts';

const SCRIPT = `
CREATE TABLE events (key VARCHAR, ts BIGINT, value BIGINT, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('topic' = 'events', 'partitions' = '2', 'allowed.lateness' = '60 s');
CREATE TABLE clicks (key VARCHAR, ts BIGINT, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('topic' = 'clicks', 'allowed.lateness' = '60 s');
CREATE MATERIALIZED VIEW windows AS
  SELECT window_start, key, count(*) AS n, sum(value) AS total, window_kind AS kind
  FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end, key;
CREATE MATERIALIZED VIEW totals AS SELECT key, count(*) AS n, max(value) AS top FROM events GROUP BY key;
CREATE MATERIALIZED VIEW big AS SELECT key, ts, value FROM events WHERE value > 7;
CREATE MATERIALIZED VIEW sessions AS
  SELECT key, window_start AS s_start, window_end AS s_end, count(*) AS n
  FROM TABLE(SESSION(TABLE clicks PARTITION BY key, DESCRIPTOR(ts), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end, key;
`;

const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

const format = json<unknown>();

async function emptyLog(): Promise<Log> {
  const log = await openLog({ dataDir: tempDir('sluice-view-log-'), fsync: { mode: 'none' } });
  after(() => log.close());
  await log.createTopic('events', { partitions: 2 });
  await log.createTopic('clicks', { partitions: 1 });
  return log;
}

async function append(log: Log, topic: string, rows: { key: string; [column: string]: unknown }[]): Promise<void> {
  const partitions = log.describeTopic(topic).partitions.length;
  for (const row of rows) {
    const key = Buffer.from(row.key);
    await log.append(topic, partitionForKey(key, partitions), [{ key, value: format.encode(row) }]);
  }
}

/** Waits until every operator of the pipeline has taken the same records for a while (all it was given done). */
async function quiet(p: Pipeline): Promise<void> {
  let last = -1;
  let since = Date.now();
  const deadline = Date.now() + 20_000;
  for (;;) {
    const total = p.metrics().operators.reduce((n, o) => n + o.recordsIn, 0);
    if (total !== last) [last, since] = [total, Date.now()];
    else if (Date.now() - since > 600) return;
    assert.ok(Date.now() < deadline, 'the pipeline settled');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Runs the script over events and clicks in two phases: windows and sessions fire after the first, and the second's
 * records are late (within the allowed lateness): windows get updates, and the click at 15 s merges the fired session
 * [20 s, 30 s) into [15 s, 30 s), whose old row is deleted.
 */
async function runPhased(log: Log, serving?: ServingStore): Promise<void> {
  const env = { log, bounded: false, dataDir: os.tmpdir(), ...(serving ? { serving } : {}) };
  const p = await compileSql(SCRIPT, env, { name: 'q' });
  const running = p.run();
  await append(
    log,
    'events',
    Array.from({ length: 400 }, (_, i) => ({ key: `k${i % 5}`, ts: i * 250, value: i % 10 })),
  );
  await append(
    log,
    'clicks',
    [0, 20_000, 40_000, 55_000].map((ts) => ({ key: 'a', ts })),
  );
  await quiet(p);
  await append(
    log,
    'events',
    Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 5}`, ts: 50_000 + i * 1000, value: 9 - (i % 10) })),
  );
  await append(log, 'clicks', [{ key: 'a', ts: 15_000 }]);
  await quiet(p);
  p.stop();
  await running;
}

async function tableRows(store: ServingStore, table: string): Promise<string[]> {
  const result = await store.query(`SELECT * FROM ${table}`);
  return result.rows.map((row) => JSON.stringify(row, (_, v) => (typeof v === 'bigint' ? Number(v) : v))).sort();
}

it('views without a serving store go through their changelog topics; loaded, their tables equal the direct ones', async () => {
  const direct = await ServingStore.open({ dir: tempDir('sluice-view-direct-') });
  after(() => direct.close());
  const log1 = await emptyLog();
  await runPhased(log1, direct);
  assert.equal(log1.hasTopic(viewTopic('q', 'windows')), false, 'no changelog with a serving store');

  const log2 = await emptyLog();
  await runPhased(log2);
  const views = await scriptViewTables(SCRIPT, 'q');
  assert.deepEqual(
    views.map((v) => `${v.name} <- ${v.topic} [${v.key.join(',')}]`),
    [
      'windows <- q-view-windows [window_start,key]',
      'totals <- q-view-totals [key]',
      'big <- q-view-big []',
      'sessions <- q-view-sessions [s_start,key]',
    ],
  );
  // The input's partitions; each key's versions in one partition; kinds beside the rows.
  assert.equal(log2.describeTopic('q-view-windows').partitions.length, 2);
  assert.equal(log2.describeTopic('q-view-sessions').partitions.length, 1);
  const kinds = (topic: string) =>
    log2
      .describeTopic(topic)
      .partitions.flatMap((p) => log2.readRecords(topic, p.partition, 0, { maxBytes: 1 << 24 }).records)
      .map((r) => (JSON.parse(r.value!.toString()) as { k?: string }).k);
  assert.ok(kinds('q-view-windows').includes('update'), 'late events update their windows');
  assert.ok(kinds('q-view-sessions').includes('delete'), 'merged sessions are deleted');
  for (const record of log2.readRecords('q-view-totals', 0, 0).records) {
    const { r } = JSON.parse(record.value!.toString()) as { r: { key: string } };
    assert.equal(record.key!.toString(), JSON.stringify(r.key));
  }

  const loaded = await ServingStore.open({ dir: tempDir('sluice-view-loaded-') });
  after(() => loaded.close());
  const dataDir = tempDir('sluice-view-loaders-');
  const loaders = views.map((view) =>
    startTableLoader({
      log: log2,
      store: loaded,
      table: view.name,
      topic: view.topic,
      spec: viewTableSpec(view),
      dataDir,
      logger: createLogger('test'),
    }),
  );
  const deadline = Date.now() + 30_000;
  while (!loaders.every((l) => l.position().length > 0 && l.lag() === 0 && l.checkpoints() > 0)) {
    assert.ok(Date.now() < deadline, 'the loaders caught up');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (const loader of loaders) await loader.run.stop();
  for (const view of views) {
    const expected = await tableRows(direct, view.name);
    assert.ok(expected.length > 0, `${view.name} has rows`);
    assert.deepEqual(await tableRows(loaded, view.name), expected, view.name);
  }
});
