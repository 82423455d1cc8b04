// An engine sink that writes a stream into a serving table: rows are buffered and written in micro-batches
// (every `flushMs` or `flushRows`) through DuckDB's appender, so that a row is queryable within tens of
// milliseconds without committing per row.
//
// Keyed tables keep versions: a row whose key already has a live row supersedes it (the old version is marked
// with the epoch that superseded it), and the table's view shows live versions only. Window results say whether
// they are a first result (`kind: 'insert'`, appended directly) or a late update/retraction (`update`/`delete`,
// which supersede). Every row carries the epoch (checkpoint interval) it was written in, which makes the sink
// exactly-once: recovery deletes the rows of epochs after the checkpoint and revives the versions they had
// superseded; once a checkpoint is complete, superseded versions older than it are compacted away.

import type { DuckDBConnection } from '@duckdb/node-api';
import type { Batch, ServingStore as ServingStoreContract, Sink } from '../contracts/index.ts';
import { appendRows, checkRow, type Row } from './rows.ts';
import { defaultPartitionMs, inferColumns, quoteIdent, type TableDefinition } from './schema.ts';
import { embeddedStore, type ServingStore } from './store.ts';
import { inTransaction } from './transaction.ts';

export interface ServeTableOptions {
  /** The serving store to write: a pipeline's `env.serving`. */
  store: ServingStoreContract;
  name: string;
  /** The columns (in order); without them, they are inferred from the first row (see inferColumns). */
  columns?: TableDefinition['columns'];
  /** Primary key columns: an upsert table. Without: an append table. */
  key?: string[];
  /**
   * Time-partitioned retention by this epoch-ms column: rows go into one table per `partitionMs` (default an hour
   * for retention up to two days, else a day), and a partition is dropped once all of it is older than `keepMs`.
   */
  retention?: { column: string; keepMs: number; partitionMs?: number };
  /**
   * A hybrid (Lambda) table by this time column: the sink writes the real-time part, bounded recomputations
   * replace the batch part a time range at a time (serveBatch), and queries see each row from exactly one part.
   */
  hybrid?: { time: string };
  /**
   * Pre-aggregate at ingest (Druid's rollup): rows are grouped by `bucketMs` of `time` and the other non-metric
   * columns, and only the aggregates are stored (e.g. one row per minute and page instead of every click).
   */
  rollup?: { time: string; bucketMs: number; metrics: Record<string, 'sum' | 'min' | 'max'> };
  /** A row's kind; default: its `kind` field when that is 'insert', 'update' or 'delete', else 'update'. */
  kind?: (row: Record<string, unknown>) => 'insert' | 'update' | 'delete';
  flushMs?: number;
  flushRows?: number;
}

export interface ServeTableSink extends Sink<Row> {
  /** Rows written to the table so far. */
  readonly rowsWritten: number;
}

export function serveTable<T extends object>(options: ServeTableOptions): Sink<T> & ServeTableSink {
  return new TableSink(options) as unknown as Sink<T> & ServeTableSink;
}

