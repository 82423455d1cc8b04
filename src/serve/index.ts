// The serving stage: real-time tables in embedded DuckDB that pipelines write and SQL reads.
export { type ClickHouseSink, type ClickHouseSinkOptions, clickhouseSink } from './clickhouse.ts';
export { replaceBatch, type ServeBatchOptions, type ServeBatchSink, serveBatch } from './hybrid.ts';
export { DEFAULT_MAX_ROWS, DEFAULT_QUERY_TIMEOUT_MS } from './query.ts';
export { COLUMN_TYPES, type ColumnType, inferColumns, quoteIdent, type TableDefinition } from './schema.ts';
export {
  type QueryOptions,
  type QueryResult,
  ServingStore,
  type ServingStoreOptions,
  type TableInfo,
  type TimeRange,
} from './store.ts';
export { type ServeTableOptions, type ServeTableSink, serveTable } from './table-sink.ts';
