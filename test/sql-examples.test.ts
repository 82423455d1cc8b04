// The demo's pipelines written in SQL (examples/*.sql) give the same records as the TypeScript ones over the same
// generated input: windowed-counts.sql (a materialized view written to a topic and a serving table, allowed
// lateness and late data to a topic) against examples/windowed-counts.ts; and `sluice run file.sql --bounded` runs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import windowedCounts, { type Event } from '../examples/windowed-counts.ts';
import type { PipelineDefinition } from '../src/engine/index.ts';
import { openLog, partitionForKey } from '../src/log/index.ts';
import { ServingStore } from '../src/serve/index.ts';
import { sqlPipeline } from '../src/sql/index.ts';
import { openTestLog, runBounded } from '../src/testing.ts';
import { sluice } from '../support/processes.ts';

const WINDOWED_COUNTS_SQL = new URL('../examples/windowed-counts.sql', import.meta.url).pathname;
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

/** Runs a definition over a fresh log holding the events and a serving store; its topics and table, sorted. */
async function runOver(define: PipelineDefinition, events: Event[]) {
  const log = await openTestLog();
  const serving = await ServingStore.open({ dir: tempDir() });
  try {
    await log.log.createTopic('events', { partitions: 1 });
    await log.log.append(
      'events',
      0,
      events.map((e) => ({ key: Buffer.from(e.key), value: Buffer.from(JSON.stringify(e)) })),
    );
    await runBounded(define, { log, serving });
    const sorted = async (topic: string) => (await log.read(topic)).map((r) => JSON.stringify(r)).sort();
    const table = await serving.query(
      'SELECT epoch_ms(window_start) AS ws, key, cnt, total FROM window_totals ORDER BY ws, key',
    );
    return {
      totals: await sorted('window-totals'),
      late: await sorted('events-late'),
      table: JSON.stringify(table.rows),
    };
  } finally {
    await serving.close();
    await log.close();
  }
}

describe('the demo pipelines in SQL', () => {
  it('windowed-counts.sql equals windowed-counts.ts: topic, late data, serving table', async () => {
    const events = generatedEvents();
    const text = fs.readFileSync(WINDOWED_COUNTS_SQL, 'utf8');
    const ts = await runOver(windowedCounts, events);
    const sql = await runOver(sqlPipeline(text, { name: 'windowed-counts' }), events);
    assert.ok(ts.totals.length > 50, `${ts.totals.length} window results`);
    assert.ok(
      ts.totals.some((r) => r.includes('"kind":"update"')),
      'late updates within the allowed lateness',
    );
    assert.ok(ts.late.length > 10, `${ts.late.length} late events`);
    assert.ok((JSON.parse(ts.table) as unknown[]).length > 50, 'rows in the serving table');
    assert.deepEqual(sql.totals, ts.totals);
    assert.deepEqual(sql.late, ts.late);
    assert.deepEqual(sql.table, ts.table);
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
