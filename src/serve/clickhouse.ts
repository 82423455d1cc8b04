// An engine sink into ClickHouse, the serving layer's scale-out target: rows are batched on the client (an insert
// at 1,000 rows or every second, as ClickHouse wants few large inserts) and sent as JSONEachRow over HTTP. Every
// table is a ReplacingMergeTree(_version) read through a `<table>_latest` view (FINAL), so that writes are
// idempotent, whichever of many writers (the partition tasks of a scaled-out pipeline) makes them:
// - keyed tables are ordered by the key: a late update replaces its row, and so does a replay after recovery;
// - append tables are ordered by (_writer, _seq): each row is numbered by its writer, the number is stored in the
//   checkpoint, and a replay writes the same numbers again, so its rows replace those written before the crash.
// Versions only grow: wall-clock microseconds, but above the versions of the rows a writer replaces (read when it
// starts), so its rows after a restart win over those of its earlier run, whatever the clocks of the hosts.
// Works with servers as old as 18.16 (Debian's): no DateTime64, no TTL, no deduplication tokens are needed.

import { randomBytes } from 'node:crypto';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import type { Batch, Sink } from '../contracts/index.ts';
import { SluiceError } from '../errors.ts';
import { checkRow, type Row } from './rows.ts';
import { type ColumnType, type TableDefinition, validateTable } from './schema.ts';

export interface ClickHouseSinkOptions {
  /** HTTP interface (default http://127.0.0.1:8123), or a client of your own. */
  url?: string;
  username?: string;
  password?: string;
  database?: string;
  client?: ClickHouseClient;
  table: string;
  columns: { name: string; type: ColumnType }[];
  /**
   * Upsert key: a ReplacingMergeTree ordered by it. Without: appended rows, ordered by writer and sequence number.
   * At scale every key must be written by one task: the key includes what the pipeline groups by.
   */
  key?: string[];
  /**
   * A PARTITION BY expression (e.g. `toYYYYMMDD(ts)`), so that retention can drop whole partitions. Rows replace
   * each other within a partition only: for a keyed table, use key columns only.
   */
  partitionBy?: string;
  /** Create the table (and view) if it does not exist (default true). */
  create?: boolean;
  /** Insert when this many rows are buffered (default 1,000)... */
  batchRows?: number;
  /** ...or this often (default 1,000 ms). */
  flushMs?: number;
  /** A row's kind, as for serveTable: 'delete' retracts its key (keyed tables). */
  kind?: (row: Row) => 'insert' | 'update' | 'delete';
}

export interface ClickHouseSink<T> extends Sink<T> {
  readonly rowsWritten: number;
  readonly inserts: number;
  /** The writer's id in `_writer` (append tables): `<writer>@<run>`, a run lasting across recoveries. */
  readonly writerId: string;
  flush(): Promise<void>;
}

/** What a checkpoint stores: the run and the next sequence number, which a replay starts from again. */
interface SinkCheckpoint {
  table: string;
  writer: string;
  run: string;
  seq: number;
}

const CH_TYPES: Record<ColumnType, string> = {
  VARCHAR: 'String',
  DOUBLE: 'Float64',
  BIGINT: 'Int64',
  BOOLEAN: 'UInt8',
  TIMESTAMP_MS: 'DateTime',
};

