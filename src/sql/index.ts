// Streaming SQL: a script of CREATE TABLE (sources and sinks over topics) and INSERT INTO … SELECT statements,
// parsed by DuckDB's parser (queries) and our pre-pass (DDL), planned and type-checked here, and built with the
// DataStream API into an ordinary Pipeline. docs/sql.md is the dialect.
import path from 'node:path';
import {
  type DataStream,
  Pipeline,
  type PipelineDefinition,
  type PipelineEnvironment,
  type PipelineLog,
  type PipelineTopology,
} from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import { addToPipeline, buildPipeline } from './build.ts';
import { planScript, type QueryPlan, type ScriptPlan } from './planner.ts';
import { type ScriptTopics, topicsOf } from './topics.ts';
import type { Row } from './types.ts';
import { type ViewTable, viewTables } from './views.ts';

export type {
  AggregateCall,
  InsertPlan,
  OutputColumn,
  QueryPlan,
  ScriptPlan,
  ViewPlan,
  WindowSpec,
} from './planner.ts';
export type { TableDef, ViewDef } from './script.ts';
export type { Row, SqlType, Value } from './types.ts';
export { VIEW_ROW_FORMAT, type ViewTable, viewRowKind, viewTables, viewTopic } from './views.ts';
export { planScript };

export interface CompileOptions {
  /** The pipeline's name (default 'sql'). */
  name?: string;
}

/** Plans `text` and builds its pipeline over the environment's log (creating the tables' topics when missing). */
export async function compileSql(
  text: string,
  env: PipelineEnvironment,
  options: CompileOptions = {},
): Promise<Pipeline> {
  const plan = await planScript(text);
  return buildPipeline(plan, {
    log: env.log,
    bounded: env.bounded,
    name: options.name ?? 'sql',
    ...(env.serving ? { serving: env.serving } : {}),
  });
}

/** A pipeline definition running a SQL script, as `sluice run file.sql` loads it. */
export function sqlPipeline(text: string, options: CompileOptions = {}): PipelineDefinition {
  return (env) => compileSql(text, env, options);
}

export interface SqlStreamOptions {
  /** Tables read from these DataStreams of the pipeline instead of their topics (rows with the declared columns;
   * a WATERMARK in the table's declaration assigns event time on the stream). */
  streams?: Record<string, DataStream<Row>>;
}

/**
 * A SQL query inside a TypeScript pipeline, as a DataStream of its rows (objects named by the query's columns):
 * `text` declares the tables the query reads (CREATE TABLE over topics of `env.log`, or bound to `streams`) and holds
 * exactly one bare SELECT; INSERT INTO and CREATE MATERIALIZED VIEW statements in it are added to the pipeline too.
 *
 *     const totals = await sqlStream(p, env, `CREATE TABLE ev (…); SELECT key, count(*) AS n FROM ev GROUP BY key`);
 */
export async function sqlStream(
  p: Pipeline,
  env: Pick<PipelineEnvironment, 'log' | 'serving'>,
  text: string,
  options: SqlStreamOptions = {},
): Promise<DataStream<Row>> {
  const plan = await planScript(text, { selects: true });
  if (plan.selects.length !== 1) {
    throw plan.source.error(
      text.length,
      `sqlStream takes a script with exactly one SELECT (its rows are the stream), got ${plan.selects.length}`,
    );
  }
  const streams = new Map(Object.entries(options.streams ?? {}));
  for (const name of streams.keys()) {
    if (!plan.tables.has(name)) {
      throw new SluiceError(
        'INVALID_SQL',
        `sqlStream: streams.${name} is bound to no table: declare CREATE TABLE ${name}`,
      );
    }
  }
  const [rows] = await addToPipeline(
    p,
    plan,
    { log: env.log, ...(env.serving ? { serving: env.serving } : {}) },
    streams,
  );
  return rows!;
}

// `p.sql(text, { env, streams })` is sqlStream; the engine sits below this layer, so the SQL layer lends it the
// compiler when loaded (the package entry loads it: `import { Pipeline } from 'sluice'` has p.sql).
Pipeline.registerSqlCompiler((p, text, { env, streams }) =>
  sqlStream(
    p,
    env ?? { log: noLog('Pipeline.sql: the script reads or writes topics; pass { env } for its log') },
    text,
    {
      ...(streams ? { streams: streams as Record<string, DataStream<Row>> } : {}),
    },
  ),
);

export type { ScriptTopics };

/** The topics a script reads and writes, and its materialized views (planning it: errors throw). */
export async function scriptTopics(text: string): Promise<ScriptTopics> {
  return topicsOf(await planScript(text));
}

/**
 * The serving tables of a script's materialized views, each with the changelog topic its rows go to when the
 * pipeline `pipeline` runs without a serving store (planning it: errors throw).
 */