class TableSink implements ServeTableSink {
  readonly name: string;
  rowsWritten = 0;
  private table: TableDefinition | undefined;
  private buffer: Row[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private maintenance: NodeJS.Timeout | undefined;
  private epoch = 1;
  private checkpointed = false;
  private readonly prepared = new Map<number, number>();
  private failure: unknown;
  private readonly options: ServeTableOptions;
  private readonly store: ServingStore;

  constructor(options: ServeTableOptions) {
    this.options = options;
    this.name = `table:${options.name}`;
    this.store = embeddedStore(options.store, `serveTable('${options.name}')`);
  }

  async open(): Promise<void> {
    if (this.options.columns) await this.define(this.options.columns);
    this.timer = setInterval(() => {
      if (this.buffer.length > 0 && !this.flushing) this.flush().catch((error) => (this.failure ??= error));
    }, this.options.flushMs ?? 50);
    this.maintenance = setInterval(() => this.maintain().catch((error) => (this.failure ??= error)), 5000);
    this.timer.unref();
    this.maintenance.unref();
  }

  private async define(columns: TableDefinition['columns']): Promise<void> {
    const { retention } = this.options;
    this.table = await this.store.defineTable({
      name: this.options.name,
      columns,
      key: this.options.key ?? [],
      ...(retention
        ? {
            retention: {
              column: retention.column,
              ms: retention.keepMs,
              partitionMs: retention.partitionMs ?? defaultPartitionMs(retention.keepMs),
            },
          }
        : {}),
      ...(this.options.rollup ? { rollup: { metrics: this.options.rollup.metrics } } : {}),
      ...(this.options.hybrid ? { hybrid: { time: this.options.hybrid.time } } : {}),
    });
  }

  write(batch: Batch<Row>): Promise<void> | undefined {
    if (this.failure !== undefined) throw this.failure;
    for (const row of batch.values) this.buffer.push(row);
    if (this.buffer.length >= (this.options.flushRows ?? 10_000)) return this.flush();
    return undefined;
  }

  /** Writes the buffered rows (after any flush in progress). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.failure !== undefined) throw this.failure;
    if (this.buffer.length === 0) return;
    const rows = this.buffer;
    this.buffer = [];
    const run = this.writeRows(rows);
    this.flushing = run.finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  private async writeRows(input: Row[]): Promise<void> {
    let rows = input;
    if (!this.table) await this.define(inferColumns(rows[0]!));
    const table = this.table!;
    if (this.options.rollup) rows = rollUp(table, rows, this.options.rollup);
    const epoch = this.epoch;
    const kindOf = this.options.kind ?? defaultKind;
    let direct = rows;
    let staged: { row: Row; deleted: boolean }[] = [];
    let allFirst = true;
    for (let i = 0; i < rows.length && allFirst; i++) if (kindOf(rows[i]!) !== 'insert') allFirst = false;
    if (table.key.length > 0 && !allFirst) {
      // One version per key per flush (the last); first results go straight in, the rest supersede.
      const last = new Map<string, { row: Row; kind: string; count: number }>();
      for (const row of rows) {
        const key = table.key.map((k) => row[k]).join('\u0000');
        const seen = last.get(key);
        last.set(key, { row, kind: kindOf(row), count: (seen?.count ?? 0) + 1 });
      }
      direct = [];
      staged = [];
      for (const { row, kind, count } of last.values()) {
        if (kind === 'insert' && count === 1) direct.push(row);
        else staged.push({ row, deleted: kind === 'delete' });
      }
    }
    for (const row of direct) checkRow(table, row);
    for (const { row } of staged) checkRow(table, row);
    const store = this.store;
    await store.write(async (db) => {
      if (table.retention) {
        const column = table.retention.column;
        const starts = new Set<number>();
        for (const row of direct) starts.add(store.partitionStart(table, row[column] as number));
        for (const { row } of staged) starts.add(store.partitionStart(table, row[column] as number));
        await store.ensurePartitions(db, table, starts);
      }
      for (const [part, partRows] of this.byPart(table, direct)) {
        const appender = await db.createAppender(part);
        try {
          appendRows(appender, table, partRows, epoch, undefined);
          appender.flushSync();
        } finally {
          appender.closeSync();
        }
      }
      if (staged.length > 0) await this.supersede(db, table, staged, epoch);
    });
    this.rowsWritten += direct.length + staged.length;
    store.countRows(table.name, direct.length + staged.length);
  }

  /** Rows by the physical table they go to (their time partition, for a partitioned table). */
  private byPart<R>(table: TableDefinition, rows: R[], rowOf: (r: R) => Row = (r) => r as Row): Map<string, R[]> {
    const parts = new Map<string, R[]>();
    if (rows.length === 0) return parts;
    if (!table.retention) return parts.set(`${table.name}$rows`, rows);
    const column = table.retention.column;
    for (const row of rows) {
      const part = `${table.name}$p${this.store.partitionStart(table, rowOf(row)[column] as number)}`;
      const list = parts.get(part);
      if (list) list.push(row);
      else parts.set(part, [row]);
    }
    return parts;
  }

  /**
   * Late updates and deletes: each marks its key's live version superseded and adds the new version, in one
   * transaction (a key's versions share a partition: a partitioned keyed table's time column is in its key).
   */
  private async supersede(
    db: DuckDBConnection,
    table: TableDefinition,
    staged: { row: Row; deleted: boolean }[],
    epoch: number,
  ): Promise<void> {
    const stage = quoteIdent(`${table.name}$stage`);
    await db.run(
      `CREATE TEMP TABLE IF NOT EXISTS ${stage} AS SELECT * FROM ${quoteIdent(`${table.name}$rows`)} LIMIT 0`,
    );
    const byPart = this.byPart(table, staged, (s) => s.row);
    // A failed flush must not leave its rows in the stage for the next one.
    await inTransaction(db, async () => {
      for (const [part, rows] of byPart) {
        const appender = await db.createAppender(`${table.name}$stage`, 'main', 'temp');
        try {
          appendRows(
            appender,
            table,
            rows.map((s) => s.row),
            epoch,
            rows.map((s) => s.deleted),
          );
          appender.flushSync();
        } finally {
          appender.closeSync();
        }
        const base = quoteIdent(part);
        const match = table.key.map((k) => `${base}.${quoteIdent(k)} = s.${quoteIdent(k)}`).join(' AND ');
        await db.run(
          `UPDATE ${base} SET _superseded = ${epoch} FROM ${stage} s WHERE ${match} AND ${base}._superseded IS NULL`,
        );
        await db.run(`INSERT INTO ${base} SELECT * FROM ${stage}`);
        await db.run(`DELETE FROM ${stage}`);
      }
    }).catch(async (error: unknown) => {
      await db.run(`DELETE FROM ${stage}`).catch(() => {});
      throw error;
    });
  }

  /** Phase 1: everything before the barrier is in the table; later rows belong to the next epoch. */
  async prepareCheckpoint(checkpointId: number): Promise<unknown> {
    await this.flush();
    const epoch = this.epoch++;
    this.prepared.set(checkpointId, epoch);
    return { table: this.options.name, epoch };
  }

  /** Phase 2: versions superseded up to the checkpoint's epoch can never come back: compact them away. */
  async commitCheckpoint(checkpointId: number): Promise<void> {
    const epoch = this.prepared.get(checkpointId);
    if (epoch === undefined) return;
    for (const id of this.prepared.keys()) if (id <= checkpointId) this.prepared.delete(id);
    await this.compact(epoch);
  }

  /** Recovery: rows written after the checkpoint go, and the versions they superseded come back. */
  async recover(state: unknown): Promise<void> {
    this.checkpointed = true;
    if (state === undefined) return;
    const { epoch } = state as { epoch: number };
    this.epoch = epoch + 1;
    const table = this.table ?? this.store.table(this.options.name);
    if (!table) return;
    const store = this.store;
    await store.write((db) =>
      inTransaction(db, async () => {
        for (const part of store.partsOf(table.name)) {
          const base = quoteIdent(part);
          await db.run(`DELETE FROM ${base} WHERE _epoch > ${epoch}`);
          if (table.key.length > 0) {
            await db.run(`UPDATE ${base} SET _superseded = NULL WHERE _superseded > ${epoch}`);
          }
        }
      }),
    );
  }

  private async compact(upToEpoch: number): Promise<void> {
    const table = this.table;
    if (table?.rollup) return this.compactRollup(table, upToEpoch);
    if (!table || table.key.length === 0) return;
    const store = this.store;
    await store.write(async (db) => {
      for (const part of store.partsOf(table.name)) {
        await db.run(
          `DELETE FROM ${quoteIdent(part)} WHERE _superseded <= ${upToEpoch} OR (_deleted AND _epoch <= ${upToEpoch})`,
        );
      }
    });
  }

  /** Merges a rollup table's partial aggregates up to a committed epoch into one row per group. */
  private async compactRollup(table: TableDefinition, upToEpoch: number): Promise<void> {
    const metrics = table.rollup!.metrics;
    const merged = quoteIdent(`${table.name}$merged`);
    const dimensions = table.columns.filter((c) => !(c.name in metrics)).map((c) => quoteIdent(c.name));
    const columns = table.columns.map((c) =>
      metrics[c.name] ? `${metrics[c.name]}(${quoteIdent(c.name)})` : quoteIdent(c.name),
    );
    const store = this.store;
    await store.write((db) =>
      inTransaction(db, async () => {
        for (const part of store.partsOf(table.name)) {
          const base = quoteIdent(part);
          await db.run(
            `CREATE TEMP TABLE ${merged} AS SELECT ${columns.join(', ')}, ${upToEpoch}::BIGINT AS _epoch FROM ${base} WHERE _epoch <= ${upToEpoch} GROUP BY ${dimensions.join(', ')}`,
          );
          await db.run(`DELETE FROM ${base} WHERE _epoch <= ${upToEpoch}`);
          await db.run(`INSERT INTO ${base} SELECT * FROM ${merged}`);
          await db.run(`DROP TABLE ${merged}`);
        }
      }),
    );
  }

  private async maintain(): Promise<void> {
    const table = this.table;
    if (!table) return;
    // Without checkpoints nothing is ever rolled back: compact everything.
    if (!this.checkpointed) await this.compact(this.epoch);
    if (table.retention) await this.store.applyRetention(table.name);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.maintenance);
    await this.flush().catch(() => {});
  }
}

