// The serving store's own bookkeeping, kept in the database beside the tables it describes: table definitions
// (_sluice_tables), hybrid batch ranges (_sluice_batch_ranges) and version aliases (_sluice_aliases).
import type { DuckDBConnection } from '@duckdb/node-api';
import type { TableDefinition, TimeRange } from '../contracts/index.ts';

export interface Catalog {
  tables: Map<string, TableDefinition>;
  /** Start (epoch ms) of every time partition of each partitioned table. */
  partitions: Map<string, Set<number>>;
  batchRanges: Map<string, TimeRange>;
  aliases: Map<string, string>;
}

/** Creates the bookkeeping tables if missing and reads them (and the time partitions that exist) back. */
export async function loadCatalog(writer: DuckDBConnection): Promise<Catalog> {
  const catalog: Catalog = { tables: new Map(), partitions: new Map(), batchRanges: new Map(), aliases: new Map() };
  await writer.run('CREATE TABLE IF NOT EXISTS _sluice_tables (name VARCHAR PRIMARY KEY, definition VARCHAR NOT NULL)');
  const known = await writer.runAndReadAll('SELECT definition FROM _sluice_tables');
  for (const [definition] of known.getRowsJson()) {
    const table = JSON.parse(definition as string) as TableDefinition;
    catalog.tables.set(table.name, table);
    if (table.retention) catalog.partitions.set(table.name, new Set());
  }
  const physical = await writer.runAndReadAll("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'");
  for (const [name] of physical.getRowsJson()) {
    const match = /^(.+)\$p(-?\d+)$/.exec(name as string);
    if (match) catalog.partitions.get(match[1]!)?.add(Number(match[2]));
  }
  await writer.run(
    'CREATE TABLE IF NOT EXISTS _sluice_batch_ranges (name VARCHAR PRIMARY KEY, range_from BIGINT NOT NULL, range_to BIGINT NOT NULL)',
  );
  const ranges = await writer.runAndReadAll('SELECT name, range_from, range_to FROM _sluice_batch_ranges');
  for (const [name, from, to] of ranges.getRowsJson()) {
    catalog.batchRanges.set(name as string, { from: Number(from), to: Number(to) });
  }
  await writer.run('CREATE TABLE IF NOT EXISTS _sluice_aliases (name VARCHAR PRIMARY KEY, target VARCHAR NOT NULL)');
  const aliases = await writer.runAndReadAll('SELECT name, target FROM _sluice_aliases');
  for (const [name, target] of aliases.getRowsJson()) catalog.aliases.set(name as string, target as string);
  return catalog;
}
