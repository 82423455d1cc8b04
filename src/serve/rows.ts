// Rows into DuckDB: checking a row against its table's columns, and appending rows column by column in data
// chunks (with the bookkeeping columns of the table's physical kind).
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  type DuckDBAppender,
  DuckDBDataChunk,
  DuckDBTimestampMillisecondsValue,
  type DuckDBType,
  type DuckDBValue,
  TIMESTAMP_MS,
  VARCHAR,
} from '@duckdb/node-api';
import { SluiceError } from '../errors.ts';
import type { ColumnType, TableDefinition } from './schema.ts';

export type Row = Record<string, unknown>;

const expected: Record<ColumnType, string> = {
  VARCHAR: 'a string',
  DOUBLE: 'a number',
  BIGINT: 'an integer',
  BOOLEAN: 'a boolean',
  TIMESTAMP_MS: 'epoch milliseconds',
};

/** Refuses a row that does not fit the table before anything of its flush is written. */
export function checkRow(table: TableDefinition, row: Row): void {
  for (const { name, type } of table.columns) {
    const value = row[name];
    if (value === null || value === undefined) {
      if (table.key.includes(name) || table.retention?.column === name) throw mismatch(table, name, type, value);
      continue;
    }
    const ok =
      type === 'VARCHAR'
        ? typeof value === 'string'
        : type === 'BOOLEAN'
          ? typeof value === 'boolean'
          : type === 'DOUBLE'
            ? typeof value === 'number'
            : (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'bigint';
    if (!ok) throw mismatch(table, name, type, value);
  }
}

function mismatch(table: TableDefinition, column: string, type: ColumnType, value: unknown): SluiceError {
  return new SluiceError(
    'SCHEMA_MISMATCH',
    `serving table ${table.name}: column ${column} (${type}) needs ${expected[type]}, got ${JSON.stringify(value) ?? String(value)}`,
    { table: table.name, column },
  );
}

const DUCKDB_TYPES: Record<ColumnType, DuckDBType> = { VARCHAR, DOUBLE, BIGINT, BOOLEAN, TIMESTAMP_MS };
/** DuckDB's vector size: the appender takes data chunks of at most this many rows. */
const CHUNK_ROWS = 2048;

/**
 * Appends rows column by column in data chunks: about three times faster than a call per value (1.7M rows/s
 * against 0.6M for four columns here). With an `epoch`, the real-time bookkeeping columns follow the row's own
 * (`_epoch`, and for keyed tables `_superseded` and `_deleted`); without, only the row's columns (a batch part).
 */
export function appendRows(
  appender: DuckDBAppender,
  table: TableDefinition,
  rows: Row[],
  epoch: number | undefined,
  deleted?: boolean[],
): void {
  const keyed = table.key.length > 0;
  const types = table.columns.map((c) => DUCKDB_TYPES[c.type]);
  if (epoch !== undefined) {
    types.push(BIGINT);
    if (keyed) types.push(BIGINT, BOOLEAN);
  }
  const epochValue = epoch === undefined ? 0n : BigInt(epoch);
  for (let from = 0; from < rows.length; from += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, rows.length - from);
    const columns: DuckDBValue[][] = table.columns.map(({ name, type }) => {
      const values = new Array<DuckDBValue>(n);
      for (let j = 0; j < n; j++) values[j] = toDuckDB(rows[from + j]![name], type);
      return values;
    });
    if (epoch !== undefined) {
      columns.push(new Array<DuckDBValue>(n).fill(epochValue));
      if (keyed) {
        columns.push(new Array<DuckDBValue>(n).fill(null));
        const flags = new Array<DuckDBValue>(n);
        for (let j = 0; j < n; j++) flags[j] = deleted?.[from + j] ?? false;
        columns.push(flags);
      }
    }
    const chunk = DuckDBDataChunk.create(types, n);
    chunk.setColumns(columns);
    appender.appendDataChunk(chunk);
  }
}

function toDuckDB(value: unknown, type: ColumnType): DuckDBValue {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'VARCHAR':
    case 'DOUBLE':
    case 'BOOLEAN':
      return value as DuckDBValue;
    case 'BIGINT':
      return typeof value === 'bigint' ? value : BigInt(Math.trunc(value as number));
    case 'TIMESTAMP_MS':
      return new DuckDBTimestampMillisecondsValue(
        typeof value === 'bigint' ? value : BigInt(Math.trunc(value as number)),
      );
  }
}
