// Streaming queries started over HTTP (the dashboard's "Start streaming query"): a SQL script of CREATE TABLE and
// CREATE MATERIALIZED VIEW / INSERT INTO statements, planned at once (SQL errors are 400s with the line and column),
// then run as a supervised pipeline in this process over its log and serving store — listed in /v1/pipelines beside
// the others, its views' tables live in the dashboard — until it is stopped (DELETE).
//
// They are persistent, as a SQL gateway's queries are: each definition is kept in the data directory
// (streaming-query-store.ts) before the query starts, and a server opening that directory again resumes every one
// from its latest checkpoint, so that what it writes counts each record once across the restart. Closing the server
// stops them with a last checkpoint and keeps them; only DELETE forgets one (its definition, then its checkpoints).
// A query that cannot be resumed (a damaged definition, SQL that no longer plans, a name another pipeline took) is
// listed as failed with its error until it is deleted.
import fs from 'node:fs/promises';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { PipelineLog, PipelineView } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { InProcessHost, Supervisor } from '../runtime/index.ts';
import type { ServingStore } from '../serve/index.ts';
import { compileSql, scriptTopics } from '../sql/index.ts';
import type { StreamingQueriesJson, StreamingQueryJson } from './api.ts';
import { QUERY_NAME, type StoredQuery, StreamingQueryStore } from './streaming-query-store.ts';

/** Largest script accepted (bytes of the JSON body). */
export const MAX_SCRIPT_BYTES = 256 * 1024;

export interface StreamingQueriesOptions {
  /** The log the queries' tables read and write (the embedded log of `sluice dev` / `sluice run`). */
  log: PipelineLog;
  /** Where their views' tables live. */
  store: ServingStore;
  /**
   * Their definitions go to `<dataDir>/streaming-queries/<name>.json` and their checkpoints to
   * `<dataDir>/streaming-queries/<name>/` (both removed when the query is deleted).
   */
  dataDir: string;
  /** Names already taken by the process's other pipelines. */
  taken?: () => string[];
  /** Queries at once (default 16), failed ones included. */
  maxQueries?: number;
  /** Checkpoint period (default 10 s). */
  checkpointIntervalMs?: number;
}

interface Query extends StoredQuery {
  dir: string;
  /** When this process resumed it from the data directory (null: started here). */
  resumedAt: number | null;
  /** Absent when it could not even be started (its failure says why). */
  supervisor?: Supervisor;
  /** Why it failed for good (a supervisor's final error, or why it could not be resumed). */
  failure?: { code: string; message: string };
}

export class StreamingQueries {
  private readonly options: StreamingQueriesOptions;
  private readonly queries = new Map<string, Query>();
  private readonly store: StreamingQueryStore;
  private readonly logger = createLogger('streaming-queries');
  private closed = false;

  constructor(options: StreamingQueriesOptions) {
    this.options = options;
    this.store = new StreamingQueryStore(options.dataDir);
  }

  /** The queries' pipelines, as /v1/pipelines and /metrics show them. */
  views(): PipelineView[] {
    return [...this.queries.values()].flatMap((q) => q.supervisor?.views() ?? []);
  }

  list(): StreamingQueryJson[] {
    return [...this.queries.values()].map((q) => this.json(q));
  }

  get(name: string): StreamingQueryJson {
    return this.json(this.find(name));
  }

