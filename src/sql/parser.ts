// Queries are parsed by DuckDB's own parser (json_serialize_sql), the parser the serving store already ships: a
// well-kept, complete SQL grammar, whose syntax tree (JSON) keeps each node's offset in the text. Only SELECT
// statements serialize; the script pre-pass (script.ts) handles DDL and INSERT INTO.
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { SqlSource } from './script.ts';

/** A node of DuckDB's serialized syntax tree (only the fields the planner reads are typed). */
export interface AstNode {
  class?: string;
  type: string;
  query_location?: number;
  alias?: string;
  [field: string]: unknown;
}

let connection: Promise<DuckDBConnection> | undefined;

/** One in-memory DuckDB per process, used for parsing only (no tables, no data). */
function parserConnection(): Promise<DuckDBConnection> {
  connection ??= DuckDBInstance.create(':memory:').then((instance) => instance.connect());
  return connection;
}

/** The offset of a node in the script, when DuckDB recorded one. */
export function locationOf(node: { query_location?: unknown } | undefined, fallback: number): number {
  const at = node?.query_location;
  return typeof at === 'number' && at < Number.MAX_SAFE_INTEGER ? at : fallback;
}

/**
 * Parses one SELECT (`text` is as long as the script up to its end, blanked before it, so offsets are the
 * script's) and returns its query node; a syntax error becomes INVALID_SQL at DuckDB's position.
 */
export async function parseSelect(source: SqlSource, text: string, start: number): Promise<AstNode> {
  const db = await parserConnection();
  const reader = await db.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR) AS ast', [text]);
  const serialized = reader.getRowObjects()[0]?.ast;
  const result = JSON.parse(String(serialized)) as {
    error: boolean;
    error_message?: string;
    position?: string;
    statements?: { node: AstNode }[];
  };
  if (result.error) {
    const at = result.position === undefined ? start : Number(result.position);
    const message = result.error_message ?? 'the query does not parse';
    if (message.startsWith('Only SELECT'))
      throw source.unsupported(start, 'this statement', 'write INSERT INTO t SELECT …');
    throw source.error(at, message);
  }
  const statements = result.statements ?? [];
  if (statements.length !== 1) throw source.error(start, `expected one query, got ${statements.length}`);
  return statements[0]!.node;
}
