// A deployment spec: the topics, pipelines, serving tables and scheduled jobs `sluice up` runs, and how they depend
// on each other. Written as a typed TypeScript file (`export default defineDeployment({...})`), checked at load
// with zod so that every mistake names its field and the reason, and the dependency graph is checked for cycles.
import path from 'node:path';
import { Cron } from 'croner';
import { z } from 'zod';
import { toMillis } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { Log } from '../log/index.ts';
import { displayPath, importUserFile } from '../runtime/index.ts';
import { COLUMN_TYPES } from '../serve/index.ts';
import { withSqlTopics } from './sql-pipelines.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const duration = z.union([z.number().nonnegative(), z.string()]).superRefine((value, ctx) => {
  try {
    toMillis(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(/^duration: /, '') });
  }
});

const topicSchema = z.strictObject({
  partitions: z.number().int().min(1).max(10_000),
  /** How long records are kept (default 7 days); `-1` keeps them for ever. */
  retention: z.union([duration, z.literal(-1)]).optional(),
  /** Bytes kept per partition (default unlimited). */
  retentionBytes: z.number().int().min(-1).optional(),
});

const restartSchema = z.strictObject({
  maxFailures: z.number().int().min(0).max(1000).optional(),
  window: duration.optional(),
  initialDelay: duration.optional(),
  maxDelay: duration.optional(),
});

const pipelineSchema = z.strictObject({
  /** The pipeline file (`export default definePipeline(...)`, or a SQL script `.sql`), relative to the spec. */
  file: z.string().min(1),
  /** Topics the pipeline reads: it starts once their producers are healthy (a .sql file's: its source tables'). */
  inputs: z.array(z.string().regex(NAME, 'a topic name')).default([]),
  /** Topics the pipeline writes (replays write new versions of them; a .sql file's: its INSERT INTO tables'). */
  outputs: z.array(z.string().regex(NAME, 'a topic name')).default([]),
  /** Other pipelines that must be healthy first (besides those inferred from inputs and outputs). */
  dependsOn: z.array(z.string()).default([]),
  checkpointInterval: duration.default('10s'),
  restart: restartSchema.default({}),
});

const column = z.strictObject({ name: z.string().regex(TABLE_NAME, 'a column name'), type: z.enum(COLUMN_TYPES) });

const tableSchema = z.strictObject({
  /** The topic whose JSON records the table loads (a pipeline's output), exactly once. */
  from: z.string().regex(NAME, 'a topic name'),
  columns: z.array(column).min(1).optional(),
  /** Primary key columns: an upsert table (window results with late updates). Without: an append table. */
  key: z.array(z.string()).min(1).optional(),
  /** A hybrid (Lambda) table by this epoch-ms column: batch jobs replace its batch part range by range. */
  time: z.string().optional(),
  retention: z.strictObject({ column: z.string(), keep: duration }).optional(),
  /**
   * How the topic holds rows: JSON objects (default; a keyed table deletes a row whose `kind` is 'delete'), or
   * 'sql-rows', a SQL materialized view's changelog (`<pipeline>-view-<view>`: each row with its kind beside it).
   */
  format: z.enum(['json', 'sql-rows']).optional(),
});

const batchSchema = z.strictObject({
  /** The pipeline whose code the batch run executes, bounded. */
  pipeline: z.string(),
  /** The hybrid table (with `time`) whose batch part the run replaces. */
  table: z.string(),
  /** How much time each run recomputes, ending `lag` before the scheduled time (default 1h, lag 0). */
  range: duration.default('1h'),
  lag: duration.default(0),
  /** Round ranges down to this (default the range itself), so runs cover whole windows. */
  align: duration.optional(),
  /** How far before and after the range the run reads the log, for events that arrived out of order or late. */
  slack: duration.default('1m'),
});