  /**
   * Resumes every query kept in the data directory, each from its latest checkpoint, and resolves once each runs or
   * has failed; never throws (a query that cannot be resumed is listed as failed, with its error, and logged).
   */
  async restore(): Promise<void> {
    let loaded: Awaited<ReturnType<StreamingQueryStore['load']>>;
    try {
      loaded = await this.store.load();
    } catch (error) {
      this.logger.error(
        { err: error, dir: this.store.dir },
        'cannot read the streaming queries kept in the data directory',
      );
      return;
    }
    const taken = new Set(this.options.taken?.() ?? []);
    const resumed: Query[] = [];
    const now = Date.now();
    for (const entry of loaded) {
      if (this.closed || this.queries.has(entry.name)) continue;
      const dir = this.store.checkpointDirOf(entry.name);
      if ('error' in entry) {
        this.queries.set(entry.name, {
          name: entry.name,
          sql: '',
          // Unknown: the file's time stands in.
          startedAt: entry.modifiedAt,
          tables: [],
          topics: [],
          resumes: 0,
          dir,
          resumedAt: now,
          failure: { code: entry.error.code, message: entry.error.message },
        });
        this.logger.error({ query: entry.name, err: entry.error }, 'streaming query not resumed');
        continue;
      }
      const query: Query = { ...entry.query, resumes: entry.query.resumes + 1, dir, resumedAt: now };
      this.queries.set(query.name, query);
      if (taken.has(query.name)) {
        query.failure = {
          code: 'INVALID_REQUEST',
          message: `a pipeline named "${query.name}" runs already in this process: the streaming query is not resumed`,
        };
        this.logger.error({ query: query.name }, query.failure.message);
        continue;
      }
      resumed.push(query);
    }
    await Promise.all(
      resumed.map(async (query) => {
        const refusal = await this.refusalToResume(query);
        if (refusal) {
          query.failure = { code: refusal.code, message: refusal.message };
          this.logger.error({ query: query.name, err: refusal }, 'streaming query not resumed');
          return;
        }
        await this.store.save(this.stored(query)).catch((error: unknown) => {
          this.logger.warn({ query: query.name, err: error }, 'cannot record the resume of a streaming query');
        });
        if (this.closed) return;
        const supervisor = this.launch(query);
        try {
          await supervisor.ready;
          this.logger.info({ query: query.name, resumes: query.resumes }, 'streaming query resumed');
        } catch (error) {
          this.logger.error({ query: query.name, err: error }, 'streaming query not resumed');
        }
      }),
    );
  }

  /**
   * Plans `sql` (INVALID_SQL / UNSUPPORTED_SQL with `details.line` and `.column`), keeps its definition in the data
   * directory, then starts it and resolves once its pipeline runs; a pipeline that cannot be built (a view whose
   * table exists with other columns) is refused, and its definition removed.
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
    if (!QUERY_NAME.test(name)) {
      throw new SluiceError('INVALID_REQUEST', `"name" must be lowercase letters, digits, - and _ (got "${name}")`);
    }
    if (this.queries.get(name)?.failure) {
      throw new SluiceError(
        'INVALID_REQUEST',
        `a streaming query named "${name}" exists and failed: DELETE it first, or pick a "name"`,
        { name },
      );
    }
    if (taken.has(name)) {
      throw new SluiceError('INVALID_REQUEST', `a pipeline named "${name}" runs already: stop it, or pick a "name"`, {
        name,
      });
    }
    const query: Query = {
      name,
      sql: request.sql,
      startedAt: Date.now(),
      tables: topics.views,
      topics: topics.writes,
      resumes: 0,
      dir: this.store.checkpointDirOf(name),
      resumedAt: null,
    };
    this.queries.set(name, query);
    try {
      // A query starts afresh: nothing of an earlier query of the same name is restored.
      await fs.rm(query.dir, { recursive: true, force: true });
      // Kept before it starts: a query that runs is always one a restart resumes.
      await this.store.save(this.stored(query));
      if (this.closed) throw new SluiceError('INVALID_REQUEST', 'the server is closing');
      // Its pipeline checkpoints once before its first record (the engine does), so that a crash at any later
      // instant resumes from a checkpoint that its tables roll back to.
      await this.launch(query).ready;
    } catch (error) {
      if (this.queries.get(name) === query) this.queries.delete(name);
      await query.supervisor?.stop({ checkpoint: false });
      await this.store.remove(name).catch(() => {});
      throw error;
    }
    this.logger.info({ query: name, tables: topics.views, topics: topics.writes }, 'streaming query started');
    return this.json(query);
  }

  /** Stops the query (its tables and topics stay, with what it wrote) and forgets it: a restart does not resume it. */
  async stop(name: string): Promise<StreamingQueryJson> {
    const query = this.find(name);
    this.queries.delete(name);
    await query.supervisor?.stop({ checkpoint: false });
    await query.supervisor?.done.catch(() => {});
    await this.store.remove(name);
    this.logger.info({ query: name }, 'streaming query stopped');
    return { ...this.json(query), state: 'stopped' };
  }

