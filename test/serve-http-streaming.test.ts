// Streaming SQL queries over HTTP (/v1/streaming-queries) against a real server on loopback: a script starts as a
// pipeline listed in /v1/pipelines, its materialized view's table follows records ingested over HTTP while it runs,
// DELETE stops it (the table stays); SQL errors are 400s with the code and line:column; bodies, names and the number
// of queries are limited; a server without a log to run them on has no such route.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { ApiIndexJson, StreamingQueriesJson, StreamingQueryJson } from '../src/http/api.ts';
import { startServer } from '../src/http/index.ts';
import { openLog } from '../src/log/index.ts';
import { ServingStore } from '../src/serve/index.ts';
import { untilPasses } from './helpers/broker.ts';

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

async function setup(streaming = true, authToken?: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-http-streaming-'));
  const log = await openLog({ dataDir: dir });
  const store = await ServingStore.open({ dir: path.join(dir, 'serve') });
  const server = await startServer({
    log,
    store,
    port: 0,
    ...(authToken ? { authToken } : {}),
    ...(streaming ? { streaming: { log, dataDir: dir, maxQueries: 2, checkpointIntervalMs: 200 } } : {}),
  });
  cleanup.push(async () => {
    await server.close();
    await store.close();
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { log, store, dir, url: server.url };
}

const eventually = (check: () => Promise<void>) => untilPasses(check, 30_000);

interface ErrorJson {
  error: { code: string; message: string; details?: { line?: number; column?: number } };
}

async function call<T>(url: string, method: string, body?: unknown): Promise<{ status: number; body: T & ErrorJson }> {
  const response = await fetch(url, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T & ErrorJson };
}

const EVENTS = `CREATE TABLE events (key VARCHAR, ts BIGINT, value BIGINT, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND);\n`;
const PER_KEY = `${EVENTS}CREATE MATERIALIZED VIEW per_key AS
SELECT key, count(*) AS n, sum(value) AS total FROM events GROUP BY key;`;

describe('HTTP streaming queries', () => {
  it('starts a script as a pipeline whose view follows ingested records live, lists it, stops it', async () => {
    const { url, dir } = await setup();
    const index = await call<ApiIndexJson>(`${url}/v1`, 'GET');
    assert.equal(index.body.streamingQueries, true);

    const started = await call<{ query: StreamingQueryJson }>(`${url}/v1/streaming-queries`, 'POST', { sql: PER_KEY });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    assert.equal(started.body.query.name, 'per_key');
    assert.equal(started.body.query.state, 'running');
    assert.deepEqual(started.body.query.tables, ['per_key']);

    const pipelines = await call<{ pipelines: { name: string; running: boolean }[] }>(`${url}/v1/pipelines`, 'GET');
    assert.deepEqual(
      pipelines.body.pipelines.map((p) => p.name),
      ['per_key'],
    );
    const listed = await call<StreamingQueriesJson>(`${url}/v1/streaming-queries`, 'GET');
    assert.deepEqual(
      listed.body.queries.map((q) => [q.name, q.state, q.sql]),
      [['per_key', 'running', PER_KEY]],
    );

    // Records ingested while it runs show in its table, batch after batch.
    const ingest = async (records: object[]) => {
      const response = await fetch(`${url}/v1/topics/events/records?key=key`, {
        method: 'POST',
        body: records.map((r) => JSON.stringify(r)).join('\n'),
      });
      assert.equal(response.status, 200, await response.text());
    };
    const table = async () => {
      const result = await call<{ rows: [string, number, number][] }>(`${url}/v1/sql`, 'POST', {
        sql: 'SELECT key, n::INT, total::INT FROM per_key ORDER BY key',
      });
      return result.body.rows;
    };
    await ingest(Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 3}`, ts: i * 100, value: i })));
    await eventually(async () =>
      assert.deepEqual(await table(), [
        ['k0', 10, 135],
        ['k1', 10, 145],
        ['k2', 10, 155],
      ]),
    );
    await ingest([{ key: 'k1', ts: 5000, value: 1000 }]);
    await eventually(async () => assert.deepEqual((await table())[1], ['k1', 11, 1145]));

    // A second query of the same name is refused; a named one starts beside it; the limit is two.
    const again = await call(`${url}/v1/streaming-queries`, 'POST', { sql: PER_KEY });
    assert.equal(again.status, 400);
    assert.match(again.body.error.message, /"per_key" runs already/);
    const copy = `${EVENTS}CREATE TABLE big (key VARCHAR, value BIGINT) WITH ('topic' = 'big');
INSERT INTO big SELECT key, value FROM events WHERE value > 20;`;
    const second = await call<{ query: StreamingQueryJson }>(`${url}/v1/streaming-queries`, 'POST', {
      sql: copy,
      name: 'big-values',
    });
    assert.equal(second.status, 201, JSON.stringify(second.body));
    assert.deepEqual(second.body.query.topics, ['big']);
    const third = await call(`${url}/v1/streaming-queries`, 'POST', { sql: copy, name: 'third' });
    assert.equal(third.status, 400);
    assert.match(third.body.error.message, /2 streaming queries run already/);

    const stopped = await call<{ query: StreamingQueryJson }>(`${url}/v1/streaming-queries/per_key`, 'DELETE');
    assert.equal(stopped.status, 200);
    assert.equal(stopped.body.query.state, 'stopped');
    const after = await call<{ pipelines: { name: string }[] }>(`${url}/v1/pipelines`, 'GET');
    assert.deepEqual(
      after.body.pipelines.map((p) => p.name),
      ['big-values'],
    );
    assert.equal((await table()).length, 3, 'the table stays');
    assert.ok(!fs.existsSync(path.join(dir, 'streaming-queries', 'per_key')), 'its checkpoints are removed');
    const gone = await call(`${url}/v1/streaming-queries/per_key`, 'DELETE');
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'UNKNOWN_PIPELINE');
  });

  it('refuses bad scripts with the SQL error code and position, and bad bodies', async () => {
    const { url } = await setup();
    const endpoint = `${url}/v1/streaming-queries`;
    const unknown = await call(endpoint, 'POST', {
      sql: `${EVENTS}CREATE MATERIALIZED VIEW v AS\nSELECT nope, count(*) AS n FROM events GROUP BY nope;`,
    });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error.code, 'INVALID_SQL');
    assert.match(unknown.body.error.message, /unknown column "nope".*\(at line 3, column \d+\)/);
    assert.equal(unknown.body.error.details?.line, 3);
    assert.equal(typeof unknown.body.error.details?.column, 'number');

    const unsupported = await call(endpoint, 'POST', {
      sql: `${EVENTS}CREATE MATERIALIZED VIEW v AS SELECT key FROM events ORDER BY key;`,
    });
    assert.equal(unsupported.status, 400);
    assert.equal(unsupported.body.error.code, 'UNSUPPORTED_SQL');
    assert.match(unsupported.body.error.message, /\(at line 2, column \d+\)/);

    const nothing = await call(endpoint, 'POST', { sql: EVENTS });
    assert.equal(nothing.status, 400);
    assert.match(nothing.body.error.message, /no INSERT INTO or CREATE MATERIALIZED VIEW/);

    for (const [body, pattern] of [
      ['not json', /must be JSON/],
      [{ query: 'x' }, /needs "sql"/],
      [{ sql: PER_KEY, name: 'Bad Name' }, /"name" must be/],
    ] as const) {
      const refused = await call(endpoint, 'POST', body);
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error.code, 'INVALID_REQUEST');
      assert.match(refused.body.error.message, pattern);
    }
    const large = await call(endpoint, 'POST', { sql: `-- ${'x'.repeat(300 * 1024)}\n${PER_KEY}` });
    assert.equal(large.status, 413);
    assert.equal(large.body.error.code, 'PAYLOAD_TOO_LARGE');
    const list = await call<StreamingQueriesJson>(endpoint, 'GET');
    assert.deepEqual(list.body.queries, []);
  });

  it('needs the token where the server has one', async () => {
    const { url } = await setup(true, 'sesame');
    const refused = await call(`${url}/v1/streaming-queries`, 'POST', { sql: PER_KEY });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'UNAUTHORIZED');
    const listed = await fetch(`${url}/v1/streaming-queries`, { headers: { authorization: 'Bearer sesame' } });
    assert.deepEqual(await listed.json(), { queries: [] });
  });

  it('is not offered by a server without a log to run queries on', async () => {
    const { url } = await setup(false);
    const index = await call<ApiIndexJson>(`${url}/v1`, 'GET');
    assert.equal(index.body.streamingQueries, false);
    const refused = await call(`${url}/v1/streaming-queries`, 'POST', { sql: PER_KEY });
    assert.equal(refused.status, 404);
  });
});
