// Streaming queries started over HTTP (the dashboard's "Start streaming query"): a SQL script of CREATE TABLE and
// CREATE MATERIALIZED VIEW / INSERT INTO statements, planned at once (SQL errors are 400s with the line and column),
// then run as a supervised pipeline in this process over its log and serving store — listed in /v1/pipelines beside
// the others, its views' tables live in the dashboard — until it is stopped (DELETE) or the server closes.
import fs from 'node:fs/promises';
import path from 'node:path';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { PipelineLog, PipelineView } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { InProcessHost, Supervisor } from '../runtime/index.ts';
import type { ServingStore } from '../serve/index.ts';
import { compileSql, scriptTopics } from '../sql/index.ts';
import type { StreamingQueriesJson, StreamingQueryJson } from './api.ts';

/** Largest script accepted (bytes of the JSON body). */
export const MAX_SCRIPT_BYTES = 256 * 1024;
const NAME = /^[a-z][a-z0-9_-]{0,62}$/;

export interface StreamingQueriesOptions {
  /** The log the queries' tables read and write (the embedded log of `sluice dev` / `sluice run`). */
  log: PipelineLog;
  /** Where their views' tables live. */
  store: ServingStore;
  /** Their checkpoints go to `<dataDir>/streaming-queries/<name>` (removed when the query is stopped). */
  dataDir: string;
  /** Names already taken by the process's other pipelines. */
  taken?: () => string[];
  /** Queries running at once (default 16). */
  maxQueries?: number;
  /** Checkpoint period (default 10 s). */
  checkpointIntervalMs?: number;
}

interface Query {
  name: string;
  sql: string;
  startedAt: number;
  tables: string[];
  topics: string[];
  supervisor: Supervisor;
  dir: string;
}

export class StreamingQueries {
  private readonly options: StreamingQueriesOptions;
  private readonly queries = new Map<string, Query>();
  private readonly logger = createLogger('streaming-queries');
  private closed = false;

  constructor(options: StreamingQueriesOptions) {
    this.options = options;
  }

  /** The queries' pipelines, as /v1/pipelines and /metrics show them. */
  views(): PipelineView[] {
    return [...this.queries.values()].flatMap((q) => q.supervisor.views());
  }

  list(): StreamingQueryJson[] {
    return [...this.queries.values()].map((q) => this.json(q));
  }

  get(name: string): StreamingQueryJson {
    return this.json(this.find(name));
  }

  /**
   * Plans `sql` (INVALID_SQL / UNSUPPORTED_SQL with `details.line` and `.column`), then starts it and resolves once
   * its pipeline runs; a pipeline that cannot be built (a view whose table exists with other columns) is refused.
   */
  async start(request: { name?: string; sql: string }): Promise<StreamingQueryJson> {
    // A script without INSERT INTO or CREATE MATERIALIZED VIEW is refused here too: it would run nothing.
    const topics = await scriptTopics(request.sql);
    // From here to the map's update nothing awaits: two requests at once cannot both take a name or the last place.
    if (this.closed) throw new SluiceError('INVALID_REQUEST', 'the server is closing');
    const max = this.options.maxQueries ?? 16;
    if (this.queries.size >= max) {
      throw new SluiceError('INVALID_REQUEST', `${max} streaming queries run already: stop one first`, { max });
    }
    const taken = new Set([...this.queries.keys(), ...(this.options.taken?.() ?? [])]);
    let name = request.name ?? topics.views[0];
    for (let n = 1; name === undefined; n++) if (!taken.has(`query-${n}`)) name = `query-${n}`;
    if (!NAME.test(name)) {
      throw new SluiceError('INVALID_REQUEST', `"name" must be lowercase letters, digits, - and _ (got "${name}")`);
    }
    if (taken.has(name)) {
      throw new SluiceError('INVALID_REQUEST', `a pipeline named "${name}" runs already: stop it, or pick a "name"`, {
        name,
      });
    }
    const dir = path.join(this.options.dataDir, 'streaming-queries', name);
    const env = { log: this.options.log, bounded: false, dataDir: this.options.dataDir, serving: this.options.store };
    const queryName = name;
    const host = new InProcessHost({
      build: async () => {
        const pipeline = await compileSql(request.sql, env, { name: queryName });
        pipeline.enableCheckpoints({ dir, intervalMs: this.options.checkpointIntervalMs ?? 10_000 });
        return pipeline;
      },
    });
    const supervisor = new Supervisor({ host, name: `streaming query ${name}`, logger: this.logger });
    const query: Query = {
      name,
      sql: request.sql,
      startedAt: Date.now(),
      tables: topics.views,
      topics: topics.writes,
      supervisor,
      dir,
    };
    this.queries.set(name, query);
    try {
      // A query starts afresh: nothing of an earlier query of the same name is restored.
      await fs.rm(dir, { recursive: true, force: true });
      supervisor.start();
      await supervisor.ready;
    } catch (error) {
      if (this.queries.get(name) === query) this.queries.delete(name);
      await fs.rm(dir, { recursive: true, force: true });
      throw error;
    }
    this.logger.info({ query: name, tables: topics.views, topics: topics.writes }, 'streaming query started');
    return this.json(query);
  }

