// `sluice up` with SQL pipelines: a spec naming three .sql files (the second reads the first's output topic) runs them
// in worker processes, in dependency order, and the spec's tables load their topics: the rows equal the windows
// computed directly from the events sent over HTTP; the third's materialized view is served as a table of the
// deployment (its rows through the view's topic), with the same rows; /v1/pipelines lists the three; SIGTERM stops
// everything. A .sql pipeline's inputs and outputs default to its script's topics, its views become tables loading
// their topics; a view named like a table of the spec, or a script that does not plan, is refused when the spec loads.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { isSluiceError } from '../src/errors.ts';
import { loadDeployment } from '../src/orchestrate/index.ts';
import { startSluice } from '../support/processes.ts';

const SPEC = new URL('./fixtures/sql-deployment.ts', import.meta.url).pathname;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-up-sql-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const value = await probe().catch((error: Error) => {
      last = error.message;
      return undefined;
    });
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

it('sluice up: a spec whose pipelines are .sql files, tables loaded from their topics', async () => {
  const up = startSluice([
    'up',
    SPEC,
    '--data-dir',
    dataDir,
    '--kafka-port',
    '0',
    '--http-port',
    '0',
    '--checkpoint-interval',
    '200ms',
  ]);
  try {
    const url = (await up.waitFor(/HTTP API\s+(http:\/\/\S+)/))[1]!;
    const sql = async (query: string) => {
      const response = await fetch(`${url}/v1/sql`, { method: 'POST', body: JSON.stringify({ sql: query }) });
      const body = (await response.json()) as { rows: unknown[][]; error?: { message: string } };
      if (!response.ok) throw new Error(body.error?.message);
      return body.rows;
    };

    // 2,000 events over 100 s of event time, then one per key far ahead to close every window.
    const events = Array.from({ length: 2000 }, (_, i) => ({ key: `k${i % 5}`, ts: 1_000_000 + i * 50, value: i % 9 }));
    const expected = new Map<string, { cnt: number; total: number }>();
    for (const e of events) {
      const id = `${e.ts - (e.ts % 10_000)}/${e.key}`;
      const w = expected.get(id) ?? { cnt: 0, total: 0 };
      w.cnt++;
      w.total += e.value;
      expected.set(id, w);
    }
    const closing = Array.from({ length: 5 }, (_, k) => ({ key: `k${k}`, ts: 5_000_000, value: 0 }));
    const response = await fetch(`${url}/v1/topics/events/records?key=key&timestamp=ts`, {
      method: 'POST',
      body: [...events, ...closing].map((e) => JSON.stringify(e)).join('\n'),
    });
    assert.equal(response.status, 200, await response.text());

    await until('every window in key_counts', async () => {
      const rows = await sql('SELECT count(*)::INT, sum(cnt)::INT FROM key_counts');
      return rows[0]![0] === expected.size && rows[0]![1] === events.length ? true : undefined;
    });
    const rows = await sql('SELECT epoch_ms(window_start), key, cnt::INT, total::INT FROM key_counts');
    for (const [start, key, cnt, total] of rows as [number, string, number, number][]) {
      assert.deepEqual({ cnt, total }, expected.get(`${start}/${key}`), `window ${start}/${key}`);
    }
    const big = [...expected.values()].filter((w) => w.cnt >= 5).length;
    assert.ok(big > 10, `${big} windows of 5 events or more`);
    await until('big_counts loaded', async () => {
      const [[n]] = (await sql('SELECT count(*)::INT FROM big_counts')) as [[number]];
      if (n !== big) throw new Error(`${n} of ${big} rows`);
      return true;
    });

    // The view of key-windows.sql computes the same windows as key-counts.sql; its worker writes them to the view's
    // topic and the deployment serves them as the table key_windows.
    await until('every window in key_windows', async () => {
      const rows = await sql('SELECT count(*)::INT, sum(cnt)::INT FROM key_windows');
      return rows[0]![0] === expected.size && rows[0]![1] === events.length ? true : undefined;
    });
    const windows = await sql('SELECT epoch_ms(window_start), key, cnt::INT, total::INT FROM key_windows');
    assert.equal(windows.length, expected.size);
    for (const [start, key, cnt, total] of windows as [number, string, number, number][]) {
      assert.deepEqual({ cnt, total }, expected.get(`${start}/${key}`), `key_windows ${start}/${key}`);
    }
    const deployment = (await (await fetch(`${url}/v1/deployment`)).json()) as {
      tables: { name: string; topic: string; state: string }[];
    };
    const table = deployment.tables.find((t) => t.name === 'key_windows');
    assert.equal(table?.topic, 'key-windows-view-key_windows');

    const pipelines = (await (await fetch(`${url}/v1/pipelines`)).json()) as { pipelines: { name: string }[] };
    assert.deepEqual(pipelines.pipelines.map((p) => p.name).sort(), ['big-counts', 'key-counts', 'key-windows']);
    assert.equal(await up.stop('SIGTERM'), 0, up.output());
  } finally {
    await up.stop('SIGKILL');
  }
});

