// The HTTP API (hono on node:http): health, Prometheus metrics, NDJSON ingest into topics of the log, read-only
// SQL over the serving store, tables, pipelines, topics, checkpoints, live Server-Sent Events for the dashboard,
// and the dashboard itself at `/`. Binds to 127.0.0.1 unless told otherwise; a non-loopback address requires a
// bearer token (on every API route; the dashboard's files hold no data and load without it). Every body and query
// parameter has a size limit; ingest has a per-topic rate limit.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { type ErrorMapping, errorMapping, isSluiceError, SluiceError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import type { ApiIndexJson, CheckpointsJson, PipelineDetailJson, TopicRecordsJson, TopicsJson } from './api.ts';
import { isAssetPath, serveDashboard } from './assets.ts';
import { ingestRecords, RateLimiter } from './ingest.ts';
import { historyOf, LiveHub, parseSubscription, streamLive } from './live.ts';
import { createMetrics } from './metrics.ts';
import type { RunningServer, ServerOptions } from './options.ts';
import { browseRecords, parsePartition, parseRecordsQuery } from './records.ts';
import { StreamingQueries, streamingQueriesApi } from './streaming-queries.ts';
import { ThroughputSampler } from './throughput.ts';
import { TopicSampler } from './topics.ts';

export type { RunningServer, ServerLog, ServerOptions } from './options.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** The status each stable error code maps to. */
/** The HTTP status of an error code (src/errors.ts's table). */
function statusOf(code: string): ErrorMapping['http'] {
  return errorMapping(code).http;
}

export function createApp(options: ServerOptions): Hono {
  return buildApp(options).app;
}