  /** Stops the query (its tables and topics stay, with what it wrote) and forgets it. */
  async stop(name: string): Promise<StreamingQueryJson> {
    const query = this.find(name);
    this.queries.delete(name);
    await query.supervisor.stop({ checkpoint: false });
    await query.supervisor.done.catch(() => {});
    await fs.rm(query.dir, { recursive: true, force: true });
    this.logger.info({ query: name }, 'streaming query stopped');
    return { ...this.json(query), state: 'stopped' };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.queries.keys()].map((name) => this.stop(name).catch(() => {})));
  }

  private find(name: string): Query {
    const query = this.queries.get(name);
    if (!query) throw new SluiceError('UNKNOWN_PIPELINE', `no streaming query "${name}" runs here`, { name });
    return query;
  }

  private json(q: Query): StreamingQueryJson {
    return {
      name: q.name,
      sql: q.sql,
      state: q.supervisor.state,
      startedAt: q.startedAt,
      restarts: q.supervisor.restarts(),
      error: q.supervisor.lastError ?? null,
      tables: q.tables,
      topics: q.topics,
    };
  }
}

/** The routes at /v1/streaming-queries: POST starts, GET lists (or shows one), DELETE stops. */
export function streamingQueriesApi(queries: StreamingQueries): Hono {
  const app = new Hono();
  app.post(
    '/',
    bodyLimit({
      maxSize: MAX_SCRIPT_BYTES,
      onError: (c) =>
        c.json(
          {
            error: {
              code: 'PAYLOAD_TOO_LARGE',
              message: `the body is larger than ${MAX_SCRIPT_BYTES} bytes`,
              details: { limit: MAX_SCRIPT_BYTES },
            },
          },
          413,
        ),
    }),
    async (c) => {
      const body = (await c.req.json().catch(() => {
        throw new SluiceError(
          'INVALID_REQUEST',
          'the body must be JSON: {"sql": "CREATE TABLE …; CREATE MATERIALIZED VIEW …"}',
        );
      })) as { sql?: unknown; name?: unknown };
      if (typeof body?.sql !== 'string' || body.sql.trim() === '') {
        throw new SluiceError('INVALID_REQUEST', 'the body needs "sql": the script, a string');
      }
      if (body.name !== undefined && typeof body.name !== 'string') {
        throw new SluiceError('INVALID_REQUEST', '"name" must be a string');
      }
      const query = await queries.start({ sql: body.sql, ...(body.name ? { name: body.name } : {}) });
      return c.json({ query }, 201);
    },
  );
  app.get('/', (c) => {
    const body: StreamingQueriesJson = { queries: queries.list() };
    return c.json(body);
  });
  app.get('/:name', (c) => c.json({ query: queries.get(c.req.param('name')) }));
  app.delete('/:name', async (c) => c.json({ query: await queries.stop(c.req.param('name')) }));
  return app;
}