const ident = (name: string) => `\`${name}\``;
const literal = (text: string) => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/** A run id: a writer without a checkpoint to resume starts a new run, so it never replaces an earlier run's rows. */
const newRun = () => `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

export function clickhouseSink<T extends object>(options: ClickHouseSinkOptions): ClickHouseSink<T> {
  const table: TableDefinition = validateTable({
    name: options.table,
    columns: options.columns,
    key: options.key ?? [],
  });
  const keyed = table.key.length > 0;
  const kindOf = options.kind ?? ((row: Row) => (row.kind === 'delete' ? 'delete' : 'update'));
  const batchRows = options.batchRows ?? 1000;
  let client: ClickHouseClient | undefined;
  let ownsClient = false;
  let millis = false; // DateTime64(3) (servers from 20.1) or DateTime (seconds)
  let buffer: Row[] = [];
  let flushing: Promise<void> | undefined;
  let failure: unknown;
  let timer: NodeJS.Timeout | undefined;
  let lastVersion = 0;
  let writer = `sluice:${options.table}`;
  let run = newRun();
  let seq = 0;
  let rowsWritten = 0;
  let inserts = 0;

  /** Wall-clock microseconds, bumped when two rows share one and never below a version already in the table. */
  const nextVersion = () => {
    lastVersion = Math.max(lastVersion + 1, Date.now() * 1000);
    return lastVersion;
  };

  const encode = (row: Row): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const { name, type } of table.columns) {
      const value = row[name];
      // Columns are not Nullable (old servers refuse them in sort and partition keys): null is the type's zero.
      if (value === null || value === undefined) out[name] = type === 'VARCHAR' ? '' : 0;
      else if (type === 'TIMESTAMP_MS') {
        const ms = Math.trunc(Number(value));
        out[name] = millis
          ? `${Math.floor(ms / 1000)}.${String(((ms % 1000) + 1000) % 1000).padStart(3, '0')}`
          : Math.floor(ms / 1000);
      } else if (type === 'BOOLEAN') out[name] = value ? 1 : 0;
      else if (type === 'BIGINT') out[name] = String(value);
      else out[name] = value;
    }
    out._version = nextVersion();
    if (keyed) out._deleted = kindOf(row) === 'delete' ? 1 : 0;
    else {
      out._writer = `${writer}@${run}`;
      out._seq = seq++;
    }
    return out;
  };

  const flush = async (): Promise<void> => {
    while (flushing) await flushing;
    if (failure !== undefined) throw failure;
    if (buffer.length === 0) return;
    const rows = buffer;
    buffer = [];
    for (const row of rows) checkRow(table, row);
    const values = rows.map(encode);
    const insert = client!.insert({ table: options.table, values, format: 'JSONEachRow' }).then(() => {
      rowsWritten += rows.length;
      inserts++;
    });
    flushing = insert.finally(() => {
      flushing = undefined;
    });
    await flushing;
  };

  const query = async <R>(sql: string): Promise<R[]> =>
    (await (await client!.query({ query: sql, format: 'JSONEachRow' })).json()) as R[];

  /** Makes the next version greater than every version of the rows that `where` selects. */
  const raiseVersion = async (where: string) => {
    const [{ max }] = await query<{ max: string }>(`SELECT max(_version) AS max FROM ${ident(table.name)}${where}`);
    lastVersion = Math.max(lastVersion, Number(max));
  };

  return {
    name: `clickhouse:${options.table}`,
    get rowsWritten() {
      return rowsWritten;
    },
    get inserts() {
      return inserts;
    },
    get writerId() {
      return `${writer}@${run}`;
    },
    flush,
    /** The engine names the writer (`<pipeline>#<partition>` for a task): append rows are numbered per writer. */
    setWriter(name: string) {
      writer = name;
    },
    async open() {
      client = options.client;
      if (!client) {
        ownsClient = true;
        client = createClient({
          url: options.url ?? 'http://127.0.0.1:8123',
          username: options.username ?? 'default',
          password: options.password ?? '',
          database: options.database ?? 'default',
        });
      }
      const [{ v }] = await query<{ v: string }>('SELECT version() AS v');
      millis = Number(v.split('.')[0]) >= 20;
      if (options.create !== false) await create(client, table, options.partitionBy, millis);
      await checkColumns(table, query);
      // Above every version in the table, so that this writer's rows (a replay's too) replace those of its earlier
      // runs even when this host's clock is behind the one that wrote them. (A scan of one column, once per start.)
      if (keyed) await raiseVersion('');
      timer = setInterval(() => {
        if (buffer.length > 0 && !flushing) flush().catch((error) => (failure ??= error));
      }, options.flushMs ?? 1000);
      timer.unref();
    },
    write(batch: Batch<T>) {
      if (failure !== undefined) throw failure;
      for (const value of batch.values) buffer.push(value as Row);
      if (buffer.length >= batchRows) return flush();
      return undefined;
    },
    /** Everything before the barrier is inserted; the checkpoint keeps the number the next row will get. */
    async prepareCheckpoint(): Promise<SinkCheckpoint> {
      await flush();
      return { table: options.table, writer, run, seq };
    },
    /**
     * Resumes the checkpoint's run and numbering: the replay numbers its rows as they were numbered before the
     * crash, and its newer versions replace them. Without a checkpoint (a first start) the run is a new one.
     */
    async recover(state: unknown) {
      const checkpoint = state as Partial<SinkCheckpoint> | undefined;
      if (typeof checkpoint?.run === 'string' && typeof checkpoint.seq === 'number') {
        run = checkpoint.run;
        seq = checkpoint.seq;
        // The rows the replay replaces: found through the primary key, whatever clock wrote them.
        if (!keyed) await raiseVersion(` WHERE _writer = ${literal(`${writer}@${run}`)} AND _seq >= ${seq}`);
      }
    },
    async close() {
      clearInterval(timer);
      try {
        await flush();
      } finally {
        if (ownsClient) await client?.close();
      }
    },
  };
}

