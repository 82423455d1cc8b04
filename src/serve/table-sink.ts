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
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBTimestampMillisecondsValue,
  type DuckDBType,
  type DuckDBValue,
  TIMESTAMP_MS,
  VARCHAR,
} from '@duckdb/node-api';
import type { Sink } from '../engine/connector.ts';
import type { Batch } from '../engine/types.ts';
import { SluiceError } from '../errors.ts';
import { type ColumnType, inferColumns, quoteIdent, type TableDefinition } from './schema.ts';
import type { ServingStore } from './store.ts';

export interface ServeTableOptions {
  store: ServingStore;
  name: string;
  /** The columns (in order); without them, they are inferred from the first row (see inferColumns). */
  columns?: TableDefinition['columns'];
  /** Primary key columns: an upsert table. Without: an append table. */
  key?: string[];
  /** Delete rows older than `keepMs` by this epoch-ms column. */
  retention?: { column: string; keepMs: number };
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

type Row = Record<string, unknown>;

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

  constructor(options: ServeTableOptions) {
    this.options = options;
    this.name = `table:${options.name}`;
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
    this.table = await this.options.store.defineTable({
      name: this.options.name,
      columns,
      key: this.options.key ?? [],
      ...(retention ? { retention: { column: retention.column, ms: retention.keepMs } } : {}),
      ...(this.options.rollup ? { rollup: { metrics: this.options.rollup.metrics } } : {}),
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
    await this.options.store.write(async (db) => {
      const base = quoteIdent(`${table.name}$rows`);
      if (direct.length > 0) {
        const appender = await db.createAppender(`${table.name}$rows`);
        try {
          appendRows(appender, table, direct, epoch, undefined);
          appender.flushSync();
        } finally {
          appender.closeSync();
        }
      }
      if (staged.length > 0) await this.supersede(db, table, base, staged, epoch);
    });
    this.rowsWritten += direct.length + staged.length;
  }

  private async supersede(
    db: DuckDBConnection,
    table: TableDefinition,
    base: string,
    staged: { row: Row; deleted: boolean }[],
    epoch: number,
  ): Promise<void> {
    const stage = quoteIdent(`${table.name}$stage`);
    await db.run(`CREATE TEMP TABLE IF NOT EXISTS ${stage} AS SELECT * FROM ${base} LIMIT 0`);
    const appender = await db.createAppender(`${table.name}$stage`, 'main', 'temp');
    try {
      appendRows(
        appender,
        table,
        staged.map((s) => s.row),
        epoch,
        staged.map((s) => s.deleted),
      );
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
    const match = table.key.map((k) => `${base}.${quoteIdent(k)} = s.${quoteIdent(k)}`).join(' AND ');
    await db.run('BEGIN TRANSACTION');
    try {
      await db.run(
        `UPDATE ${base} SET _superseded = ${epoch} FROM ${stage} s WHERE ${match} AND ${base}._superseded IS NULL`,
      );
      await db.run(`INSERT INTO ${base} SELECT * FROM ${stage}`);
      await db.run('COMMIT');
    } catch (error) {
      await db.run('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      await db.run(`DELETE FROM ${stage}`);
    }
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
    const table = this.table ?? this.options.store.table(this.options.name);
    if (!table) return;
    const base = quoteIdent(`${table.name}$rows`);
    await this.options.store.write(async (db) => {
      await db.run('BEGIN TRANSACTION');
      try {
        await db.run(`DELETE FROM ${base} WHERE _epoch > ${epoch}`);
        if (table.key.length > 0) await db.run(`UPDATE ${base} SET _superseded = NULL WHERE _superseded > ${epoch}`);
        await db.run('COMMIT');
      } catch (error) {
        await db.run('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  private async compact(upToEpoch: number): Promise<void> {
    const table = this.table;
    if (table?.rollup) return this.compactRollup(table, upToEpoch);
    if (!table || table.key.length === 0) return;
    const base = quoteIdent(`${table.name}$rows`);
    await this.options.store.write(async (db) => {
      await db.run(`DELETE FROM ${base} WHERE _superseded <= ${upToEpoch} OR (_deleted AND _epoch <= ${upToEpoch})`);
    });
  }

  /** Merges a rollup table's partial aggregates up to a committed epoch into one row per group. */
  private async compactRollup(table: TableDefinition, upToEpoch: number): Promise<void> {
    const metrics = table.rollup!.metrics;
    const base = quoteIdent(`${table.name}$rows`);
    const merged = quoteIdent(`${table.name}$merged`);
    const dimensions = table.columns.filter((c) => !(c.name in metrics)).map((c) => quoteIdent(c.name));
    const columns = table.columns.map((c) =>
      metrics[c.name] ? `${metrics[c.name]}(${quoteIdent(c.name)})` : quoteIdent(c.name),
    );
    await this.options.store.write(async (db) => {
      await db.run('BEGIN TRANSACTION');
      try {
        await db.run(
          `CREATE TEMP TABLE ${merged} AS SELECT ${columns.join(', ')}, ${upToEpoch}::BIGINT AS _epoch FROM ${base} WHERE _epoch <= ${upToEpoch} GROUP BY ${dimensions.join(', ')}`,
        );
        await db.run(`DELETE FROM ${base} WHERE _epoch <= ${upToEpoch}`);
        await db.run(`INSERT INTO ${base} SELECT * FROM ${merged}`);
        await db.run(`DROP TABLE ${merged}`);
        await db.run('COMMIT');
      } catch (error) {
        await db.run('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  private async maintain(): Promise<void> {
    const table = this.table;
    if (!table) return;
    // Without checkpoints nothing is ever rolled back: compact everything.
    if (!this.checkpointed) await this.compact(this.epoch);
    if (table.retention) {
      const { column, ms } = table.retention;
      const type = table.columns.find((c) => c.name === column)!.type;
      const cutoff = Date.now() - ms;
      const bound =
        type === 'TIMESTAMP_MS' ? `make_timestamp(${Math.trunc(cutoff)}::BIGINT * 1000)` : `${Math.trunc(cutoff)}`;
      await this.options.store.write((db) =>
        db.run(`DELETE FROM ${quoteIdent(`${table.name}$rows`)} WHERE ${quoteIdent(column)} < ${bound}`),
      );
    }
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

const expected: Record<ColumnType, string> = {
  VARCHAR: 'a string',
  DOUBLE: 'a number',
  BIGINT: 'an integer',
  BOOLEAN: 'a boolean',
  TIMESTAMP_MS: 'epoch milliseconds',
};

/** Refuses a row that does not fit the table before anything of its flush is written. */
function checkRow(table: TableDefinition, row: Row): void {
  for (const { name, type } of table.columns) {
    const value = row[name];
    if (value === null || value === undefined) {
      if (table.key.includes(name)) throw mismatch(table, name, type, value);
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
 * against 0.6M for four columns here).
 */
function appendRows(
  appender: DuckDBAppender,
  table: TableDefinition,
  rows: Row[],
  epoch: number,
  deleted: boolean[] | undefined,
): void {
  const keyed = table.key.length > 0;
  const types = table.columns.map((c) => DUCKDB_TYPES[c.type]);
  types.push(BIGINT);
  if (keyed) types.push(BIGINT, BOOLEAN);
  const epochValue = BigInt(epoch);
  for (let from = 0; from < rows.length; from += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, rows.length - from);
    const columns: DuckDBValue[][] = table.columns.map(({ name, type }) => {
      const values = new Array<DuckDBValue>(n);
      for (let j = 0; j < n; j++) values[j] = toDuckDB(rows[from + j]![name], type);
      return values;
    });
    columns.push(new Array<DuckDBValue>(n).fill(epochValue));
    if (keyed) {
      columns.push(new Array<DuckDBValue>(n).fill(null));
      const flags = new Array<DuckDBValue>(n);
      for (let j = 0; j < n; j++) flags[j] = deleted?.[from + j] ?? false;
      columns.push(flags);
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
