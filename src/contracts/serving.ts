// What every stage may use of the serving store — a pipeline's environment, the HTTP API, the orchestrator — without
// depending on its implementation (embedded DuckDB, src/serve): the tables' vocabulary and read-only SQL. Types only.

/** Column types a serving table may have; TIMESTAMP_MS columns take epoch milliseconds. */
export type ColumnType = 'VARCHAR' | 'DOUBLE' | 'BIGINT' | 'BOOLEAN' | 'TIMESTAMP_MS';

export interface TableDefinition {
  name: string;
  columns: { name: string; type: ColumnType }[];
  /** Primary key columns: rows with the same key replace each other (upserts). Empty: an append table. */
  key: string[];
  /**
   * Time-partitioned retention: rows live in one table per `partitionMs` of `column` (epoch ms), behind the view,
   * and a partition is dropped once all of it is older than `ms` before now.
   */
  retention?: { column: string; ms: number; partitionMs: number };
  /**
   * A hybrid (Lambda) table: a batch part, replaced a time range at a time by bounded recomputations, and the
   * real-time part the sink writes; the view shows batch rows inside the batch range and real-time rows outside it.
   */
  hybrid?: { time: string };
  /**
   * A rollup table (Druid-style pre-aggregation): rows hold partial aggregates per flush, and the table's view
   * merges them by the non-metric columns. Metric columns are merged with their function.
   */
  rollup?: { metrics: Record<string, RollupFunction> };
}

export type RollupFunction = 'sum' | 'min' | 'max';

/** A time range `[from, to)` in epoch milliseconds. */
export interface TimeRange {
  from: number;
  to: number;
}

export interface QueryOptions {
  timeoutMs?: number;
  maxRows?: number;
}

export interface QueryResult {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  truncated: boolean;
  elapsedMs: number;
}

export interface TableInfo {
  name: string;
  kind: 'append' | 'keyed' | 'rollup';
  key: string[];
  columns: { name: string; type: ColumnType }[];
  rows: number;
  /** Time partitions of the real-time part (tables with retention). */
  partitions?: number;
  /** A hybrid table's batch range: batch rows are shown inside it, real-time rows outside. */
  hybrid?: { time: string; batch: TimeRange | null };
  /** For an alias of versioned tables: the version it shows now. */
  version?: string;
}

/** The serving store as pipelines and readers see it (sinks such as serveTable write through its implementation). */
export interface ServingStore {
  /** One read-only SELECT (DuckDB's dialect) over the serving tables, cut at a row limit and a timeout. */
  query(sql: string, options?: QueryOptions): Promise<QueryResult>;
  /** Every table with its kind, key, columns and row count. */
  listTables(): Promise<TableInfo[]>;
  /** A table's definition, or undefined when there is none of that name. */
  table(name: string): TableDefinition | undefined;
}
