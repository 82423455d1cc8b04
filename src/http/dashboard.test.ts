// The server side of the dashboard, in process (app.request): its files with content types, caching, the SPA
// fallback and the page shown when it is not built; the JSON endpoints it reads (topics with lag, pipeline
// topology and history, checkpoints); the live stream (channels, series with deltas, validation, limits); and the
// bearer token, which guards every API route but not the dashboard's files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { collect, fromArrays, json, logSource, Pipeline } from '../engine/index.ts';
import { type Log, openLog } from '../log/index.ts';
import { ServingStore, serveTable } from '../serve/index.ts';
import type {
  CheckpointsJson,
  PipelineDetailJson,
  PipelinesEventJson,
  SeriesEventJson,
  SeriesSpec,
  TopicsJson,
} from './api.ts';
import { createApp } from './index.ts';
import { LiveHub } from './live.ts';
import { parseSeriesSpec, type SeriesRow, seriesDelta, seriesSql } from './series.ts';
import { ThroughputSampler } from './throughput.ts';
import { TopicSampler } from './topics.ts';

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const READINGS = [
  { name: 'ts', type: 'TIMESTAMP_MS' as const },
  { name: 'sensor', type: 'VARCHAR' as const },
  { name: 'value', type: 'DOUBLE' as const },
  { name: 'seq', type: 'BIGINT' as const },
];

interface Reading {
  ts: number;
  sensor: string;
  value: number;
  seq: number;
}

/** Writes rows into the serving table `readings` through a bounded pipeline, as a real pipeline would. */
async function writeReadings(store: ServingStore, rows: Reading[]): Promise<void> {
  const p = new Pipeline({ name: 'writer', bounded: true });
  p.source(fromArrays([rows])).sinkTo(serveTable({ store, name: 'readings', columns: READINGS }));
  await p.run();
}

/** Reads Server-Sent Events from a response body, one at a time. */
function sseReader(response: Response) {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  return {
    async next(deadlineMs = 5000): Promise<{ event: string; data: unknown }> {
      const deadline = Date.now() + deadlineMs;
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(':')) continue; // a comment (ping)
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          return { event, data: JSON.parse(data.join('\n')) };
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no event within ${deadlineMs} ms; buffered: ${buffer}`);
        let timer: NodeJS.Timeout | undefined;
        const chunk = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no event within ${deadlineMs} ms`)), left);
          }),
        ]).finally(() => clearTimeout(timer));
        if (chunk.done) throw new Error('the stream ended');
        buffer += chunk.value;
      }
    },
    /** Skips events until one named `event` satisfies `accept`. */
    async until<T>(event: string, accept: (data: T) => boolean = () => true, deadlineMs = 5000): Promise<T> {
      const deadline = Date.now() + deadlineMs;
      for (;;) {
        const got = await this.next(Math.max(1, deadline - Date.now()));
        if (process.env.DEBUG_SSE) console.log(got.event, JSON.stringify(got.data).slice(0, 300));
        if (got.event === event && accept(got.data as T)) return got.data as T;
      }
    },
    cancel: () => reader.cancel(),
  };
}