  /** Stops every query with a last checkpoint, keeping them: the next server on this data directory resumes them. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.queries.values()].map((q) => q.supervisor?.stop()));
  }

  /**
   * Why a kept query cannot be resumed, if it cannot: its SQL no longer plans (this Sluice is another version), or a
   * topic it reads is gone while its checkpoint holds positions in it (resuming would skip what a new topic of that
   * name holds, or read it from the wrong offsets).
   */
  private async refusalToResume(query: Query): Promise<SluiceError | undefined> {
    let reads: string[];
    try {
      reads = (await scriptTopics(query.sql)).reads;
    } catch (error) {
      if (error instanceof SluiceError) return error;
      return new SluiceError('INVALID_SQL', `its SQL does not plan: ${(error as Error).message}`);
    }
    const gone = reads.filter((topic) => !this.options.log.hasTopic(topic));
    const checkpointed = (await fs.readdir(query.dir).catch(() => [])).length > 0;
    if (gone.length > 0 && checkpointed) {
      // Its checkpoint's positions in the topic would mean nothing in a new one of that name.
      const topics = gone.map((t) => `"${t}"`).join(', ');
      return new SluiceError(
        'UNKNOWN_TOPIC',
        `topic ${topics} it reads was deleted since it ran: delete the query and start it again`,
        { topics: gone },
      );
    }
    return undefined;
  }

  /** Creates and starts the query's supervisor: built from its SQL, resuming from its latest checkpoint if any. */
  private launch(query: Query): Supervisor {
    const env = { log: this.options.log, bounded: false, dataDir: this.options.dataDir, serving: this.options.store };
    const host = new InProcessHost({
      build: async () => {
        const pipeline = await compileSql(query.sql, env, { name: query.name });
        pipeline.enableCheckpoints({ dir: query.dir, intervalMs: this.options.checkpointIntervalMs ?? 10_000 });
        return pipeline;
      },
    });
    const supervisor = new Supervisor({ host, name: `streaming query ${query.name}`, logger: this.logger });
    supervisor.done.catch((error: Error & { code?: string }) => {
      query.failure = { code: error.code ?? 'INTERNAL', message: error.message };
    });
    query.supervisor = supervisor;
    supervisor.start();
    return supervisor;
  }

  private find(name: string): Query {
    const query = this.queries.get(name);
    if (!query) throw new SluiceError('UNKNOWN_PIPELINE', `no streaming query "${name}" runs here`, { name });
    return query;
  }

  private stored(q: Query): StoredQuery {
    return { name: q.name, sql: q.sql, startedAt: q.startedAt, tables: q.tables, topics: q.topics, resumes: q.resumes };
  }

  private json(q: Query): StreamingQueryJson {
    const supervisor = q.supervisor;
    const lastRestart = supervisor?.restartRecords().at(-1);
    const message = q.failure?.message ?? supervisor?.lastError ?? null;
    return {
      name: q.name,
      sql: q.sql,
      state: supervisor && !q.failure ? supervisor.state : 'failed',
      startedAt: q.startedAt,
      restarts: supervisor?.restarts() ?? 0,
      error: message,
      errorCode: q.failure?.code ?? (message === null ? null : (lastRestart?.code ?? null)),
      resumes: q.resumes,
      resumedAt: q.resumedAt,
      restoredFrom: supervisor?.views()[0]?.metrics().checkpoints.restoredFrom ?? null,
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
