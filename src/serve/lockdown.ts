// Opens the serving store's DuckDB database locked down: no file or network access from SQL
// (enable_external_access=false also blocks COPY, ATTACH, INSTALL and LOAD), no extension autoloading, and its
// configuration locked so that SET cannot undo it. Returns the writer connection and the readers' pool.
import fs from 'node:fs';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

export interface OpenedDatabase {
  instance: DuckDBInstance;
  writer: DuckDBConnection;
  readers: DuckDBConnection[];
}

/** Opens `<dir>/serving.duckdb` (or an in-memory database for `:memory:`) with a writer and `readers` readers. */
export async function openLockedDatabase(dir: string, readers: number): Promise<OpenedDatabase> {
  let file = ':memory:';
  if (dir !== ':memory:') {
    fs.mkdirSync(dir, { recursive: true });
    file = path.join(dir, 'serving.duckdb');
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
  const connections: DuckDBConnection[] = [];
  for (let i = 0; i < readers; i++) connections.push(await instance.connect());
  return { instance, writer, readers: connections };
}
