// Streaming queries outlive the server (issue #22): a query started over HTTP is kept in the data directory and a
// server opening it again resumes it from its latest checkpoint, so that its tables count every record once — after
// a clean close and after a SIGKILL of `sluice run`; a damaged definition, SQL that no longer plans, a topic deleted
// and a checksum that fails are listed as failed queries with their error while the others run; DELETE forgets a
// query for good.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { StreamingQueriesJson, StreamingQueryJson } from '../src/http/api.ts';
import { startServer } from '../src/http/index.ts';
import { encodeQuery } from '../src/http/streaming-query-store.ts';
import { openLog } from '../src/log/index.ts';
import { ServingStore } from '../src/serve/index.ts';
import { type Daemon, startSluice } from '../support/processes.ts';
import { untilPasses } from './helpers/broker.ts';

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-streaming-restart-'));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A server in this process over the log and serving store of `dir`, as `sluice run` opens them. */
async function openServer(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const log = await openLog({ dataDir: dir });
  const store = await ServingStore.open({ dir: path.join(dir, 'serve') });
  const server = await startServer({
    log,
    store,
    port: 0,
    streaming: { log, dataDir: dir, checkpointIntervalMs: 200 },
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
    await store.close();
    await log.close();
  };
  cleanup.push(close);
  return { url: server.url, close };
}

const eventually = (check: () => Promise<void>) => untilPasses(check, 60_000);

interface ErrorJson {
  error: { code: string; message: string };
}

async function call<T>(url: string, method: string, body?: unknown): Promise<{ status: number; body: T & ErrorJson }> {
  const response = await fetch(url, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: response.status, body: (await response.json()) as T & ErrorJson };
}

const EVENTS = `CREATE TABLE events (key VARCHAR, ts BIGINT, value BIGINT, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);\n`;
/** A keyed table (per key: a count and a sum) and an append table (every event a row): both count each event once. */
const SCRIPT = `${EVENTS}CREATE MATERIALIZED VIEW per_key AS
SELECT key, count(*) AS n, sum(value) AS total FROM events GROUP BY key;
CREATE MATERIALIZED VIEW seen AS SELECT key, ts, value FROM events;`;

function events(from: number, to: number): { key: string; ts: number; value: number }[] {
  return Array.from({ length: to - from }, (_, j) => {
    const i = from + j;
    return { key: `k${i % 3}`, ts: i * 100, value: i };
  });
}

async function ingest(url: string, records: object[]): Promise<void> {
  const response = await fetch(`${url}/v1/topics/events/records?key=key`, {
    method: 'POST',
    body: records.map((r) => JSON.stringify(r)).join('\n'),
  });
  assert.equal(response.status, 200, await response.text());
}

async function rows(url: string, sql: string): Promise<unknown[][]> {
  const result = await call<{ rows: unknown[][] }>(`${url}/v1/sql`, 'POST', { sql });
  assert.equal(result.status, 200, JSON.stringify(result.body));
  return result.body.rows;
}

/** The tables hold exactly the totals of events 0..n-1, each counted once. */
async function assertTotals(url: string, n: number): Promise<void> {
  const expected = new Map<string, [number, number]>();
  for (const e of events(0, n)) {
    const [count, total] = expected.get(e.key) ?? [0, 0];
    expected.set(e.key, [count + 1, total + e.value]);
  }
  assert.deepEqual(
    await rows(url, 'SELECT key, n::INT, total::INT FROM per_key ORDER BY key'),
    [...expected].sort().map(([key, [count, total]]) => [key, count, total]),
  );
  assert.deepEqual(await rows(url, 'SELECT count(*)::INT, count(DISTINCT ts)::INT, sum(value)::INT FROM seen'), [
    [n, n, (n * (n - 1)) / 2],
  ]);
}

async function list(url: string): Promise<StreamingQueryJson[]> {
  const listed = await call<StreamingQueriesJson>(`${url}/v1/streaming-queries`, 'GET');
  assert.equal(listed.status, 200);
  return listed.body.queries;
}

async function pipelines(url: string): Promise<string[]> {
  const answer = await call<{ pipelines: { name: string }[] }>(`${url}/v1/pipelines`, 'GET');
  return answer.body.pipelines.map((p) => p.name).sort();
}

async function startQuery(url: string, sql: string, name?: string): Promise<StreamingQueryJson> {
  const started = await call<{ query: StreamingQueryJson }>(`${url}/v1/streaming-queries`, 'POST', {
    sql,
    ...(name ? { name } : {}),
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  return started.body.query;
}

/** Its definition and its checkpoint directory in the data directory. */
function kept(dir: string, name: string): { file: boolean; checkpoints: boolean } {
  return {
    file: fs.existsSync(path.join(dir, 'streaming-queries', `${name}.json`)),
    checkpoints: fs.existsSync(path.join(dir, 'streaming-queries', name)),
  };
}

describe('HTTP streaming queries across restarts', () => {
  it('are resumed by the next server from their checkpoints: every record counted once', async () => {
    const dir = tempDir();
    let server = await openServer(dir);
    const started = await startQuery(server.url, SCRIPT);
    assert.equal(started.name, 'per_key');
    assert.deepEqual(started.tables, ['per_key', 'seen']);
    assert.equal(started.resumes, 0);
    assert.equal(started.resumedAt, null);
    assert.deepEqual(kept(dir, 'per_key'), { file: true, checkpoints: true });
    await ingest(server.url, events(0, 30));
    await eventually(() => assertTotals(server.url, 30));
    await server.close();

    server = await openServer(dir);
    const [resumed] = await list(server.url);
    assert.equal(resumed?.name, 'per_key');
    assert.equal(resumed.state, 'running');
    assert.equal(resumed.sql, SCRIPT);
    assert.equal(resumed.startedAt, started.startedAt, 'the start time is kept');
    assert.equal(resumed.resumes, 1);
    assert.equal(typeof resumed.resumedAt, 'number');
    assert.deepEqual(await pipelines(server.url), ['per_key']);
    await eventually(async () => {
      const [query] = await list(server.url);
      assert.match(query?.restoredFrom ?? '', /streaming-queries[/\\]per_key/);
    });
    await assertTotals(server.url, 30);
    await ingest(server.url, events(30, 60));
    await eventually(() => assertTotals(server.url, 60));
    // Nothing more comes later: no replay counts a record again.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await assertTotals(server.url, 60);
    await server.close();
  });

  it('survive a SIGKILL of `sluice run`: resumed from the latest checkpoint, every record counted once', async () => {
    const dir = tempDir();
    const fixture = path.join(import.meta.dirname, 'fixtures', 'streaming-host.sql');
    const daemons: Daemon[] = [];
    cleanup.push(async () => {
      for (const daemon of daemons) await daemon.stop('SIGKILL');
    });
    const run = async () => {
      const daemon = startSluice(['run', fixture, '--data-dir', dir, '--no-kafka', '--http-port', '0'], {
        SLUICE_LOG_LEVEL: 'warn',
      });
      daemons.push(daemon);
      const [, url] = await daemon.waitFor(/HTTP on (http:\/\/[\w.:[\]]+)/, 60_000);
      return { daemon, url: url! };
    };

    let { daemon, url } = await run();
    const started = await startQuery(url, SCRIPT);
    await ingest(url, events(0, 40));
    await eventually(() => assertTotals(url, 40));
    assert.equal(await daemon.stop('SIGKILL'), null, 'killed');

    ({ daemon, url } = await run());
    const [resumed] = await list(url);
    assert.deepEqual(
      [resumed?.name, resumed?.state, resumed?.resumes, resumed?.startedAt],
      ['per_key', 'running', 1, started.startedAt],
    );
    assert.deepEqual(await pipelines(url), ['per_key', 'streaming-host']);
    await ingest(url, events(40, 80));
    await eventually(() => assertTotals(url, 80));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await assertTotals(url, 80);

    // A clean stop (SIGTERM) keeps it too.
    assert.equal(await daemon.stop('SIGTERM'), 0, daemon.output());
    ({ daemon, url } = await run());
    const [again] = await list(url);
    assert.deepEqual([again?.state, again?.resumes], ['running', 2]);
    await ingest(url, events(80, 90));
    await eventually(() => assertTotals(url, 90));
    assert.equal(await daemon.stop('SIGTERM'), 0, daemon.output());
  });

  it('list a damaged definition or SQL that no longer plans as failed, and run the others', async () => {
    const dir = tempDir();
    let server = await openServer(dir);
    await startQuery(server.url, SCRIPT);
    const other = `${EVENTS}CREATE MATERIALIZED VIEW big AS SELECT key, value FROM events WHERE value >= 10;`;
    await startQuery(server.url, other, 'other');
    const pings = `CREATE TABLE pings (id BIGINT) WITH ('topic' = 'pings');
CREATE MATERIALIZED VIEW pings_seen AS SELECT id FROM pings;`;
    await startQuery(server.url, pings);
    await server.close();
    // The topic a query reads is deleted while no server runs.
    const log = await openLog({ dataDir: dir });
    await log.deleteTopic('pings');
    await log.close();

    const queries = path.join(dir, 'streaming-queries');
    // A torn write of per_key's definition (as no atomic replace leaves it, but a disk may).
    const file = path.join(queries, 'per_key.json');
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.slice(0, text.length / 2));
    // A definition whose checksum holds but whose SQL does not plan (written by another version, say).
    const broken = `${EVENTS}CREATE MATERIALIZED VIEW b AS SELECT nope, count(*) AS n FROM events GROUP BY nope;`;
    fs.writeFileSync(
      path.join(queries, 'broken.json'),
      encodeQuery({ name: 'broken', sql: broken, startedAt: 1, tables: ['b'], topics: [], resumes: 0 }),
    );
    // Leftovers: an interrupted write, the checkpoints of a query whose DELETE a crash cut short.
    fs.writeFileSync(path.join(queries, 'other.json.tmp-1-abc'), '{"half');
    fs.mkdirSync(path.join(queries, 'gone'));

    server = await openServer(dir);
    const listed = await list(server.url);
    assert.deepEqual(listed.map((q) => [q.name, q.state, q.errorCode]).sort(), [
      ['broken', 'failed', 'INVALID_SQL'],
      ['other', 'running', null],
      ['per_key', 'failed', 'CORRUPT_CHECKPOINT'],
      ['pings_seen', 'failed', 'UNKNOWN_TOPIC'],
    ]);
    const byName = new Map(listed.map((q) => [q.name, q]));
    assert.match(
      byName.get('per_key')!.error!,
      /^its definition streaming-queries[/\\]per_key\.json is not valid JSON/,
    );
    assert.match(byName.get('broken')!.error!, /unknown column "nope"/);
    assert.equal(byName.get('broken')!.sql, broken);
    assert.match(byName.get('pings_seen')!.error!, /^topic "pings" it reads was deleted since it ran/);
    const topics = await call<{ topics: { name: string }[] }>(`${server.url}/v1/topics`, 'GET');
    assert.ok(!topics.body.topics.some((t) => t.name === 'pings'), 'nor is the topic created again');
    assert.deepEqual(await pipelines(server.url), ['other']);
    assert.ok(!fs.existsSync(path.join(queries, 'other.json.tmp-1-abc')), 'the leftover write is removed');
    assert.ok(!fs.existsSync(path.join(queries, 'gone')), 'checkpoints without a definition are removed');
    assert.ok(fs.existsSync(path.join(queries, 'per_key')), "a damaged query's checkpoints stay until its DELETE");
    const one = await call<{ query: StreamingQueryJson }>(`${server.url}/v1/streaming-queries/per_key`, 'GET');
    assert.equal(one.body.query.state, 'failed');

    // Its name stays taken until it is deleted; then it starts afresh.
    const refused = await call(`${server.url}/v1/streaming-queries`, 'POST', { sql: SCRIPT });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error.message, /"per_key" exists and failed: DELETE it first/);
    for (const name of ['per_key', 'broken', 'pings_seen']) {
      const deleted = await call<{ query: StreamingQueryJson }>(`${server.url}/v1/streaming-queries/${name}`, 'DELETE');
      assert.equal(deleted.status, 200);
      assert.deepEqual(kept(dir, name), { file: false, checkpoints: false });
    }
    const fresh = await startQuery(server.url, SCRIPT);
    assert.equal(fresh.state, 'running');
    await server.close();

    // A definition changed by hand fails its checksum.
    const otherFile = path.join(queries, 'other.json');
    fs.writeFileSync(otherFile, fs.readFileSync(otherFile, 'utf8').replace('value >= 10', 'value >= 11'));
    server = await openServer(dir);
    const afterEdit = new Map((await list(server.url)).map((q) => [q.name, q]));
    assert.equal(afterEdit.get('per_key')?.state, 'running');
    assert.equal(afterEdit.get('other')?.state, 'failed');
    assert.match(afterEdit.get('other')!.error!, /fails its checksum/);
    await server.close();
  });

  it('are forgotten for good by DELETE: the next server does not resume them', async () => {
    const dir = tempDir();
    let server = await openServer(dir);
    await startQuery(server.url, SCRIPT);
    await ingest(server.url, events(0, 10));
    await eventually(() => assertTotals(server.url, 10));
    const deleted = await call<{ query: StreamingQueryJson }>(`${server.url}/v1/streaming-queries/per_key`, 'DELETE');
    assert.equal(deleted.body.query.state, 'stopped');
    assert.deepEqual(kept(dir, 'per_key'), { file: false, checkpoints: false });
    await server.close();

    server = await openServer(dir);
    assert.deepEqual(await list(server.url), []);
    assert.deepEqual(await pipelines(server.url), []);
    await assertTotals(server.url, 10); // its tables stay, with what it wrote
    await ingest(server.url, events(10, 20));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await assertTotals(server.url, 10);
    await server.close();
  });
});