function buildApp(options: ServerOptions): {
  app: Hono;
  metrics: ReturnType<typeof createMetrics>;
  sampler: TopicSampler;
  throughput: ThroughputSampler;
  hub: LiveHub;
  queries: StreamingQueries | undefined;
} {
  const logger = createLogger('http');
  const app = new Hono();
  let queries: StreamingQueries | undefined;
  if (options.streaming && options.store) {
    const { streaming, pipelines } = options;
    queries = new StreamingQueries({
      ...streaming,
      store: options.store,
      taken: () => (pipelines?.() ?? []).map((p) => p.name),
    });
    const started = queries;
    // Their pipelines show in /v1/pipelines, /metrics and the dashboard like the process's own.
    options = { ...options, pipelines: () => [...(pipelines?.() ?? []), ...started.views()] };
  }
  const metrics = createMetrics(options);
  const sampler = new TopicSampler({
    log: options.log,
    pipelines: metrics.instances,
    intervalMs: options.liveIntervalMs,
  });
  const throughput = new ThroughputSampler({ pipelines: metrics.instances, intervalMs: options.liveIntervalMs });
  const hub = new LiveHub({
    pipelines: metrics.instances,
    store: options.store,
    sampler,
    throughput,
    intervalMs: options.liveIntervalMs,
    queryTimeoutMs: options.queryTimeoutMs,
    maxStreams: options.maxStreams,
  });
  const limiter = new RateLimiter(options.ingestRatePerSec ?? 200_000);
  const maxIngestBytes = options.maxIngestBytes ?? 16 * 1024 * 1024;
  const fail = (c: Context, error: unknown) => {
    if (isSluiceError(error)) {
      const status = statusOf(error.code);
      if (status === 429) c.header('Retry-After', String(error.details.retryAfterSec ?? 1));
      return c.json({ error: { code: error.code, message: error.message, details: error.details } }, status);
    }
    logger.error({ err: error }, 'request failed');
    return c.json({ error: { code: 'INTERNAL', message: (error as Error).message } }, 500);
  };
  const tooLarge = (limit: number) => (c: Context) =>
    fail(c, new SluiceError('PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes`, { limit }));

  app.use('*', async (c, next) => {
    // The dashboard's files are public (code, no data); everything it then asks the API for needs the token.
    const asset = (c.req.method === 'GET' || c.req.method === 'HEAD') && isAssetPath(c.req.path);
    if (options.authToken !== undefined && !asset && c.req.header('authorization') !== `Bearer ${options.authToken}`) {
      return fail(
        c,
        new SluiceError('UNAUTHORIZED', 'send Authorization: Bearer <token> (the server has --auth-token)'),
      );
    }
    const started = performance.now();
    await next();
    metrics.requests.inc({ route: c.req.routePath, status: String(c.res.status) });
    metrics.requestSeconds.observe({ route: c.req.routePath }, (performance.now() - started) / 1000);
  });

  app.get('/health', (c) => c.json({ status: 'ok' }));

  // What this server offers beyond the routes every server has: the dashboard shows its Deployment page only where
  // `/v1/deployment` is mounted (`sluice up`), without probing a route that would answer 404 everywhere else.
  app.get('/v1', (c) => {
    const body: ApiIndexJson = { mounts: Object.keys(options.mount ?? {}).sort(), streamingQueries: !!queries };
    return c.json(body);
  });

  app.get('/metrics', async (c) => {
    c.header('Content-Type', metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });

  app.post(
    '/v1/topics/:topic/records',
    bodyLimit({ maxSize: maxIngestBytes, onError: tooLarge(maxIngestBytes) }),
    async (c) => {
      const topic = c.req.param('topic');
      try {
        // Bytes, not text: lines are stored as sent, and invalid UTF-8 is refused rather than replaced.
        const body = new Uint8Array(await c.req.arrayBuffer());
        const result = await ingestRecords(options.log, topic, body, {
          keyField: c.req.query('key'),
          timestampField: c.req.query('timestamp'),
          limiter,
        });
        metrics.ingested.inc({ topic }, result.count);
        return c.json(result);
      } catch (error) {
        metrics.ingestRejected.inc({ topic, code: isSluiceError(error) ? error.code : 'INTERNAL' });
        return fail(c, error);
      }
    },
  );

  app.post('/v1/sql', bodyLimit({ maxSize: 1024 * 1024, onError: tooLarge(1024 * 1024) }), async (c) => {
    try {
      if (!options.store) throw new SluiceError('NO_SERVING_STORE', 'this server has no serving store');
      const body = (await c.req.json().catch(() => {
        throw new SluiceError('INVALID_REQUEST', 'the body must be JSON: {"sql": "SELECT ..."}');
      })) as { sql?: unknown; timeoutMs?: unknown; maxRows?: unknown };
      if (typeof body?.sql !== 'string') throw new SluiceError('INVALID_REQUEST', 'the body needs "sql": a string');
      const started = performance.now();
      const result = await options.store.query(body.sql, {
        timeoutMs: Math.min(positive(body.timeoutMs) ?? Number.POSITIVE_INFINITY, options.queryTimeoutMs ?? 10_000),
        maxRows: Math.min(positive(body.maxRows) ?? Number.POSITIVE_INFINITY, options.maxRows ?? 10_000),
      });
      metrics.querySeconds.observe((performance.now() - started) / 1000);
      return c.json(result);
    } catch (error) {
      return fail(c, error);
    }
  });

  app.get('/v1/tables', async (c) => {
    try {
      return c.json({ tables: options.store ? await options.store.listTables() : [] });
    } catch (error) {
      return fail(c, error);
    }
  });

  app.get('/v1/pipelines', (c) => c.json({ pipelines: metrics.pipelines() }));

  if (queries) app.route('/v1/streaming-queries', streamingQueriesApi(queries));
  for (const [prefix, routes] of Object.entries(options.mount ?? {})) app.route(prefix, routes);
  app.onError((error, c) => fail(c, error));

  app.get('/v1/pipelines/:name', (c) => {
    const name = c.req.param('name');
    const pipeline = metrics.instances().find((p) => p.name === name);
    if (!pipeline) return fail(c, new SluiceError('UNKNOWN_PIPELINE', `no pipeline "${name}" runs here`, { name }));
    const detail: PipelineDetailJson = {
      metrics: pipeline.metrics(),
      topology: pipeline.topology(),
      history: historyOf(pipeline),
    };
    return c.json(detail);
  });

  app.get('/v1/checkpoints', (c) => {
    const body: CheckpointsJson = { pipelines: metrics.instances().map(historyOf) };
    return c.json(body);
  });

  app.get('/v1/topics', (c) => {
    sampler.start();
    const body: TopicsJson =
      c.req.query('history') === '1' ? { ...sampler.current(), history: sampler.points() } : sampler.current();
    return c.json(body);
  });

  // The record browser: a partition's latest records, or from an offset or a time, or those with a key.
  app.get('/v1/topics/:topic/partitions/:partition/records', async (c) => {
    try {
      const partition = parsePartition(c.req.param('partition'));
      const query = parseRecordsQuery(c.req.queries());
      const body: TopicRecordsJson = await browseRecords(options.log, c.req.param('topic'), partition, query);
      return c.json(body);
    } catch (error) {
      return fail(c, error);
    }
  });

  // Live updates as Server-Sent Events: ?channels=pipelines,topics,history and up to 8 &series={json spec}.
  app.get('/v1/stream', (c) => {
    try {
      const subscription = parseSubscription(c.req.query('channels'), c.req.queries('series') ?? [], options.store);
      return streamLive(c, hub, subscription, sampler.intervalMs);
    } catch (error) {
      return fail(c, error);
    }
  });

  const dashboard = serveDashboard(options.dashboardDir);
  app.on(['GET', 'HEAD'], '*', (c, next) => (isAssetPath(c.req.path) ? dashboard(c) : next()));

  app.notFound((c) => fail(c, new SluiceError('UNKNOWN_ROUTE', `no route ${c.req.method} ${c.req.path}`)));
  return { app, metrics, sampler, throughput, hub, queries };
}

/** Starts the HTTP API; refuses a non-loopback address without a token. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host) && !options.authToken) {
    throw new SluiceError(
      'INSECURE_BIND',
      `refusing to serve HTTP on ${host} without a token: pass --auth-token (or SLUICE_AUTH_TOKEN), or bind to 127.0.0.1`,
    );
  }
  const { app, metrics, sampler, throughput, hub, queries } = buildApp(options);
  // The streaming queries kept in the data directory resume first, each from its latest checkpoint (those that
  // cannot are listed as failed), so that no request sees the list half restored or takes a kept query's name.
  await queries?.restore();
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 8080 }, () => resolve(s));
    s.once('error', reject);
  }).catch(async (error: unknown) => {
    await queries?.close();
    throw error;
  });
  // Rates and lag are charted from the server's start, not from the first page view.
  sampler.start();
  throughput.start();
  // Slow clients cannot hold connections forever.
  const http = server as unknown as import('node:http').Server;
  http.requestTimeout = 60_000;
  http.headersTimeout = 10_000;
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    port,
    registry: metrics.registry,
    registerPipelineMetrics: metrics.registerPipelineMetrics,
    close: async () => {
      await queries?.close();
      await new Promise<void>((resolve) => {
        hub.close();
        sampler.close();
        throughput.close();
        http.closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && value > 0 ? value : undefined;
}
