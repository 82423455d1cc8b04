// An engine sink into ClickHouse, the serving layer's scale-out target: rows are batched on the client (an insert
// at 1,000 rows or every second, as ClickHouse wants few large inserts) and sent as JSONEachRow over HTTP.
// Keyed tables are ReplacingMergeTree(_version) ordered by the key, read through a `<table>_latest` view (FINAL),
// so a late update replaces its row and a replay after recovery rewrites the same rows: idempotent upserts. Works
// with servers as old as 18.16 (Debian's): no DateTime64, no TTL, no lightweight deletes are needed.
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import type { Sink } from '../engine/connector.ts';
import type { Batch } from '../engine/types.ts';
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
  /** Upsert key: a ReplacingMergeTree ordered by it. Without: a MergeTree of appended rows. */
  key?: string[];
  /** A PARTITION BY expression (e.g. `toYYYYMMDD(ts)`), so that retention can drop whole partitions. */
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
  flush(): Promise<void>;
}

const CH_TYPES: Record<ColumnType, string> = {
  VARCHAR: 'String',
  DOUBLE: 'Float64',
  BIGINT: 'Int64',
  BOOLEAN: 'UInt8',
  TIMESTAMP_MS: 'DateTime',
};

const ident = (name: string) => `\`${name}\``;

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
  let rowsWritten = 0;
  let inserts = 0;

  /** Versions grow across restarts too: wall-clock microseconds, bumped when two rows share one. */
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
    if (keyed) {
      out._version = nextVersion();
      out._deleted = kindOf(row) === 'delete' ? 1 : 0;
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
    const run = client!.insert({ table: options.table, values: rows.map(encode), format: 'JSONEachRow' }).then(() => {
      rowsWritten += rows.length;
      inserts++;
    });
    flushing = run.finally(() => {
      flushing = undefined;
    });
    await flushing;
  };

  return {
    name: `clickhouse:${options.table}`,
    get rowsWritten() {
      return rowsWritten;
    },
    get inserts() {
      return inserts;
    },
    flush,
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
      const version = await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
      const [{ v }] = (await version.json()) as [{ v: string }];
      millis = Number(v.split('.')[0]) >= 20;
      if (options.create !== false) await create(client, table, options.partitionBy, millis);
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
    /** Everything before the barrier is inserted; a replay rewrites rows idempotently (keyed) or again (append). */
    async prepareCheckpoint() {
      await flush();
      return { table: options.table };
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
  if (keyed) columns.push('`_version` UInt64', '`_deleted` UInt8');
  const engine = keyed ? 'ReplacingMergeTree(_version)' : 'MergeTree()';
  const order = keyed ? `(${table.key.map(ident).join(', ')})` : 'tuple()';
  const partition = partitionBy ? ` PARTITION BY ${partitionBy}` : '';
  try {
    await client.command({
      query: `CREATE TABLE IF NOT EXISTS ${ident(table.name)} (${columns.join(', ')}) ENGINE = ${engine}${partition} ORDER BY ${order}`,
    });
    if (keyed) {
      const names = table.columns.map((c) => ident(c.name)).join(', ');
      await client.command({
        query: `CREATE VIEW IF NOT EXISTS ${ident(`${table.name}_latest`)} AS SELECT ${names} FROM ${ident(table.name)} FINAL WHERE _deleted = 0`,
      });
    }
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
