// Streaming SQL: a script of CREATE TABLE (sources and sinks over topics) and INSERT INTO … SELECT statements,
// parsed by DuckDB's parser (queries) and our pre-pass (DDL), planned and type-checked here, and built with the
// DataStream API into an ordinary Pipeline. docs/sql.md is the dialect.
import path from 'node:path';
import type {
  Pipeline,
  PipelineDefinition,
  PipelineEnvironment,
  PipelineLog,
  PipelineTopology,
} from '../engine/index.ts';
import { buildPipeline } from './build.ts';
import { planScript, type QueryPlan, type ScriptPlan } from './planner.ts';

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
  if (!w) {
    return q.updating
      ? `GROUP BY without a window (updating), ${q.keys.length} key(s), ${q.aggregates.map((a) => a.fn).join(', ')}`
      : 'no window';
  }
  const shape =
    w.kind === 'session'
      ? `session gap ${w.gapMs} ms`
      : `${w.kind} ${w.sizeMs} ms${w.kind === 'sliding' ? ` every ${w.slideMs} ms` : ''}`;
  const late = q.source.allowedLatenessMs > 0 ? `, allowed lateness ${q.source.allowedLatenessMs} ms` : '';
  const lateTopic = q.source.lateTopic === undefined ? '' : `, late records to topic ${q.source.lateTopic}`;
  return `${shape}, ${q.keys.length} key(s), ${q.aggregates.map((a) => a.fn).join(', ')}${late}${lateTopic}`;
}

/** EXPLAIN builds the graph only: a source or sink never touches its log before the pipeline runs. */
const NO_LOG = new Proxy(
  {},
  {
    get() {
      throw new Error('EXPLAIN does not read or write the log');
    },
  },
) as PipelineLog;