describe('dashboard files', () => {
  let dist: string;
  before(() => {
    dist = tempDir('sluice-dist-');
    fs.mkdirSync(path.join(dist, 'assets'));
    fs.writeFileSync(
      path.join(dist, 'index.html'),
      '<!doctype html><script type="module" src="/assets/app-1a2b3c.js"></script>',
    );
    fs.writeFileSync(path.join(dist, 'assets', 'app-1a2b3c.js'), 'console.log("hi")');
    fs.writeFileSync(path.join(dist, 'assets', 'app-1a2b3c.css'), 'body{}');
    fs.writeFileSync(path.join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    fs.writeFileSync(path.join(path.dirname(dist), `${path.basename(dist)}-secret.txt`), 'TOP-SECRET');
    cleanup.push(() => fs.rmSync(path.join(path.dirname(dist), `${path.basename(dist)}-secret.txt`), { force: true }));
  });

  async function app(options: { authToken?: string; dashboardDir?: string } = {}) {
    const log = await openLog({ dataDir: tempDir('sluice-dash-') });
    cleanup.push(() => log.close());
    return createApp({ log, dashboardDir: dist, ...options });
  }

  it('serves index.html at / and for client-side routes, revalidated, with a strict CSP', async () => {
    const a = await app();
    for (const route of ['/', '/topics', '/results/window_totals']) {
      const response = await a.request(route);
      assert.equal(response.status, 200, route);
      assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(response.headers.get('cache-control'), 'no-cache');
      assert.match(response.headers.get('content-security-policy')!, /script-src 'self'/);
      assert.match(await response.text(), /app-1a2b3c\.js/);
    }
    const etag = (await a.request('/')).headers.get('etag')!;
    const again = await a.request('/', { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    const head = await a.request('/', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  it('serves hashed assets with their type, cached for good; a missing one is 404, never the app', async () => {
    const a = await app();
    const js = await a.request('/assets/app-1a2b3c.js');
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(await js.text(), 'console.log("hi")');
    assert.equal((await a.request('/assets/app-1a2b3c.css')).headers.get('content-type'), 'text/css; charset=utf-8');
    const svg = await a.request('/favicon.svg');
    assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
    assert.equal(svg.headers.get('cache-control'), 'no-cache', 'only assets/ is content-hashed');
    assert.equal((await a.request('/assets/gone-123.js')).status, 404);
  });

  it('never serves a file outside its directory', async () => {
    const a = await app();
    const name = `${path.basename(dist)}-secret.txt`;
    for (const attempt of [`/../${name}`, `/%2e%2e/${name}`, `/assets/%2e%2e/%2e%2e/${name}`, '/%00', '/%E0%A4%A']) {
      const response = await a.request(attempt);
      const body = await response.text();
      assert.ok(!body.includes('TOP-SECRET'), `${attempt}: ${response.status} ${body}`);
      assert.ok(response.status === 400 || response.status === 404 || body.includes('app-1a2b3c'), attempt);
    }
  });

  it('says how to build the dashboard when it is not built; API routes stay JSON', async () => {
    const a = await app({ dashboardDir: tempDir('sluice-empty-') });
    const response = await a.request('/');
    assert.equal(response.status, 503);
    assert.match(await response.text(), /has not been built.*npm run build:web/s);
    const api = await a.request('/v1/nope');
    assert.equal(api.status, 404);
    assert.equal(((await api.json()) as { error: { code: string } }).error.code, 'UNKNOWN_ROUTE');
    assert.equal((await a.request('/v1')).status, 404);
  });

  it('loads without the token; every API route, the stream included, needs it', async () => {
    const a = await app({ authToken: 's3cret' });
    assert.equal((await a.request('/')).status, 200);
    assert.equal((await a.request('/assets/app-1a2b3c.js')).status, 200);
    for (const route of ['/v1/topics', '/v1/pipelines', '/v1/checkpoints', '/v1/stream?channels=topics', '/health']) {
      assert.equal((await a.request(route)).status, 401, route);
    }
    assert.equal((await a.request('/v1/sql', { method: 'POST', body: '{}' })).status, 401);
    assert.equal((await a.request('/', { method: 'POST' })).status, 401, 'only reads of files are public');
    const ok = await a.request('/v1/topics', { headers: { Authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
  });
});

describe('dashboard API', () => {
  let log: Log;
  let store: ServingStore;
  let pipeline: Pipeline;

  before(async () => {
    log = await openLog({ dataDir: tempDir('sluice-dash-api-') });
    store = await ServingStore.open({ dir: ':memory:' });
    cleanup.push(async () => {
      await store.close();
      await log.close();
    });
    await log.createTopic('clicks', { partitions: 2 });
    const record = (n: number) => ({ key: null, value: Buffer.from(JSON.stringify({ n })) });
    await log.append('clicks', 0, [record(1), record(2), record(3)]);
    await log.append('clicks', 1, [record(4)]);
    await log.groups.commit('reporting', [{ topic: 'clicks', partition: 0, offset: 1 }]);
    pipeline = new Pipeline({ name: 'counter', bounded: true });
    pipeline
      .source(logSource({ log, topic: 'clicks', format: json<{ n: number }>() }))
      .map((e) => e.n)
      .sinkTo(collect());
    pipeline.enableCheckpoints({ dir: tempDir('sluice-dash-ckpt-'), intervalMs: 0 });
    await pipeline.run();
    await writeReadings(store, [
      { ts: 60_000, sensor: 'a', value: 1, seq: 1 },
      { ts: 60_500, sensor: 'b', value: 2, seq: 2 },
      { ts: 120_000, sensor: 'a', value: 3, seq: 3 },
    ]);
  });

  const app = (options: { liveIntervalMs?: number; maxStreams?: number } = {}) =>
    createApp({ log, store, pipelines: () => [pipeline], liveIntervalMs: 50, ...options });

  it('GET /v1/topics: partitions, offsets, bytes and the lag of groups and pipelines per partition', async () => {
    await log.append('clicks', 1, [{ key: null, value: Buffer.from('{"n":5}') }]);
    const body = (await (await app().request('/v1/topics?history=1')).json()) as TopicsJson;
    const clicks = body.topics.find((t) => t.name === 'clicks')!;
    assert.deepEqual(
      clicks.partitions.map((p) => [p.partition, p.startOffset, p.endOffset]),
      [
        [0, 0, 3],
        [1, 0, 2],
      ],
    );
    assert.equal(clicks.records, 5);
    assert.ok(clicks.bytes > 0 && clicks.partitions.every((p) => p.bytes > 0));
    const group = body.consumers.find((c) => c.id === 'group:reporting:clicks')!;
    assert.deepEqual(
      group.partitions.map((p) => [p.offset, p.lag]),
      [
        [1, 2],
        [null, null],
      ],
    );
    assert.equal(group.lag, 2);
    const reader = body.consumers.find((c) => c.kind === 'pipeline')!;
    assert.equal(reader.id, 'pipeline:counter:source:log:clicks');
    assert.deepEqual(
      reader.partitions.map((p) => p.lag),
      [0, 1],
      'the pipeline read everything but the record appended after it stopped',
    );
    assert.ok(Array.isArray(body.history));
  });

  it('samples produce rates and keeps lag per partition over time', async () => {
    let now = 1_000_000;
    const sampler = new TopicSampler({ log, pipelines: () => [pipeline], clock: () => now, keep: 2 });
    const first = sampler.sample();
    assert.equal(first.topics.find((t) => t.name === 'clicks')!.recordsPerSec, null, 'no rate from one sample');
    await log.append('clicks', 0, [
      { key: null, value: Buffer.from('{"n":6}') },
      { key: null, value: Buffer.from('{"n":7}') },
    ]);
    now += 2000;
    const second = sampler.sample();
    const clicks = second.topics.find((t) => t.name === 'clicks')!;
    assert.deepEqual(
      clicks.partitions.map((p) => p.recordsPerSec),
      [1, 0],
    );
    assert.equal(clicks.recordsPerSec, 1);
    assert.ok(clicks.partitions[0]!.bytesPerSec! > 0);
    now += 1000;
    sampler.sample();
    now += 1000;
    sampler.sample();
    const points = sampler.points();
    assert.equal(points.length, 2, 'keeps the last two');
    assert.equal(points[1]!.at, now);
    assert.deepEqual(points[1]!.lag['group:reporting:clicks'], [4, null]);
    assert.equal(points[1]!.produce.clicks, 0);
  });

  it("samples every operator's records per second, keeping the last minutes", () => {
    const sampler = new ThroughputSampler({ pipelines: () => [pipeline], keep: 2 });
    sampler.sample(1);
    sampler.sample(2);
    const last = sampler.sample(3);
    assert.deepEqual(Object.keys(last.rates.counter!), ['source:log:clicks', 'map', 'sink:collect']);
    assert.ok(Object.values(last.rates.counter!).every((rate) => rate >= 0));
    assert.deepEqual(
      sampler.points().map((p) => p.at),
      [2, 3],
    );
  });

  it('GET /v1/pipelines/{name}: metrics, topology and history; 404 for an unknown one', async () => {
    const response = await app().request('/v1/pipelines/counter');
    assert.equal(response.status, 200);
    const detail = (await response.json()) as PipelineDetailJson;
    assert.equal(detail.metrics.name, 'counter');
    assert.deepEqual(
      detail.topology.nodes.map((n) => [n.id, n.kind]),
      [
        ['source:log:clicks', 'source'],
        ['map', 'operator'],
        ['sink:collect', 'sink'],
      ],
    );
    assert.deepEqual(
      detail.topology.edges.map((e) => [e.from, e.to]),
      [
        ['source:log:clicks', 'map'],
        ['map', 'sink:collect'],
      ],
    );
    assert.equal(detail.history.checkpoints[0]!.status, 'completed');
    assert.equal(detail.history.totals.completed, detail.metrics.checkpoints.completed);
    // Per source partition: where it reads, its watermark (none without withTimestamps), and idleness (never in a
    // bounded run).
    assert.deepEqual(detail.metrics.sources, [
      {
        operator: 'source:log:clicks',
        topic: 'clicks',
        partitions: [
          { partition: 0, offset: 3, watermark: null, idle: false, idleSince: null },
          { partition: 1, offset: 1, watermark: null, idle: false, idleSince: null },
        ],
      },
    ]);
    const missing = await app().request('/v1/pipelines/nope');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'UNKNOWN_PIPELINE');
  });

  it('GET /v1/checkpoints: every pipeline with its checkpoint history and restarts', async () => {
    const body = (await (await app().request('/v1/checkpoints')).json()) as CheckpointsJson;
    assert.equal(body.pipelines.length, 1);
    const [counter] = body.pipelines;
    assert.equal(counter!.name, 'counter');
    assert.ok(counter!.checkpoints.length >= 1);
    assert.ok(counter!.checkpoints.every((c) => c.bytes! > 0 && c.durationMs >= 0));
    assert.deepEqual(counter!.restarts, []);
  });

  it('refuses bad stream subscriptions with precise errors', async () => {
    const a = app();
    const series = (spec: object) => `/v1/stream?series=${encodeURIComponent(JSON.stringify(spec))}`;
    const good = { id: 's', table: 'readings', time: 'ts', measure: 'sum', column: 'value' };
    const cases: [string, number, string, RegExp][] = [
      ['/v1/stream', 400, 'INVALID_REQUEST', /subscribe to something/],
      ['/v1/stream?channels=topics,secrets', 400, 'INVALID_REQUEST', /unknown channel "secrets"/],
      ['/v1/stream?series=nope', 400, 'INVALID_SERIES', /not valid JSON/],
      [series({ ...good, table: 'missing' }), 404, 'UNKNOWN_TABLE', /missing/],
      [series({ ...good, table: 'readings; DROP TABLE x' }), 400, 'INVALID_SERIES', /table name/],
      [series({ ...good, column: 'value") FROM secrets --' }), 400, 'INVALID_SERIES', /no column/],
      [series({ ...good, column: 'sensor' }), 400, 'INVALID_SERIES', /numeric/],
      [series({ ...good, time: 'sensor' }), 400, 'INVALID_SERIES', /TIMESTAMP_MS/],
      [series({ ...good, measure: 'median' }), 400, 'INVALID_SERIES', /count, sum, avg, min, max/],
      [series({ ...good, points: 1e9 }), 400, 'INVALID_SERIES', /points/],
      [series({ ...good, bucketMs: -1 }), 400, 'INVALID_SERIES', /bucketMs/],
      [series({ ...good, id: 'a b' }), 400, 'INVALID_SERIES', /id/],
      [series({ ...good, sql: 'SELECT 1' }), 400, 'INVALID_SERIES', /unknown field "sql"/],
      [series({ ...good, id: 'x'.repeat(3000) }), 400, 'INVALID_SERIES', /longer than/],
      [
        `/v1/stream?${Array.from({ length: 9 }, (_, i) => `series=${encodeURIComponent(JSON.stringify({ ...good, id: `s${i}` }))}`).join('&')}`,
        400,
        'INVALID_REQUEST',
        /at most 8/,
      ],
      [`${series(good)}&series=${encodeURIComponent(JSON.stringify(good))}`, 400, 'INVALID_SERIES', /same id/],
    ];
    for (const [url, status, code, message] of cases) {
      const response = await a.request(url);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(response.status, status, `${url}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, code, url);
      assert.match(body.error.message, message, url);
    }
  });

  it('streams pipelines, topics (with history first) and history, then a series with only what changed', async () => {
    const spec = { id: 'totals', table: 'readings', time: 'ts', measure: 'sum', column: 'value', bucketMs: 60_000 };
    const response = await app().request(
      `/v1/stream?channels=pipelines,topics,history&series=${encodeURIComponent(JSON.stringify(spec))}`,
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    const events = sseReader(response);
    try {
      assert.equal((await events.next()).event, 'hello');
      const pipelines = await events.until<PipelinesEventJson>('pipelines');
      assert.equal(pipelines.pipelines[0]!.name, 'counter');
      assert.ok(Array.isArray(pipelines.history), 'the first pipelines event carries the throughput history');
      const topics = await events.until<TopicsJson>('topics');
      assert.ok(Array.isArray(topics.history), 'the first topics event carries the history');
      const first = await events.until<SeriesEventJson>('series');
      assert.deepEqual(first, {
        id: 'totals',
        reset: true,
        start: 60_000,
        from: null,
        rows: [
          [60_000, '', 3],
          [120_000, '', 3],
        ],
      });
      const later = await events.until<TopicsJson>('topics');
      assert.equal(later.history, undefined, 'later ones do not');
      assert.equal((await events.until<PipelinesEventJson>('pipelines')).history, undefined);
      await writeReadings(store, [
        { ts: 120_500, sensor: 'b', value: 10, seq: 4 },
        { ts: 180_000, sensor: 'a', value: 5, seq: 5 },
      ]);
      const delta = await events.until<SeriesEventJson>('series');
      assert.deepEqual(delta, {
        id: 'totals',
        reset: false,
        start: 60_000,
        from: 120_000,
        rows: [
          [120_000, '', 13],
          [180_000, '', 5],
        ],
      });
    } finally {
      await events.cancel();
    }
  });

  it('pushes a new row to a series within a second (at the default interval)', async () => {
    const spec = { id: 'fresh', table: 'readings', time: 'ts', measure: 'max', column: 'seq' };
    const response = await app({ liveIntervalMs: 1000 }).request(
      `/v1/stream?series=${encodeURIComponent(JSON.stringify(spec))}`,
    );
    const events = sseReader(response);
    try {
      await events.until<SeriesEventJson>('series', (e) => e.reset);
      await writeReadings(store, [{ ts: 240_000, sensor: 'c', value: 1, seq: 99 }]);
      const written = performance.now();
      const delta = await events.until<SeriesEventJson>('series', (e) => e.rows.some((r) => r[2] === 99), 3000);
      const latency = performance.now() - written;
      assert.deepEqual(delta.rows.at(-1), [240_000, '', 99]);
      assert.ok(latency < 1000, `the row reached the stream after ${Math.round(latency)} ms`);
    } finally {
      await events.cancel();
    }
  });

  it('groups a series by the most frequent values of a column, over the last N time points', async () => {
    const grouped = { id: 'g', table: 'readings', time: 'ts', measure: 'count', groupBy: 'sensor', points: 2 };
    const response = await app().request(`/v1/stream?series=${encodeURIComponent(JSON.stringify(grouped))}`);
    const events = sseReader(response);
    try {
      const series = await events.until<SeriesEventJson>('series');
      const times = [...new Set(series.rows.map(([t]) => t))];
      assert.equal(times.length, 2, 'the last two time points');
      const all = (await store.query('SELECT DISTINCT epoch_ms(ts) FROM readings ORDER BY 1 DESC LIMIT 2')).rows;
      assert.deepEqual(times, all.map((r) => Number(r[0])).reverse());
      assert.ok(
        series.rows.every(([, g, v]) => ['a', 'b', 'c'].includes(g) && v! >= 1),
        JSON.stringify(series),
      );
    } finally {
      await events.cancel();
    }
  });

  it('reports a failing series query as an event, and carries on when it works again', async () => {
    let fail = true;
    const flaky = {
      rowsWritten: new Map<string, number>(),
      table: (name: string) => store.table(name),
      query: (sql: string, options: object) => {
        if (!fail) return store.query(sql, options);
        fail = false;
        return Promise.reject(Object.assign(new Error('the query ran too long'), { code: 'QUERY_TIMEOUT' }));
      },
    } as unknown as ServingStore;
    const sampler = new TopicSampler({ log, pipelines: () => [] });
    const throughput = new ThroughputSampler({ pipelines: () => [] });
    const hub = new LiveHub({ pipelines: () => [], store: flaky, sampler, throughput, intervalMs: 40 });
    cleanup.push(() => hub.close());
    const got: [string, unknown][] = [];
    const spec = parseSeriesSpec({ id: 'f', table: 'readings', time: 'ts', measure: 'count' }, store);
    const stop = hub.subscribe(new Set(), [spec], {
      send: async (event, data) => {
        got.push([event, data]);
      },
      close() {},
    });
    try {
      const deadline = Date.now() + 5000;
      while (!got.some(([event]) => event === 'series')) {
        if (Date.now() > deadline) throw new Error(`no series after the error: ${JSON.stringify(got)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      stop();
    }
    assert.deepEqual(got[0], [
      'series-error',
      { id: 'f', error: { code: 'INTERNAL', message: 'the query ran too long' } },
    ]);
    assert.equal((got.find(([event]) => event === 'series')![1] as SeriesEventJson).reset, true);
  });

  it('runs one query per series per tick however many streams show it, and limits open streams', async () => {
    const spec: SeriesSpec = { id: 'n', table: 'readings', time: 'ts', measure: 'count', points: 10 };
    const sampler = new TopicSampler({ log, pipelines: () => [] });
    const throughput = new ThroughputSampler({ pipelines: () => [] });
    const hub = new LiveHub({ pipelines: () => [], store, sampler, throughput, intervalMs: 20, maxStreams: 3 });
    cleanup.push(() => hub.close());
    const received: SeriesEventJson[][] = [[], [], []];
    const before = store.queries;
    const unsubscribe = received.map((list) =>
      hub.subscribe(new Set(), [parseSeriesSpec(spec, store)], {
        send: async (event, data) => {
          if (event === 'series') list.push(data as SeriesEventJson);
        },
        close() {},
      }),
    );
    assert.throws(() => hub.subscribe(new Set(['pipelines']), [], { send: async () => {}, close() {} }), {
      code: 'TOO_MANY_STREAMS',
    });
    const deadline = Date.now() + 5000;
    while (received.some((list) => list.length === 0)) {
      if (Date.now() > deadline) throw new Error('no series event');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(store.queries - before, 1, 'three streams, one query');
    for (const list of received) assert.equal(list[0]!.reset, true);
    for (const stop of unsubscribe) stop();
  });

  it('builds series SQL from checked names only', () => {
    const spec = parseSeriesSpec(
      { id: 'x', table: 'readings', time: 'ts', measure: 'avg', column: 'value', groupBy: 'sensor', bucketMs: 1000 },
      store,
    );
    const sql = seriesSql(spec, 'TIMESTAMP_MS');
    assert.match(sql, /epoch_ms\("ts"\) \/\/ 1000\) \* 1000/);
    assert.match(sql, /avg\(v\)/);
    assert.match(sql, /CAST\("sensor" AS VARCHAR\)/);
    assert.match(seriesSql({ ...spec, bucketMs: undefined }, 'BIGINT'), /CAST\(floor\("ts"\) AS BIGINT\)/);
  });
});

describe('series deltas', () => {
  const rows = (...points: [number, number][]): SeriesRow[] => points.map(([t, v]) => [t, '', v]);

  it('send everything first, nothing when nothing changed, and from the first changed point on', () => {
    const a = rows([1, 10], [2, 20], [3, 30]);
    assert.deepEqual(seriesDelta('s', undefined, a), { id: 's', reset: true, start: 1, from: null, rows: a });
    assert.equal(seriesDelta('s', a, rows([1, 10], [2, 20], [3, 30])), null);
    assert.deepEqual(seriesDelta('s', a, rows([1, 10], [2, 20], [3, 30], [4, 40])), {
      id: 's',
      reset: false,
      start: 1,
      from: 4,
      rows: rows([4, 40]),
    });
    // A late update of an old point resends from there.
    assert.deepEqual(seriesDelta('s', a, rows([1, 10], [2, 25], [3, 30]))?.rows, rows([2, 25], [3, 30]));
    // The window moved on: the client drops the points before `start`.
    assert.deepEqual(seriesDelta('s', a, rows([2, 20], [3, 30])), {
      id: 's',
      reset: false,
      start: 2,
      from: null,
      rows: [],
    });
    // A group that appears changes its time point.
    assert.equal(seriesDelta('s', a, [...a.slice(0, 2), [2, 'new', 1], a[2]!])?.from, 2);
    assert.deepEqual(seriesDelta('s', a, []), { id: 's', reset: false, start: null, from: 1, rows: [] });
  });
});
