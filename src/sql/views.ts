// Materialized views as serving tables, wherever the pipeline runs. In a process with the serving store (`sluice run`,
// `sluice dev`, a streaming query of the HTTP API) a view writes its table directly (serveTable). Without one — task
// threads of `sluice run --parallelism`, members (`--group`, `--bootstrap`), worker processes of `sluice up` — it
// writes its rows, each with its kind, to a changelog topic, and the process that owns the serving store loads the
// table from that topic with a table loader (src/orchestrate/table-loader.ts), as Druid and Pinot ingest from Kafka:
// the transactional log sink commits a checkpoint's rows at once, the loader reads committed records and checkpoints
// its position with the table's epochs, so the table holds each row once, as in one process.
import type { Format, PipelineLog } from '../engine/index.ts';
import type { ColumnType } from '../serve/index.ts';
import type { ViewPlan } from './plan.ts';
import type { ScriptPlan } from './planner.ts';
import { exchangeName, KIND, type KindedRow, ROW_FORMAT, type RowKind } from './rows.ts';
import type { TableDef } from './script.ts';
import type { Row } from './types.ts';

/** A materialized view's serving table, as the process that serves it defines it (directly or from the topic). */
export interface ViewTable {
  /** The table's name: the view's. */
  name: string;
  /** The changelog topic a view writes when its runner has no serving store (viewTopic). */
  topic: string;
  columns: { name: string; type: ColumnType }[];
  /** Primary key columns (an upsert table); empty for an append table. */
  key: string[];
  retention?: { column: string; keepMs: number };
}

/** Serving column types of SQL types (TIMESTAMP is epoch milliseconds). */
export const SERVING_TYPE: Readonly<Record<string, ColumnType>> = {
  BIGINT: 'BIGINT',
  DOUBLE: 'DOUBLE',
  VARCHAR: 'VARCHAR',
  BOOLEAN: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMP_MS',
};

/**
 * The changelog topic of view `view` of pipeline `pipeline` (`<pipeline>-view-<view>`): internal, named
 * deterministically so that every task, restart and loader agrees on it.
 */
export function viewTopic(pipeline: string, view: string): string {
  return exchangeName(`${pipeline}-view-${view}`);
}

/** The serving table of a planned view. */
export function viewTableOf(view: ViewPlan, pipeline: string): ViewTable {
  const retention = view.view.retention;
  return {
    name: view.view.name,
    topic: viewTopic(pipeline, view.view.name),
    columns: view.columns.map((c) => ({ name: c.name, type: SERVING_TYPE[c.type]! })),
    key: view.key,
    ...(retention ? { retention: { column: retention.column!, keepMs: retention.keepMs } } : {}),
  };
}

/** The serving tables of a planned script's views, in the script's order. */
export function viewTables(plan: ScriptPlan, pipeline: string): ViewTable[] {
  return plan.views.map((view) => viewTableOf(view, pipeline));
}

/**
 * How a changelog topic holds a view's rows: `{"r": row, "k": kind}` in JSON, the format of the SQL layer's
 * repartition topics. A keyed view's first result is an insert, a late one an update (it replaces the row), a merged
 * session's old row a delete; the kind is not a column, so a view may have a column named `kind` of its own.
 */
export const VIEW_ROW_FORMAT: Format<Row> = ROW_FORMAT as Format<Row>;

/** A loaded changelog row's kind, for serveTable (a row without one supersedes: an upsert). */
export function viewRowKind(row: Record<string, unknown>): RowKind {
  return (row as KindedRow)[KIND] ?? 'update';
}

/**
 * The record key of a view's changelog: its primary key's values, so that every version of a row goes to one
 * partition, in order (the loader applies them in that order); none for an append view (round robin).
 */
export function viewRecordKey(key: readonly string[]): ((row: Row) => string) | undefined {
  if (key.length === 0) return undefined;
  if (key.length === 1) {
    const column = key[0]!;
    return (row) => JSON.stringify(row[column] ?? null);
  }
  return (row) => JSON.stringify(key.map((column) => row[column] ?? null));
}

/**
 * Partitions to create a view's changelog topic with: the most of the topics its query reads (the pipeline's
 * partitions, one per task when it is scaled out), as they are in the log or, when missing, as declared.
 */
export function viewPartitions(log: PipelineLog | undefined, tables: readonly TableDef[]): number {
  let partitions = 1;
  for (const table of tables) {
    const n = log?.hasTopic(table.topic) === true ? log.describeTopic(table.topic).partitions.length : table.partitions;
    partitions = Math.max(partitions, n);
  }
  return partitions;
}
