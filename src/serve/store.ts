// The serving store: one embedded DuckDB database in the data directory, with a dedicated writer connection (the
// table sinks) and a small pool of reader connections (SQL queries), so that a long query never holds writes back
// and a write never truncates a streaming read (FIELD-NOTES). This file owns the writer side: tables, their time
// partitions, hybrid batch parts and published versions; lockdown.ts opens the database, query.ts reads it.
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type {
  QueryOptions,
  QueryResult,
  ServingStore as ServingStoreContract,
  TableDefinition,
  TableInfo,
  TimeRange,
} from '../contracts/index.ts';
import { SluiceError } from '../errors.ts';
import { createLogger, type Logger } from '../logger.ts';
import { type Catalog, loadCatalog } from './catalog.ts';
import { currentRowsQuery, hybridViewQuery, physicalColumns, timeLiteral } from './layout.ts';
import { type OpenedDatabase, openLockedDatabase } from './lockdown.ts';
import { checkQueryText, DEFAULT_MAX_ROWS, DEFAULT_QUERY_TIMEOUT_MS, readOnlyQuery } from './query.ts';
import { quoteIdent, validateTable } from './schema.ts';
import { inTransaction } from './transaction.ts';

export type { QueryOptions, QueryResult, TableInfo, TimeRange };

export interface ServingStoreOptions {
  /** Where the database file lives (`<dir>/serving.duckdb`); `:memory:` for tests and benchmarks. */
  dir: string | ':memory:';
  readers?: number;
}

export class ServingStore implements ServingStoreContract {
  readonly logger: Logger;
  private readonly instance: DuckDBInstance;
  readonly writer: DuckDBConnection;
  private readonly idle: DuckDBConnection[];
  private readonly waiting: ((connection: DuckDBConnection) => void)[] = [];
  private readonly tables: Map<string, TableDefinition>;
  /** Start (epoch ms) of every time partition of each partitioned table. */
  private readonly partitions: Map<string, Set<number>>;
  /** The batch range of each hybrid table that has one. */
  private readonly batchRanges: Map<string, TimeRange>;
  /** Versioned tables: the name readers query → the table (version) it shows now. */
  private readonly aliases: Map<string, string>;
  /** Writes are serialised on the writer connection (one statement at a time per connection). */
  private writeChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  queries = 0;
  queryErrors = 0;
  /** Rows written into each table by its sinks (real-time and batch), for metrics. */
  readonly rowsWritten = new Map<string, number>();

  private constructor(db: OpenedDatabase, catalog: Catalog) {
    this.instance = db.instance;
    this.writer = db.writer;
    this.idle = db.readers;
    this.tables = catalog.tables;
    this.partitions = catalog.partitions;
    this.batchRanges = catalog.batchRanges;
    this.aliases = catalog.aliases;
    this.logger = createLogger('serve');
  }

  static async open(options: ServingStoreOptions): Promise<ServingStore> {
    const db = await openLockedDatabase(options.dir, options.readers ?? 2);
    return new ServingStore(db, await loadCatalog(db.writer));
  }

