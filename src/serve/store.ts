// The serving store: one embedded DuckDB database in the data directory, with a dedicated writer connection (the
// table sinks) and a small pool of reader connections (SQL queries), so that a long query never holds writes back
// and a write never truncates a streaming read (FIELD-NOTES).
//
// Locked down at creation: no file or network access from SQL (enable_external_access=false also blocks COPY,
// ATTACH, INSTALL and LOAD), no extension autoloading, configuration locked so that SET cannot undo it. Reader
// queries must parse (by DuckDB's own parser) to exactly one SELECT, run in a READ ONLY transaction, are
// interrupted at their timeout and cut at a row limit.
import fs from 'node:fs';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance, StatementType } from '@duckdb/node-api';
import { SluiceError } from '../errors.ts';
import { createLogger, type Logger } from '../logger.ts';
import { type ColumnType, quoteIdent, type TableDefinition, validateTable } from './schema.ts';

export interface ServingStoreOptions {
  /** Where the database file lives (`<dir>/serving.duckdb`); `:memory:` for tests and benchmarks. */
  dir: string | ':memory:';
  readers?: number;
}

export interface QueryOptions {
  timeoutMs?: number;
  maxRows?: number;
}

export interface QueryResult {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  truncated: boolean;
  elapsedMs: number;
}

export interface TableInfo {
  name: string;
  kind: 'append' | 'keyed';
  key: string[];
  columns: { name: string; type: ColumnType }[];
  rows: number;
}

export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_ROWS = 10_000;

export class ServingStore {
  readonly logger: Logger;
  private readonly instance: DuckDBInstance;
  readonly writer: DuckDBConnection;
  private readonly idle: DuckDBConnection[];
  private readonly waiting: ((connection: DuckDBConnection) => void)[] = [];
  private readonly tables = new Map<string, TableDefinition>();
  /** Writes are serialised on the writer connection (one statement at a time per connection). */
  private writeChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  queries = 0;
  queryErrors = 0;

  private constructor(instance: DuckDBInstance, writer: DuckDBConnection, readers: DuckDBConnection[]) {
    this.instance = instance;
    this.writer = writer;
    this.idle = readers;
    this.logger = createLogger('serve');
  }

  static async open(options: ServingStoreOptions): Promise<ServingStore> {
    let file = ':memory:';
    if (options.dir !== ':memory:') {
      fs.mkdirSync(options.dir, { recursive: true });
      file = path.join(options.dir, 'serving.duckdb');
    }
    const instance = await DuckDBInstance.create(file, {
      enable_external_access: 'false',
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      // Flushes checkpoint the file synchronously on the event loop: keep that rare (FIELD-NOTES: 180 ms at 16 MB).
      checkpoint_threshold: '1GB',
      lock_configuration: 'true',
    });
    const writer = await instance.connect();
    const readers: DuckDBConnection[] = [];
    for (let i = 0; i < (options.readers ?? 2); i++) readers.push(await instance.connect());
    const store = new ServingStore(instance, writer, readers);
    await writer.run(
      'CREATE TABLE IF NOT EXISTS _sluice_tables (name VARCHAR PRIMARY KEY, definition VARCHAR NOT NULL)',
    );
    const known = await writer.runAndReadAll('SELECT definition FROM _sluice_tables');
    for (const [definition] of known.getRowsJson()) {
      const table = JSON.parse(definition as string) as TableDefinition;
      store.tables.set(table.name, table);
    }
    return store;
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
    await this.write(async (db) => {
      const base = quoteIdent(`${table.name}$rows`);
      const columns = table.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
      const names = table.columns.map((c) => quoteIdent(c.name)).join(', ');
      await db.run('BEGIN TRANSACTION');
      try {
        if (table.key.length > 0) {
          await db.run(
            `CREATE TABLE ${base} (${columns}, _epoch BIGINT NOT NULL, _superseded BIGINT, _deleted BOOLEAN NOT NULL)`,
          );
          await db.run(
            `CREATE VIEW ${quoteIdent(table.name)} AS SELECT ${names} FROM ${base} WHERE _superseded IS NULL AND NOT _deleted`,
          );
        } else {
          await db.run(`CREATE TABLE ${base} (${columns}, _epoch BIGINT NOT NULL)`);
          await db.run(`CREATE VIEW ${quoteIdent(table.name)} AS ${viewQuery(table, base)}`);
        }
        await db.run('INSERT INTO _sluice_tables VALUES ($1, $2)', [table.name, JSON.stringify(table)]);
        await db.run('COMMIT');
      } catch (error) {
        await db.run('ROLLBACK').catch(() => {});
        throw error;
      }
    });
    this.tables.set(table.name, table);
    return table;
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
        kind: table.key.length > 0 ? 'keyed' : 'append',
        key: table.key,
        columns: table.columns,
        rows: Number(result.rows[0]?.[0] ?? 0),
      });
    }
    return out;
  }

  /** A read-only query: one SELECT statement, in a read-only transaction, with a timeout and a row limit. */
  async query(sql: string, options: QueryOptions = {}): Promise<QueryResult> {
    if (typeof sql !== 'string' || sql.trim() === '') throw new SluiceError('INVALID_SQL', 'the query is empty');
    if (sql.length > 100_000) throw new SluiceError('INVALID_SQL', 'the query is longer than 100,000 characters');
    const timeoutMs = options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
    const started = performance.now();
    const connection = await this.acquire();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      connection.interrupt();
    }, timeoutMs);
    this.queries++;
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
        throw new SluiceError(
          'READ_ONLY',
          `only SELECT queries are allowed here (this is a ${StatementType[prepared.statementType]} statement)`,
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
      this.queryErrors++;
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

/** An append table's view: its rows, or for a rollup table its partial aggregates merged by dimension. */
function viewQuery(table: TableDefinition, base: string): string {
  const metrics = table.rollup?.metrics;
  if (!metrics) return `SELECT ${table.columns.map((c) => quoteIdent(c.name)).join(', ')} FROM ${base}`;
  const dimensions = table.columns.filter((c) => !(c.name in metrics)).map((c) => quoteIdent(c.name));
  const columns = table.columns.map((c) => {
    const fn = metrics[c.name];
    return fn ? `${fn}(${quoteIdent(c.name)}) AS ${quoteIdent(c.name)}` : quoteIdent(c.name);
  });
  return `SELECT ${columns.join(', ')} FROM ${base} GROUP BY ${dimensions.join(', ')}`;
}

function describe(table: TableDefinition): string {
  const key = table.key.length > 0 ? ` key (${table.key.join(', ')})` : ' (append)';
  return `(${table.columns.map((c) => `${c.name} ${c.type}`).join(', ')})${key}`;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}