/** Groups a flush's rows by time bucket and dimensions into partial aggregates (the view merges partials). */
function rollUp(table: TableDefinition, rows: Row[], rollup: NonNullable<ServeTableOptions['rollup']>): Row[] {
  const { time, bucketMs, metrics } = rollup;
  const dimensions = table.columns.map((c) => c.name).filter((name) => !(name in metrics));
  const groups = new Map<string, Row>();
  for (const row of rows) {
    checkRow(table, row);
    const t = row[time] as number;
    const bucketed: Row = { ...row, [time]: t - (((t % bucketMs) + bucketMs) % bucketMs) };
    const key = dimensions.map((d) => bucketed[d]).join('\u0000');
    const group = groups.get(key);
    if (!group) {
      groups.set(key, { ...bucketed, kind: 'insert' });
      continue;
    }
    for (const [metric, fn] of Object.entries(metrics)) {
      const a = group[metric] as number;
      const b = bucketed[metric] as number;
      group[metric] = fn === 'sum' ? a + b : fn === 'min' ? Math.min(a, b) : Math.max(a, b);
    }
  }
  return [...groups.values()];
}

function defaultKind(row: Row): 'insert' | 'update' | 'delete' {
  const kind = row.kind;
  return kind === 'insert' || kind === 'delete' ? kind : 'update';
}
