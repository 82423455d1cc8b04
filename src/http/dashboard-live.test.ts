// The dashboard's live stream, in process: subscriptions checked with precise errors, Server-Sent Events of
// pipelines, topics, history and series (deltas only), one query per series per tick, and the series SQL and deltas.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cleanup, openDashboardFixture, sseReader, writeReadings } from '../../test/helpers/dashboard.ts';
import type { Pipeline } from '../engine/index.ts';
import type { Log } from '../log/index.ts';
import type { ServingStore } from '../serve/index.ts';
import type { PipelinesEventJson, SeriesEventJson, SeriesSpec, TopicsJson } from './api.ts';
import { createApp } from './index.ts';
import { LiveHub } from './live.ts';
import { parseSeriesSpec, type SeriesRow, seriesDelta, seriesSql } from './series.ts';
import { ThroughputSampler } from './throughput.ts';
import { TopicSampler } from './topics.ts';

describe('dashboard live stream', () => {
  let log: Log;
  let store: ServingStore;
  let pipeline: Pipeline;

  before(async () => {
    ({ log, store, pipeline } = await openDashboardFixture());
  });

  const app = (options: { liveIntervalMs?: number; maxStreams?: number } = {}) =>
    createApp({ log, store, pipelines: () => [pipeline], liveIntervalMs: 50, ...options });

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