export async function scriptViewTables(text: string, pipeline: string): Promise<ViewTable[]> {
  return viewTables(await planScript(text), pipeline);
}

/** The name `sluice run` gives a SQL file's pipeline: the file's name without `.sql`. */
export function pipelineNameOf(file: string): string {
  return path.basename(file).replace(/\.sql$/i, '');
}

/** Whether the script asks for its plan (`EXPLAIN INSERT INTO …`) rather than a run; plans it (errors throw). */
export async function isExplain(text: string): Promise<boolean> {
  return (await planScript(text)).explain;
}

/** The script's operator graph, without touching any log: `sluice run --explain`, `EXPLAIN INSERT …`. */
export async function explainSql(text: string, options: CompileOptions = {}): Promise<string> {
  const plan = await planScript(text);
  const pipeline = await buildPipeline(plan, {
    log: NO_LOG,
    bounded: false,
    name: options.name ?? 'sql',
    ensureTopics: false,
    explain: true,
  });
  return formatTopology(pipeline.topology(), plan);
}

/** The topology as text: one line per node with what feeds it. */
export function formatTopology(topology: PipelineTopology, plan?: ScriptPlan): string {
  const lines = [`pipeline ${topology.name}`];
  for (const node of topology.nodes) {
    const inputs = topology.edges
      .filter((e) => e.to === node.id)
      .map((e) => `${e.from}${e.side ? `[${e.side}]` : ''}`)
      .join(', ');
    lines.push(`  ${node.id} (${node.kind}: ${node.description})${inputs ? ` <- ${inputs}` : ''}`);
  }
  if (plan) {
    for (const insert of plan.inserts) {
      const q = insert.query;
      lines.push(
        `  INSERT INTO ${insert.sink.name} (topic ${insert.sink.topic}) FROM ${q.source.name}: ${describe(q)}`,
      );
    }
    for (const view of plan.views) {
      const q = view.query;
      const key = view.key.length > 0 ? `keyed by ${view.key.join(', ')}` : 'append';
      const topic = view.view.topic === undefined ? '' : ` and topic ${view.view.topic}`;
      lines.push(
        `  MATERIALIZED VIEW ${view.view.name} (serving table, ${key}${topic}) FROM ${q.source.name}: ${describe(q)}`,
      );
    }
  }
  return lines.join('\n');
}

function describe(q: QueryPlan): string {
  const w = q.window;
  if (q.over) {
    const extent = 'count' in q.over ? `last ${q.over.count} rows` : `last ${q.over.timeMs} ms`;
    const late =
      q.source.lateTopic === undefined
        ? ''
        : `, records ${q.source.allowedLatenessMs} ms behind the watermark to topic ${q.source.lateTopic}`;
    return `OVER ${extent}, ${q.keys.length} key(s), ${q.aggregates.map((a) => a.fn).join(', ')}${late}`;
  }
  if (!w && q.join?.window) {
    const j = q.join.window;
    return `window join (${j.kind} ${j.sizeMs} ms${j.kind === 'sliding' ? ` every ${j.slideMs} ms` : ''}), each side kept until the watermark passes its window`;
  }
  if (!w) {
    return q.updating
      ? `GROUP BY without a window (updating), ${q.keys.length} key(s), ${q.aggregates.map((a) => a.fn).join(', ')}${joinLate(q)}`
      : `no window${joinLate(q)}`;
  }
  const shape =
    w.kind === 'session'
      ? `session gap ${w.gapMs} ms`
      : `${w.kind} ${w.sizeMs} ms${w.kind === 'sliding' ? ` every ${w.slideMs} ms` : ''}`;
  const late = q.source.allowedLatenessMs > 0 ? `, allowed lateness ${q.source.allowedLatenessMs} ms` : '';
  const lateTopic = q.source.lateTopic === undefined ? '' : `, late records to topic ${q.source.lateTopic}`;
  return `${shape}, ${q.keys.length} key(s), ${q.aggregates.map((a) => a.fn).join(', ')}${late}${lateTopic}`;
}

/** An interval join's late records: each side's to its table's late.topic (build.ts). */
function joinLate(q: QueryPlan): string {
  if (q.join?.kind !== 'interval') return '';
  const sides = [q.source, q.join.right].filter((t) => t.lateTopic !== undefined && !t.derived);
  return sides.map((t) => `, late records of ${t.name} to topic ${t.lateTopic}`).join('');
}

/** EXPLAIN builds the graph only: a source or sink never touches its log before the pipeline runs. */
const NO_LOG = noLog('EXPLAIN does not read or write the log');

/** A log that refuses every use with `message`. */
function noLog(message: string): PipelineLog {
  return new Proxy(
    {},
    {
      get() {
        throw new SluiceError('INVALID_ARGUMENT', message);
      },
    },
  ) as PipelineLog;
}