  /** Runs `work` on the writer connection after the writes before it. */
  write<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SluiceError('STORE_CLOSED', 'the serving store is closed'));
    const run = this.writeChain.catch(() => {}).then(() => work(this.writer));
    this.writeChain = run;
    return run;
  }

  /**
   * Creates the table (a base table with bookkeeping columns and a view of its current rows, named after it), or
   * checks that an existing one has the same definition: a mismatch is an error, never a silent change.
   */
  async defineTable(definition: TableDefinition): Promise<TableDefinition> {
    const table = validateTable(definition);
    const existing = this.tables.get(table.name);
    if (existing) {
      if (JSON.stringify(existing) !== JSON.stringify(table)) {
        throw new SluiceError(
          'SCHEMA_MISMATCH',
          `serving table ${table.name} exists with another definition: ${describe(existing)}; the sink declares ${describe(table)}`,
          { table: table.name },
        );
      }
      return existing;
    }
    await this.write((db) =>
      inTransaction(
        db,
        async () => {
          await db.run(`CREATE TABLE ${quoteIdent(`${table.name}$rows`)} (${physicalColumns(table, true)})`);
          if (table.hybrid)
            await db.run(`CREATE TABLE ${quoteIdent(`${table.name}$batch`)} (${physicalColumns(table, false)})`);
          if (table.retention) this.partitions.set(table.name, new Set());
          await this.refreshViews(db, table);
          await db.run('INSERT INTO _sluice_tables VALUES ($1, $2)', [table.name, JSON.stringify(table)]);
        },
        () => this.partitions.delete(table.name),
      ),
    );
    this.tables.set(table.name, table);
    return table;
  }

  /**
   * The physical tables of a table's real-time part: `<name>$rows` (all rows of an unpartitioned table; empty
   * otherwise, the template) and one `<name>$p<start>` per time partition.
   */
  partsOf(name: string): string[] {
    const starts = [...(this.partitions.get(name) ?? [])].sort((a, b) => a - b);
    return [`${name}$rows`, ...starts.map((start) => `${name}$p${start}`)];
  }

  /** The start of the time partition a value of the retention column falls in. */
  partitionStart(table: TableDefinition, value: number | bigint): number {
    const span = table.retention!.partitionMs;
    const t = Number(value);
    return t - (((t % span) + span) % span);
  }

  /** Creates missing time partitions (and the view over them). On the writer, inside write(). */
  async ensurePartitions(db: DuckDBConnection, table: TableDefinition, starts: Iterable<number>): Promise<void> {
    const known = this.partitions.get(table.name)!;
    const missing = [...new Set(starts)].filter((start) => !known.has(start));
    if (missing.length === 0) return;
    await inTransaction(
      db,
      async () => {
        for (const start of missing) {
          await db.run(`CREATE TABLE ${quoteIdent(`${table.name}$p${start}`)} (${physicalColumns(table, true)})`);
          known.add(start);
        }
        await this.refreshViews(db, table);
      },
      () => {
        for (const start of missing) known.delete(start);
      },
    );
  }

  /**
   * Retention: drops the time partitions whose whole span is older than the table's retention before `now` (and
   * deletes batch rows older than it, for a hybrid table). Returns how many partitions went.
   */
  async applyRetention(name: string, now = Date.now()): Promise<number> {
    const table = this.tables.get(name);
    if (!table?.retention) return 0;
    const { column, ms, partitionMs } = table.retention;
    const cutoff = Math.trunc(now - ms);
    return this.write(async (db) => {
      const known = this.partitions.get(name)!;
      const expired = [...known].filter((start) => start + partitionMs <= cutoff);
      if (expired.length === 0 && !table.hybrid) return 0;
      await inTransaction(
        db,
        async () => {
          for (const start of expired) known.delete(start);
          // The view first: it must not name a table that is about to go.
          await this.refreshViews(db, table);
          for (const start of expired) await db.run(`DROP TABLE ${quoteIdent(`${name}$p${start}`)}`);
          if (table.hybrid) {
            await db.run(
              `DELETE FROM ${quoteIdent(`${name}$batch`)} WHERE ${quoteIdent(column)} < ${timeLiteral(table, column, cutoff)}`,
            );
          }
        },
        () => {
          for (const start of expired) known.add(start);
        },
      );
      return expired.length;
    });
  }

  /** A hybrid table's batch range, if a batch part has been swapped in. */
  batchRange(name: string): TimeRange | undefined {
    return this.batchRanges.get(name);
  }

  /**
   * Swaps a recomputed batch part in, atomically (one transaction): the rows of `stage` (a temp table of the
   * writer connection, with the table's columns) inside `range` replace the batch rows in it, the real-time rows
   * in it are deleted, and the batch range (the time boundary) grows to include it. Readers see the table before
   * or after, never between. A range that would leave a gap in the batch range is refused. On the writer.
   */
  async swapBatch(db: DuckDBConnection, table: TableDefinition, stage: string, range: TimeRange): Promise<TimeRange> {
    const time = table.hybrid!.time;
    const old = this.batchRanges.get(table.name);
    if (old && (range.from > old.to || range.to < old.from)) {
      throw new SluiceError(
        'HYBRID_GAP',
        `hybrid table ${table.name}: the batch range [${range.from}, ${range.to}) does not touch the current one [${old.from}, ${old.to}); recompute the time between them too`,
        { table: table.name },
      );
    }
    const next = old ? { from: Math.min(old.from, range.from), to: Math.max(old.to, range.to) } : { ...range };
    const t = quoteIdent(time);
    const inRange = `${t} >= ${timeLiteral(table, time, range.from)} AND ${t} < ${timeLiteral(table, time, range.to)}`;
    const names = table.columns.map((c) => quoteIdent(c.name)).join(', ');
    await inTransaction(
      db,
      async () => {
        await db.run(`DELETE FROM ${quoteIdent(`${table.name}$batch`)} WHERE ${inRange}`);
        await db.run(`INSERT INTO ${quoteIdent(`${table.name}$batch`)} SELECT ${names} FROM ${stage} WHERE ${inRange}`);
        for (const part of this.partsOf(table.name)) await db.run(`DELETE FROM ${quoteIdent(part)} WHERE ${inRange}`);
        await db.run('INSERT OR REPLACE INTO _sluice_batch_ranges VALUES ($1, $2, $3)', [
          table.name,
          next.from,
          next.to,
        ]);
        this.batchRanges.set(table.name, next);
        await this.refreshViews(db, table);
      },
      () => {
        if (old) this.batchRanges.set(table.name, old);
        else this.batchRanges.delete(table.name);
      },
    );
    return next;
  }

  /** (Re)creates a table's views from its current parts (and batch range). Inside the caller's transaction. */
  private async refreshViews(db: DuckDBConnection, table: TableDefinition): Promise<void> {
    const current = currentRowsQuery(table, this.partsOf(table.name));
    if (!table.hybrid) {
      await db.run(`CREATE OR REPLACE VIEW ${quoteIdent(table.name)} AS ${current}`);
      return;
    }
    await db.run(`CREATE OR REPLACE VIEW ${quoteIdent(`${table.name}$realtime`)} AS ${current}`);
    const view = hybridViewQuery(table, this.batchRanges.get(table.name));
    await db.run(`CREATE OR REPLACE VIEW ${quoteIdent(table.name)} AS ${view}`);
  }

  /**
   * Points each alias (a name readers query) at a table of this store (one version of it), all in one transaction:
   * a query sees the old versions or the new ones, never a mix, and never an error.
   */
  async publishVersions(versions: Record<string, string>): Promise<void> {
    for (const [alias, target] of Object.entries(versions)) {
      if (!this.tables.has(target)) {
        throw new SluiceError('UNKNOWN_TABLE', `cannot publish ${alias}: there is no table ${target}`, {
          table: target,
        });
      }
      if (this.tables.has(alias)) {
        throw new SluiceError('TABLE_EXISTS', `cannot publish versions as ${alias}: a table has that name`, {
          table: alias,
        });
      }
    }
    await this.write((db) =>
      inTransaction(db, async () => {
        for (const [alias, target] of Object.entries(versions)) {
          await db.run(`CREATE OR REPLACE VIEW ${quoteIdent(alias)} AS SELECT * FROM ${quoteIdent(target)}`);
          await db.run('INSERT OR REPLACE INTO _sluice_aliases VALUES ($1, $2)', [alias, target]);
        }
      }),
    );
    for (const [alias, target] of Object.entries(versions)) this.aliases.set(alias, target);
  }

  /** The table (version) `alias` shows, if it is an alias. */
  versionOf(alias: string): string | undefined {
    return this.aliases.get(alias);
  }

  /** Drops a table with all its parts (an old version); refused while an alias shows it. */
  async dropTable(name: string): Promise<void> {
    const table = this.tables.get(name);
    if (!table) throw new SluiceError('UNKNOWN_TABLE', `there is no table ${name}`, { table: name });
    for (const [alias, target] of this.aliases) {
      if (target === name) {
        throw new SluiceError('TABLE_IN_USE', `table ${name} is the version ${alias} shows; publish another first`, {
          table: name,
          alias,
        });
      }
    }
    await this.write((db) =>
      inTransaction(db, async () => {
        await db.run(`DROP VIEW IF EXISTS ${quoteIdent(name)}`);
        if (table.hybrid) await db.run(`DROP VIEW IF EXISTS ${quoteIdent(`${name}$realtime`)}`);
        for (const part of this.partsOf(name)) await db.run(`DROP TABLE IF EXISTS ${quoteIdent(part)}`);
        if (table.hybrid) await db.run(`DROP TABLE IF EXISTS ${quoteIdent(`${name}$batch`)}`);
        await db.run('DELETE FROM _sluice_tables WHERE name = $1', [name]);
        await db.run('DELETE FROM _sluice_batch_ranges WHERE name = $1', [name]);
      }),
    );
    this.tables.delete(name);
    this.partitions.delete(name);
    this.batchRanges.delete(name);
  }

  /** Counts rows a sink wrote into a table (metrics). */
  countRows(name: string, n: number): void {
    this.rowsWritten.set(name, (this.rowsWritten.get(name) ?? 0) + n);
  }

  table(name: string): TableDefinition | undefined {
    return this.tables.get(name);
  }

  async listTables(): Promise<TableInfo[]> {
    const out: TableInfo[] = [];
    for (const table of this.tables.values()) {
      const result = await this.query(`SELECT count(*) FROM ${quoteIdent(table.name)}`);
      out.push({
        name: table.name,
        kind: table.rollup ? 'rollup' : table.key.length > 0 ? 'keyed' : 'append',
        key: table.key,
        columns: table.columns,
        rows: Number(result.rows[0]?.[0] ?? 0),
        ...(table.retention ? { partitions: this.partitions.get(table.name)?.size ?? 0 } : {}),
        ...(table.hybrid
          ? { hybrid: { time: table.hybrid.time, batch: this.batchRanges.get(table.name) ?? null } }
          : {}),
      });
    }
    for (const [alias, target] of this.aliases) {
      const shown = out.find((t) => t.name === target);
      if (shown) out.push({ ...shown, name: alias, version: target });
    }
    return out;
  }

  /** A read-only query: one SELECT statement, in a read-only transaction, with a timeout and a row limit (query.ts). */
  async query(sql: string, options: QueryOptions = {}): Promise<QueryResult> {
    checkQueryText(sql);
    const timeoutMs = options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
    const started = performance.now();
    const connection = await this.acquire();
    this.queries++;
    try {
      return await readOnlyQuery(connection, sql, timeoutMs, maxRows, started);
    } catch (error) {
      this.queryErrors++;
      throw error;
    } finally {
      this.release(connection);
    }
  }

  private acquire(): Promise<DuckDBConnection> {
    if (this.closed) return Promise.reject(new SluiceError('STORE_CLOSED', 'the serving store is closed'));
    const connection = this.idle.pop();
    if (connection) return Promise.resolve(connection);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(connection: DuckDBConnection): void {
    const next = this.waiting.shift();
    if (next) next(connection);
    else this.idle.push(connection);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.writeChain.catch(() => {});
    this.closed = true;
    await this.writer.run('CHECKPOINT').catch(() => {});
    this.writer.closeSync();
    for (const connection of this.idle) connection.closeSync();
    this.instance.closeSync();
  }
}

function describe(table: TableDefinition): string {
  const key = table.key.length > 0 ? ` key (${table.key.join(', ')})` : ' (append)';
  return `(${table.columns.map((c) => `${c.name} ${c.type}`).join(', ')})${key}`;
}

/**
 * The embedded DuckDB store behind a serving-store contract (a pipeline's `env.serving`): the sinks write through
 * its connections, so they need this implementation, not just any store a reader can query.
 */
export function embeddedStore(store: ServingStoreContract, who: string): ServingStore {
  if (store instanceof ServingStore) return store;
  throw new SluiceError(
    'INVALID_ARGUMENT',
    `${who} writes to Sluice's embedded serving store: pass the environment's \`serving\` (or ServingStore.open())`,
  );
}