it('a .sql pipeline in a spec: inputs and outputs from its script, views as tables, bad SQL refused', async () => {
  const spec = await loadDeployment(SPEC);
  assert.deepEqual(spec.pipelines['big-counts']!.inputs, ['key-counts']);
  assert.deepEqual(spec.pipelines['big-counts']!.outputs, ['big-counts']);
  assert.deepEqual(spec.dependencies['big-counts'], ['key-counts']);
  assert.deepEqual(spec.order, ['key-counts', 'big-counts', 'key-windows']);
  // A view: its topic is an output of the pipeline, and the deployment has a table loading it.
  assert.deepEqual(spec.pipelines['key-windows']!.outputs, ['key-windows-view-key_windows']);
  assert.deepEqual(spec.tables.key_windows, {
    from: 'key-windows-view-key_windows',
    columns: [
      { name: 'window_start', type: 'TIMESTAMP_MS' },
      { name: 'key', type: 'VARCHAR' },
      { name: 'cnt', type: 'BIGINT' },
      { name: 'total', type: 'BIGINT' },
    ],
    key: ['window_start', 'key'],
    format: 'sql-rows',
  });

  const dir = fs.mkdtempSync(path.join(dataDir, 'spec-'));
  const specFile = path.join(dir, 'deployment.ts');
  fs.writeFileSync(
    specFile,
    `export default { name: 'x', topics: { events: { partitions: 1 } }, pipelines: { q: { file: './q.sql' } } };\n`,
  );
  const refusal = async (script: string, file = specFile) => {
    fs.writeFileSync(path.join(dir, 'q.sql'), script);
    const error = await loadDeployment(file).then(
      () => assert.fail('the spec was accepted'),
      (e: unknown) => e,
    );
    assert.ok(isSluiceError(error) && error.code === 'INVALID_SPEC', String(error));
    return error.message;
  };
  const events = 'CREATE TABLE events (key VARCHAR, ts BIGINT);\n';
  const view = `${events}CREATE MATERIALIZED VIEW v AS SELECT key, count(*) AS n FROM events GROUP BY key;`;
  fs.writeFileSync(path.join(dir, 'q.sql'), view);
  const accepted = await loadDeployment(specFile);
  assert.deepEqual(accepted.pipelines.q!.outputs, ['q-view-v']);
  assert.equal(accepted.tables.v!.from, 'q-view-v');
  // A view is the deployment's table of its name: a table of the spec by that name is refused.
  const conflicting = path.join(dir, 'conflicting.ts');
  fs.writeFileSync(
    conflicting,
    `export default { name: 'x', topics: { events: { partitions: 1 } }, pipelines: { q: { file: './q.sql' } },\n` +
      `  tables: { v: { from: 'events' } } };\n`,
  );
  assert.match(
    await refusal(view, conflicting),
    /pipelines\.q\.file: \.\/q\.sql has CREATE MATERIALIZED VIEW v, and the spec's tables have a table v/,
  );
  assert.match(
    await refusal(`${events}CREATE TABLE o (key VARCHAR);\nINSERT INTO o SELECT nope FROM events;`),
    /pipelines\.q\.file: \.\/q\.sql: unknown column "nope".*\(at line 3, column \d+\)/,
  );
});
