// Relations that are not topics: a subquery in FROM, a CREATE VIEW, a WITH query. Each is planned as a query of its
// own and read, by whatever selects from it, like a table whose columns are the query's; the columns that still carry
// event time (window_end of a window result is its time + 1 ms) are kept, so that joins and GROUP BYs over them can
// be planned on time. Also Flink's group-window functions (GROUP BY SESSION(ts, gap) with SESSION_START…).
import type { AstNode } from './parser.ts';
import { locationOf } from './parser.ts';
import type { SqlSource, TableDef } from './script.ts';

/** The planner's query type, seen from here (a QueryPlan). */
export interface DerivableQuery {
  outputs: {
    name: string;
    type: TableDef['columns'][number]['type'];
    at: number;
    timeOffset?: number;
    proctime?: boolean;
  }[];
}

/** A table over the rows of `query`, named `name` (its alias in FROM). */
export function derivedTable(query: DerivableQuery, name: string, at: number): TableDef {
  const times = new Map<string, number>();
  let proctime: string | undefined;
  for (const o of query.outputs) {
    if (o.timeOffset !== undefined && !times.has(o.name)) times.set(o.name, o.timeOffset);
    if (o.proctime) proctime = o.name;
  }
  const zero = [...times].find(([, offset]) => offset === 0)?.[0];
  return {
    name,
    columns: query.outputs.map((o) => ({ name: o.name, type: o.type, notNull: false, at: o.at })),
    ...(zero === undefined ? {} : { watermark: { column: zero, boundMs: 0, at } }),
    topic: '',
    partitions: 1,
    startup: 'earliest',
    allowedLatenessMs: 0,
    at,
    derived: { query, times, used: new Set(), ...(proctime === undefined ? {} : { proctime }) },
  };
}

/** The columns of a table that tell its rows' event time, each with its offset from that time. */
export function timesOf(table: TableDef): ReadonlyMap<string, number> {
  if (table.derived) return table.derived.times;
  return table.watermark ? new Map([[table.watermark.column, 0]]) : new Map();
}

/** The WITH queries of a SELECT node, by name, added to the views in scope. */
export function withQueries(node: AstNode, views: ReadonlyMap<string, AstNode>): Map<string, AstNode> {
  const entries = (node.cte_map as { map?: { key: string; value: { query: { node: AstNode } } }[] } | undefined)?.map;
  const scope = new Map(views);
  for (const entry of entries ?? []) scope.set(entry.key, entry.value.query.node);
  return scope;
}

const GROUP_WINDOWS = new Set(['tumble', 'hop', 'session']);
const AUXILIARY: Record<string, string> = { start: 'window_start', end: 'window_end', rowtime: 'window_time' };

/**
 * Flink's group-window syntax, `GROUP BY k, SESSION(ts, gap)` with `SESSION_START(ts, gap)` in SELECT (also
 * TUMBLE/HOP): the call found in GROUP BY (the TVF's arguments after the table), and the query rewritten to the
 * window TVF's form, `GROUP BY k, window_start, window_end` with window_start/window_end columns.
 */
export function groupWindow(
  source: SqlSource,
  node: AstNode,
  start: number,
): { name: string; args: AstNode[]; at: number; node: AstNode } | undefined {
  const groups = (node.group_expressions as AstNode[] | undefined) ?? [];
  const calls = groups.filter(
    (g) => g.class === 'FUNCTION' && GROUP_WINDOWS.has(String(g.function_name).toLowerCase()),
  );
  if (calls.length === 0) return undefined;
  const call = calls[0]!;
  const at = locationOf(call, start);
  if (calls.length > 1) throw source.error(locationOf(calls[1], start), 'a GROUP BY takes one group window');
  const name = String(call.function_name).toLowerCase();
  const column = (names: string[], loc: number): AstNode =>
    ({ class: 'COLUMN_REF', type: 'COLUMN_REF', alias: '', query_location: loc, column_names: names }) as AstNode;
  const rewrite = (n: unknown): unknown => {
    if (Array.isArray(n)) return n.map(rewrite);
    if (typeof n !== 'object' || n === null) return n;
    const a = n as AstNode;
    if (a.class === 'FUNCTION') {
      const fn = String(a.function_name).toLowerCase();
      const [prefix, suffix] = fn.split('_');
      if (prefix && suffix && GROUP_WINDOWS.has(prefix) && AUXILIARY[suffix]) {
        if (prefix !== name) {
          throw source.error(locationOf(a, at), `${fn.toUpperCase()} with GROUP BY ${name.toUpperCase()}(…)`);
        }
        return { ...column([AUXILIARY[suffix]!], locationOf(a, at)), alias: a.alias };
      }
    }
    return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, rewrite(v)]));
  };
  const rewritten = {
    ...node,
    select_list: rewrite(node.select_list),
    having: rewrite(node.having),
    group_expressions: [...groups.filter((g) => g !== call), column(['window_start'], at), column(['window_end'], at)],
  } as AstNode;
  return { name, args: call.children as AstNode[], at, node: rewritten };
}
