// The batch side of hybrid (Lambda) tables: a bounded recomputation writes its results for a time range into a
// staging table, and commit() swaps them in as the table's batch part in one transaction, moving the boundary.
// Queries see batch rows inside the batch range and real-time rows outside it, so nothing is counted twice.

import type { Batch, ServingStore as ServingStoreContract, Sink } from '../contracts/index.ts';
import { SluiceError } from '../errors.ts';
import { appendRows, checkRow, type Row } from './rows.ts';
import { quoteIdent, type TableDefinition } from './schema.ts';
import { embeddedStore, type ServingStore, type TimeRange } from './store.ts';

export interface ServeBatchOptions {
  /** The serving store to write: a pipeline's `env.serving`. */
  store: ServingStoreContract;
  /** A hybrid table (declared by its real-time sink: serveTable({ hybrid: { time } })). */
  name: string;
  /** The time range the run recomputed, `[from, to)` in epoch ms; rows outside it are ignored. */
  range: TimeRange;
  flushRows?: number;
}

export interface ServeBatchSink<T> extends Sink<T> {
  /** Rows staged so far. */
  readonly rows: number;
  /**
   * Swaps the staged rows in as the batch part of the range, atomically; call it once the bounded run has
   * succeeded (after run() resolved: the run closes its sinks, which keeps the staged rows). Resolves with the new
   * batch range.
   */
  commit(): Promise<TimeRange>;
  /** Drops the staged rows (a failed run); the table is unchanged. */
  abort(): Promise<void>;
}

let stages = 0;

/**
 * A sink for the bounded run that recomputes a hybrid table's time range:
 *
 *   const batch = serveBatch({ store, name: 'window_totals', range: { from, to } });
 *   results.sinkTo(batch);
 *   await pipeline.run();
 *   await batch.commit();
 */
export function serveBatch<T extends object>(options: ServeBatchOptions): ServeBatchSink<T> {
  const { range } = options;
  const store = embeddedStore(options.store, `serveBatch('${options.name}')`);
  if (!(range.from < range.to)) {
    throw new SluiceError('INVALID_RANGE', `the batch range [${range.from}, ${range.to}) is empty`);
  }
  const stageName = `${options.name}$batchstage${++stages}`;
  let table: TableDefinition | undefined;
  let buffer: Row[] = [];
  let rows = 0;
  let staged = false;
  let done = false;

  const flush = async () => {
    if (buffer.length === 0) return;
    const pending = buffer;
    buffer = [];
    for (const row of pending) checkRow(table!, row);
    await store.write(async (db) => {
      const appender = await db.createAppender(stageName, 'main', 'temp');
      try {
        appendRows(appender, table!, pending, undefined);
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
    });
    rows += pending.length;
    store.countRows(options.name, pending.length);
  };
  const dropStage = () =>
    staged ? store.write((db) => db.run(`DROP TABLE IF EXISTS ${quoteIdent(stageName)}`)) : undefined;

  return {
    name: `batch:${options.name}`,
    get rows() {
      return rows + buffer.length;
    },
    async open() {
      table = store.table(options.name);
      if (!table) {
        throw new SluiceError('UNKNOWN_TABLE', `no serving table ${options.name} (its real-time sink declares it)`);
      }
      if (!table.hybrid) throw new SluiceError('NOT_HYBRID', `serving table ${options.name} is not a hybrid table`);
      await store.write((db) =>
        db.run(
          `CREATE TEMP TABLE ${quoteIdent(stageName)} AS SELECT * FROM ${quoteIdent(`${options.name}$batch`)} LIMIT 0`,
        ),
      );
      staged = true;
    },
    write(batch: Batch<T>) {
      if (done) throw new SluiceError('BATCH_DONE', `the batch for ${options.name} is already committed`);
      for (const value of batch.values) buffer.push(value as Row);
      if (buffer.length >= (options.flushRows ?? 10_000)) return flush();
      return undefined;
    },
    async commit() {
      if (!table) await this.open!();
      await flush();
      const next = await store.write((db) => store.swapBatch(db, table!, quoteIdent(stageName), range));
      done = true;
      await dropStage();
      staged = false;
      return next;
    },
    async close() {
      if (!done) await flush();
    },
    async abort() {
      buffer = [];
      done = true;
      await dropStage();
      staged = false;
    },
  };
}

/** Replaces a hybrid table's batch part for `range` with `rows` (a whole recomputation at once). */
export async function replaceBatch(
  store: ServingStore,
  name: string,
  range: TimeRange,
  rows: Row[],
): Promise<TimeRange> {
  const sink = serveBatch<Row>({ store, name, range });
  await sink.open!();
  try {
    await sink.write({ values: rows, timestamps: [] });
    return await sink.commit();
  } catch (error) {
    await sink.abort();
    throw error;
  }
}