const jobSchema = z
  .strictObject({
    /** Cron expression (5 or 6 fields, croner syntax), evaluated in `timezone` (default the machine's). */
    schedule: z.string().superRefine((value, ctx) => {
      try {
        new Cron(value, { paused: true }).stop();
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not a cron expression: ${(error as Error).message}` });
      }
    }),
    timezone: z.string().optional(),
    timeout: duration.default('10m'),
    /** Attempts after the first failure, with exponential backoff from `retryDelay`. */
    retries: z.number().int().min(0).max(100).default(2),
    retryDelay: duration.default('5s'),
    /** A Lambda batch run of a pipeline into a hybrid table. */
    batch: batchSchema.optional(),
    /** Or any function: receives the range it covers and an abort signal (the timeout). */
    run: z.custom<JobFunction>((value) => typeof value === 'function', 'must be a function').optional(),
  })
  .refine((job) => (job.batch === undefined) !== (job.run === undefined), 'give exactly one of "batch" or "run"');

export interface JobContext {
  /** The time range this run covers: `[from, to)` epoch ms (the schedule's, or a backfill's). */
  range: { from: number; to: number };
  signal: AbortSignal;
  attempt: number;
}
export type JobFunction = (context: JobContext) => Promise<unknown> | unknown;

export interface ServiceContext {
  /** The deployment's log (a producer appends to it). */
  log: Log;
  /** Aborted when the deployment stops: return (or resolve) then. */
  signal: AbortSignal;
}
/** A long-running function (a producer, a feed from elsewhere), started before the pipelines. */
export type ServiceFunction = (context: ServiceContext) => Promise<unknown> | unknown;

const deploymentSchema = z.strictObject({
  name: z.string().regex(NAME, 'letters, digits, ".", "_" and "-"'),
  topics: z.record(z.string().regex(NAME, 'a topic name'), topicSchema).default({}),
  pipelines: z.record(z.string().regex(NAME, 'a pipeline name'), pipelineSchema).default({}),
  tables: z.record(z.string().regex(TABLE_NAME, 'a table name (letters, digits, _)'), tableSchema).default({}),
  jobs: z.record(z.string().regex(NAME, 'a job name'), jobSchema).default({}),
  /** Long-running functions in the orchestrator (e.g. a producer), restarted with backoff when they throw. */
  services: z
    .record(
      z.string().regex(NAME, 'a service name'),
      z.custom<ServiceFunction>((value) => typeof value === 'function', 'must be a function'),
    )
    .default({}),
});

/** What a spec file writes (defaults optional). */
export type DeploymentInput = z.input<typeof deploymentSchema>;
/** A checked spec, defaults filled in, files resolved, in dependency order. */
export type Deployment = z.output<typeof deploymentSchema> & {
  /** The spec file's directory (pipeline files are relative to it). */
  dir: string;
  /** Pipeline names, each after the pipelines it depends on. */
  order: string[];
  /** Each pipeline's dependencies (declared and inferred from topics). */
  dependencies: Record<string, string[]>;
};
export type PipelineSpec = Deployment['pipelines'][string];
export type TableSpec = Deployment['tables'][string];
export type JobSpec = Deployment['jobs'][string];

/** Types a deployment spec file's default export. */
export function defineDeployment(spec: DeploymentInput): DeploymentInput {
  return spec;
}

/** Checks a spec, naming the first problems' fields (`pipelines.counts.file: ...`). */
export function parseDeployment(input: unknown, dir: string): Deployment {
  const parsed = deploymentSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.map(String).join('.') || '(spec)'}: ${issue.message}`);
    throw new SluiceError('INVALID_SPEC', `invalid deployment spec: ${problems.join('; ')}`, { problems });
  }
  const spec = parsed.data;
  const fail = (field: string, message: string): never => {
    throw new SluiceError('INVALID_SPEC', `invalid deployment spec: ${field}: ${message}`, { field });
  };
  const producers = new Map<string, string>();
  for (const [name, pipeline] of Object.entries(spec.pipelines)) {
    pipeline.file = path.resolve(dir, pipeline.file);
    for (const topic of pipeline.outputs) {
      const other = producers.get(topic);
      if (other) fail(`pipelines.${name}.outputs`, `topic "${topic}" is already written by pipeline "${other}"`);
      producers.set(topic, name);
    }
  }
  const dependencies: Record<string, string[]> = {};
  for (const [name, pipeline] of Object.entries(spec.pipelines)) {
    const deps = new Set<string>();
    for (const dep of pipeline.dependsOn) {
      if (!spec.pipelines[dep]) fail(`pipelines.${name}.dependsOn`, `no pipeline "${dep}" in this spec`);
      deps.add(dep);
    }
    for (const topic of pipeline.inputs) {
      const producer = producers.get(topic);
      if (producer === name) fail(`pipelines.${name}.inputs`, `the pipeline reads its own output "${topic}"`);
      if (producer) deps.add(producer);
      else if (!spec.topics[topic]) {
        fail(`pipelines.${name}.inputs`, `topic "${topic}" is neither declared in topics nor written by a pipeline`);
      }
    }
    dependencies[name] = [...deps];
  }
  for (const [name, table] of Object.entries(spec.tables)) {
    if (!spec.topics[table.from] && !producers.has(table.from)) {
      fail(`tables.${name}.from`, `topic "${table.from}" is neither declared in topics nor written by a pipeline`);
    }
    const columns = table.columns?.map((c) => c.name);
    for (const field of [...(table.key ?? []), ...(table.time ? [table.time] : [])]) {
      if (columns && !columns.includes(field)) fail(`tables.${name}`, `column "${field}" is not among its columns`);
    }
  }
  for (const [name, job] of Object.entries(spec.jobs)) {
    if (!job.batch) continue;
    const pipeline = spec.pipelines[job.batch.pipeline];
    if (!pipeline) fail(`jobs.${name}.batch.pipeline`, `no pipeline "${job.batch.pipeline}" in this spec`);
    const table = spec.tables[job.batch.table];
    if (!table) fail(`jobs.${name}.batch.table`, `no table "${job.batch.table}" in this spec`);
    if (!table!.time) fail(`jobs.${name}.batch.table`, `table "${job.batch.table}" needs "time" to be a hybrid table`);
    if (!pipeline!.outputs.includes(table!.from)) {
      fail(
        `jobs.${name}.batch.table`,
        `table "${job.batch.table}" loads "${table!.from}", which the pipeline does not write`,
      );
    }
  }
  return { ...spec, dir, order: dependencyOrder(dependencies), dependencies };
}

/** Topological order (Kahn), refusing cycles with the pipelines on them. */
function dependencyOrder(dependencies: Record<string, string[]>): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  let progress = true;
  while (progress) {
    progress = false;
    for (const [name, deps] of Object.entries(dependencies)) {
      if (!done.has(name) && deps.every((d) => done.has(d))) {
        order.push(name);
        done.add(name);
        progress = true;
      }
    }
  }
  const cyclic = Object.keys(dependencies).filter((name) => !done.has(name));
  if (cyclic.length > 0) {
    throw new SluiceError(
      'INVALID_SPEC',
      `invalid deployment spec: pipelines: a dependency cycle among ${cyclic.join(', ')}`,
      {
        cyclic,
      },
    );
  }
  return order;
}

/** Loads and checks a spec file (TypeScript or JavaScript, default export). */
export async function loadDeployment(file: string): Promise<Deployment> {
  const resolved = path.resolve(file);
  const module = await importUserFile(resolved, { code: 'INVALID_SPEC', what: 'deployment spec' });
  if (module.default === undefined) {
    throw new SluiceError('INVALID_SPEC', `${displayPath(resolved)} must export default defineDeployment({...})`, {
      file,
    });
  }
  const dir = path.dirname(resolved);
  return parseDeployment(await withSqlTopics(module.default, dir), dir);
}