/** A table created by an earlier version of the sink (or by hand) must have the columns idempotence needs. */
async function checkColumns(table: TableDefinition, query: <R>(sql: string) => Promise<R[]>): Promise<void> {
  const names = new Set(
    (
      await query<{ name: string }>(
        `SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${table.name}'`,
      )
    ).map((c) => c.name),
  );
  const needed = [
    ...table.columns.map((c) => c.name),
    '_version',
    ...(table.key.length > 0 ? ['_deleted'] : ['_writer', '_seq']),
  ];
  const missing = needed.filter((name) => !names.has(name));
  if (missing.length > 0) {
    throw new SluiceError(
      'CLICKHOUSE_SCHEMA',
      `ClickHouse table ${table.name} lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: ` +
        'create it as the sink does (see docs/serve.md#clickhouse), or drop it to let the sink create it',
      { table: table.name, missing },
    );
  }
}

async function create(
  client: ClickHouseClient,
  table: TableDefinition,
  partitionBy: string | undefined,
  millis: boolean,
): Promise<void> {
  const keyed = table.key.length > 0;
  const columns = table.columns.map((c) => {
    const type = c.type === 'TIMESTAMP_MS' && millis ? 'DateTime64(3)' : CH_TYPES[c.type];
    return `${ident(c.name)} ${type}`;
  });
  columns.push('`_version` UInt64', ...(keyed ? ['`_deleted` UInt8'] : ['`_writer` String', '`_seq` UInt64']));
  const order = keyed ? table.key.map(ident).join(', ') : '`_writer`, `_seq`';
  const partition = partitionBy ? ` PARTITION BY ${partitionBy}` : '';
  // Many tasks open the sink at once: one that loses the race to create is as good as created.
  const exists = (error: unknown) => (error as { code?: string }).code === '57'; // TABLE_ALREADY_EXISTS
  try {
    await client
      .command({
        query: `CREATE TABLE IF NOT EXISTS ${ident(table.name)} (${columns.join(', ')}) ENGINE = ReplacingMergeTree(_version)${partition} ORDER BY (${order})`,
      })
      .catch((error: unknown) => {
        if (!exists(error)) throw error;
      });
    const names = table.columns.map((c) => ident(c.name)).join(', ');
    await client
      .command({
        query: `CREATE VIEW IF NOT EXISTS ${ident(`${table.name}_latest`)} AS SELECT ${names} FROM ${ident(table.name)} FINAL${keyed ? ' WHERE _deleted = 0' : ''}`,
      })
      .catch((error: unknown) => {
        if (!exists(error)) throw error;
      });
  } catch (error) {
    throw new SluiceError(
      'CLICKHOUSE_ERROR',
      `cannot create ClickHouse table ${table.name}: ${(error as Error).message}`,
      {
        table: table.name,
      },
    );
  }
}
