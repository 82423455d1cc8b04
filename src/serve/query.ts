// The serving store's read-only query path, on one reader connection: the SQL must parse (by DuckDB's own parser)
// to exactly one SELECT; it runs in a READ ONLY transaction, is interrupted at its timeout and cut at a row limit.
import { type DuckDBConnection, StatementType } from '@duckdb/node-api';
import type { QueryResult } from '../contracts/index.ts';
import { SluiceError } from '../errors.ts';

export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_ROWS = 10_000;

/** Refuses an empty or overlong query before it takes a connection. */
export function checkQueryText(sql: string): void {
  if (typeof sql !== 'string' || sql.trim() === '') throw new SluiceError('INVALID_SQL', 'the query is empty');
  if (sql.length > 100_000) throw new SluiceError('INVALID_SQL', 'the query is longer than 100,000 characters');
}

/**
 * Runs `sql` on `connection` (a reader the caller holds) as above; every failure is a SluiceError (INVALID_SQL,
 * READ_ONLY or QUERY_TIMEOUT). `started` is when the caller began waiting for the connection.
 */
export async function readOnlyQuery(
  connection: DuckDBConnection,
  sql: string,
  timeoutMs: number,
  maxRows: number,
  started: number,
): Promise<QueryResult> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    connection.interrupt();
  }, timeoutMs);
  try {
    const statements = await connection.extractStatements(sql).catch((error: Error) => {
      throw new SluiceError('INVALID_SQL', firstLine(error.message));
    });
    if (statements.count !== 1) {
      throw new SluiceError('READ_ONLY', `send exactly one SELECT statement (got ${statements.count})`);
    }
    const prepared = await statements.prepare(0).catch((error: Error) => {
      throw new SluiceError(
        error.message.startsWith('Permission') ? 'READ_ONLY' : 'INVALID_SQL',
        firstLine(error.message),
      );
    });
    if (prepared.statementType !== StatementType.SELECT) {
      prepared.destroySync();
      const type = StatementType[prepared.statementType];
      throw new SluiceError(
        'READ_ONLY',
        `only SELECT queries are allowed here${type && type !== 'INVALID' ? ` (this is a ${type} statement)` : ''}`,
      );
    }
    await connection.run('BEGIN TRANSACTION READ ONLY');
    try {
      const reader = await prepared.runAndReadUntil(maxRows + 1);
      const names = reader.columnNames();
      const types = reader.columnTypes();
      const rows = reader.getRowsJson() as unknown[][];
      const truncated = rows.length > maxRows || !reader.done;
      if (rows.length > maxRows) rows.length = maxRows;
      return {
        columns: names.map((name, i) => ({ name, type: String(types[i]) })),
        rows,
        truncated,
        elapsedMs: Math.round((performance.now() - started) * 100) / 100,
      };
    } finally {
      await connection.run('ROLLBACK').catch(() => {});
      prepared.destroySync();
    }
  } catch (error) {
    if (timedOut) {
      throw new SluiceError('QUERY_TIMEOUT', `the query ran longer than ${timeoutMs} ms and was cancelled`, {
        timeoutMs,
      });
    }
    if (error instanceof SluiceError) throw error;
    const message = firstLine((error as Error).message);
    throw new SluiceError(message.startsWith('Permission Error') ? 'READ_ONLY' : 'INVALID_SQL', message);
  } finally {
    clearTimeout(timer);
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}
