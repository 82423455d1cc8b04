// How a serving table is laid out in DuckDB: the physical columns of its parts, the SQL of the views over them
// (current rows; for a hybrid table, batch rows inside the batch range and real-time rows outside it).
import type { TableDefinition, TimeRange } from '../contracts/index.ts';
import { quoteIdent } from './schema.ts';

/** The physical columns: the table's own, then (for real-time parts) the bookkeeping columns. */
export function physicalColumns(table: TableDefinition, realtime: boolean): string {
  const columns = table.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
  if (!realtime) return columns;
  if (table.key.length > 0) return `${columns}, _epoch BIGINT NOT NULL, _superseded BIGINT, _deleted BOOLEAN NOT NULL`;
  return `${columns}, _epoch BIGINT NOT NULL`;
}

/**
 * The current rows of a table's real-time parts: every row (append), the live version of each key (keyed), or
 * the partial aggregates merged by dimension (rollup).
 */
export function currentRowsQuery(table: TableDefinition, parts: string[]): string {
  const names = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const live = table.key.length > 0 ? ' WHERE _superseded IS NULL AND NOT _deleted' : '';
  const union = parts.map((part) => `SELECT ${names} FROM ${quoteIdent(part)}${live}`).join(' UNION ALL ');
  const metrics = table.rollup?.metrics;
  if (!metrics) return union;
  const dimensions = table.columns.filter((c) => !(c.name in metrics)).map((c) => quoteIdent(c.name));
  const columns = table.columns.map((c) => {
    const fn = metrics[c.name];
    return fn ? `${fn}(${quoteIdent(c.name)}) AS ${quoteIdent(c.name)}` : quoteIdent(c.name);
  });
  return `SELECT ${columns.join(', ')} FROM (${union}) GROUP BY ${dimensions.join(', ')}`;
}

/**
 * A hybrid table's view over its `<name>$realtime` view and `<name>$batch` table: every real-time row until a
 * batch part is swapped in, then batch rows inside `range` and real-time rows outside it.
 */
export function hybridViewQuery(table: TableDefinition, range: TimeRange | undefined): string {
  const realtime = quoteIdent(`${table.name}$realtime`);
  const names = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  let view = `SELECT ${names} FROM ${realtime}`;
  if (range) {
    const time = table.hybrid!.time;
    const t = quoteIdent(time);
    const from = timeLiteral(table, time, range.from);
    const to = timeLiteral(table, time, range.to);
    view =
      `SELECT ${names} FROM ${quoteIdent(`${table.name}$batch`)} WHERE ${t} >= ${from} AND ${t} < ${to} ` +
      `UNION ALL SELECT ${names} FROM ${realtime} WHERE ${t} IS NULL OR ${t} < ${from} OR ${t} >= ${to}`;
  }
  return view;
}

/** An epoch-ms bound as a literal comparable with the column (a TIMESTAMP for TIMESTAMP_MS columns). */
export function timeLiteral(table: TableDefinition, column: string, ms: number): string {
  const type = table.columns.find((c) => c.name === column)!.type;
  const n = Math.trunc(ms);
  return type === 'TIMESTAMP_MS' ? `epoch_ms(${n}::BIGINT)` : `${n}`;
}
