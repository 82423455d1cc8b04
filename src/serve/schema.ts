// Serving table definitions: names, column types and keys, validated before any SQL is built from them (names
// are also quoted, so that nothing a pipeline declares can change a statement's meaning).

import type { ColumnType, RollupFunction, TableDefinition } from '../contracts/index.ts';
import { SluiceError } from '../errors.ts';

export type { ColumnType, RollupFunction, TableDefinition };

/** Column types a serving table may have (the contract's ColumnType, as a list to validate against). */
export const COLUMN_TYPES = [
  'VARCHAR',
  'DOUBLE',
  'BIGINT',
  'BOOLEAN',
  'TIMESTAMP_MS',
] as const satisfies readonly ColumnType[];

/** Default partition span for retention: an hour for retention up to two days, else a day. */
export function defaultPartitionMs(retentionMs: number): number {
  return retentionMs <= 2 * 86_400_000 ? 3_600_000 : 86_400_000;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function validateTable(table: TableDefinition): TableDefinition {
  const bad = (message: string) => new SluiceError('INVALID_TABLE', `serving table ${table.name}: ${message}`);
  if (typeof table.name !== 'string' || !NAME.test(table.name) || table.name.startsWith('_sluice')) {
    throw new SluiceError('INVALID_TABLE', `invalid serving table name "${table.name}": use letters, digits and _`);
  }
  if (!Array.isArray(table.columns) || table.columns.length === 0) throw bad('declare at least one column');
  const seen = new Set<string>();
  for (const column of table.columns) {
    if (!NAME.test(column.name) || column.name.startsWith('_')) {
      throw bad(`invalid column name "${column.name}" (letters, digits and _, not starting with _)`);
    }
    if (seen.has(column.name)) throw bad(`column ${column.name} is declared twice`);
    seen.add(column.name);
    if (!(COLUMN_TYPES as readonly string[]).includes(column.type)) {
      throw bad(`column ${column.name} has type ${column.type}; use one of ${COLUMN_TYPES.join(', ')}`);
    }
  }
  for (const key of table.key) if (!seen.has(key)) throw bad(`key column ${key} is not a column`);
  if (table.rollup) {
    if (table.key.length > 0) throw bad('a rollup table has no key (it merges by its dimension columns)');
    for (const [metric, fn] of Object.entries(table.rollup.metrics)) {
      const column = table.columns.find((c) => c.name === metric);
      if (!column || (column.type !== 'DOUBLE' && column.type !== 'BIGINT')) {
        throw bad(`rollup metric ${metric} must be a DOUBLE or BIGINT column`);
      }
      if (!['sum', 'min', 'max'].includes(fn)) throw bad(`rollup metric ${metric}: ${fn} is not sum, min or max`);
    }
  }
  if (table.retention) {
    const column = table.columns.find((c) => c.name === table.retention!.column);
    if (!column || (column.type !== 'TIMESTAMP_MS' && column.type !== 'BIGINT')) {
      throw bad(`retention needs a TIMESTAMP_MS or BIGINT column, not ${table.retention.column}`);
    }
    if (!(table.retention.ms > 0)) throw bad('retention must be a positive duration');
    if (!(table.retention.partitionMs >= 1000)) throw bad('retention partitions must span at least a second');
    if (table.key.length > 0 && !table.key.includes(table.retention.column)) {
      throw bad(
        `retention column ${table.retention.column} must be part of the key (a key's versions share a partition)`,
      );
    }
    if (table.rollup && table.retention.column in table.rollup.metrics) {
      throw bad(`retention column ${table.retention.column} cannot be a rollup metric`);
    }
  }
  if (table.hybrid) {
    const column = table.columns.find((c) => c.name === table.hybrid!.time);
    if (!column || (column.type !== 'TIMESTAMP_MS' && column.type !== 'BIGINT')) {
      throw bad(`a hybrid table's time needs a TIMESTAMP_MS or BIGINT column, not ${table.hybrid.time}`);
    }
  }
  return {
    name: table.name,
    columns: table.columns.map((c) => ({ name: c.name, type: c.type })),
    key: [...table.key],
    ...(table.retention
      ? {
          retention: {
            column: table.retention.column,
            ms: table.retention.ms,
            partitionMs: table.retention.partitionMs,
          },
        }
      : {}),
    ...(table.rollup ? { rollup: { metrics: { ...table.rollup.metrics } } } : {}),
    ...(table.hybrid ? { hybrid: { time: table.hybrid.time } } : {}),
  };
}

/** Infers column types from a row (numbers: DOUBLE; integers in *_ts/*_start/*_end/ts columns: TIMESTAMP_MS). */
export function inferColumns(row: Record<string, unknown>): TableDefinition['columns'] {
  return Object.entries(row).map(([name, value]) => {
    if (typeof value === 'string') return { name, type: 'VARCHAR' as const };
    if (typeof value === 'boolean') return { name, type: 'BOOLEAN' as const };
    if (typeof value === 'bigint') return { name, type: 'BIGINT' as const };
    if (typeof value === 'number') {
      const timeLike = name === 'ts' || /(_ts|_start|_end|_at|_time)$/.test(name);
      if (timeLike && Number.isInteger(value)) return { name, type: 'TIMESTAMP_MS' as const };
      return { name, type: 'DOUBLE' as const };
    }
    throw new SluiceError(
      'INVALID_TABLE',
      `cannot infer a column type for ${name} from ${JSON.stringify(value)}: declare the table's columns`,
    );
  });
}
