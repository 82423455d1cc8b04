// One transaction on the serving store's writer connection, with a hook that puts back the in-memory bookkeeping
// the work changed when it rolls back (so the store's maps never describe tables that are not there).
import type { DuckDBConnection } from '@duckdb/node-api';

/**
 * Runs `work` in one transaction on `db` (the writer connection): commits, or rolls back, calls `undo` to put
 * back in-memory bookkeeping the work had changed, and rethrows.
 */
export async function inTransaction<T>(db: DuckDBConnection, work: () => Promise<T>, undo?: () => void): Promise<T> {
  await db.run('BEGIN TRANSACTION');
  try {
    const result = await work();
    await db.run('COMMIT');
    return result;
  } catch (error) {
    undo?.();
    await db.run('ROLLBACK').catch(() => {});
    throw error;
  }
}
