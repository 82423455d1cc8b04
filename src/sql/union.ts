// UNION ALL: `SELECT … UNION ALL SELECT …` (anywhere a query goes: INSERT INTO, a materialized view, a view, a WITH
// query, a subquery in FROM) is the DataStream API's union of its SELECTs' rows. Columns are matched by position and
// named by the first SELECT; their types must have a common type (BIGINT and DOUBLE: DOUBLE; NULL: any). A column is
// a time column of the union when it is one, with the same offset, in every SELECT (the engine's union keeps each
// record's timestamp, and its watermark is the minimum of its inputs'). UNION (distinct), INTERSECT and EXCEPT are
// refused with the position of their keyword.
import { fieldReader } from './codegen.ts';
import { type AstNode, locationOf } from './parser.ts';
import type { OutputColumn, QueryPlan, Tables } from './plan.ts';
import { withQueries } from './relations.ts';
import type { SqlSource } from './script.ts';
import { commonType } from './types.ts';

/** Plans a SET_OPERATION_NODE; `planSelect` plans one of its SELECTs (the planner's planQuery). */
export function planUnion(
  source: SqlSource,
  node: AstNode,
  tables: Tables,
  start: number,
  planSelect: (node: AstNode, tables: Tables) => QueryPlan,
): QueryPlan {
  const branches: QueryPlan[] = [];
  const collect = (n: AstNode, scope: Tables): void => {
    const ctes = (n.cte_map as { map?: unknown[] } | undefined)?.map ?? [];
    if (ctes.length > 0) scope = Object.assign(new Map(scope), { views: withQueries(n, scope.views ?? new Map()) });
    if (n.type !== 'SET_OPERATION_NODE') {
      branches.push(planSelect(n, scope));
      return;
    }
    const at = keywordAt(source, n, start);
    const setop = String(n.setop_type);
    if (setop !== 'UNION' || n.setop_all !== true) {
      const what = setop === 'UNION' ? 'UNION (distinct)' : setop === 'UNION_BY_NAME' ? 'UNION BY NAME' : setop;
      throw source.unsupported(
        at,
        what,
        setop === 'UNION' ? 'UNION ALL is (a distinct UNION would keep every row seen)' : 'UNION ALL is',
      );
    }
    for (const modifier of (n.modifiers as AstNode[] | undefined) ?? []) {
      const name = { ORDER_MODIFIER: 'ORDER BY', LIMIT_MODIFIER: 'LIMIT', DISTINCT_MODIFIER: 'DISTINCT' }[
        modifier.type
      ];
      throw source.unsupported(at, `${name ?? modifier.type} on a UNION ALL`, 'a stream has no end to order or limit');
    }
    collect(n.left as AstNode, scope);
    collect(n.right as AstNode, scope);
  };
  collect(node, tables);

  const first = branches[0]!;
  const names = first.outputs.map((o) => o.name);
  const seen = new Set<string>();
  for (const o of first.outputs) {
    if (seen.has(o.name)) throw source.error(o.at, `column ${o.name} appears twice in a UNION ALL: alias one`);
    seen.add(o.name);
  }
  for (const [b, branch] of branches.entries()) {
    const at = branch.outputs[0]?.at ?? start;
    if (branch.updating) {
      throw source.unsupported(
        at,
        'UNION ALL of an updating relation (a GROUP BY without a window)',
        'unite the inputs and aggregate the union',
      );
    }
    if (branch.outputs.length !== names.length) {
      throw source.error(
        at,
        `each SELECT of a UNION ALL must have the same number of columns: the first has ${names.length}, ` +
          `SELECT ${b + 1} has ${branch.outputs.length}`,
      );
    }
  }
  const outputs: OutputColumn[] = names.map((name, i) => {
    const columns = branches.map((b) => b.outputs[i]!);
    const type = commonType(columns.map((c) => c.type));
    if (type === undefined) {
      const other = columns.findIndex((c) => commonType([columns[0]!.type, c.type]) === undefined);
      throw source.error(
        columns[other]!.at,
        `column ${i + 1} of the UNION ALL (${name}) is ${columns[0]!.type} in the first SELECT and ` +
          `${columns[other]!.type} in SELECT ${other + 1}: CAST one`,
      );
    }
    const offset = columns[0]!.timeOffset;
    const time = offset !== undefined && columns.every((c) => c.timeOffset === offset);
    const proctime = columns.every((c) => c.proctime === true);
    return {
      name,
      type,
      eval: fieldReader(name),
      at: columns[0]!.at,
      ...(time ? { timeOffset: offset } : {}),
      ...(proctime ? { proctime } : {}),
    };
  });
  return {
    source: first.source,
    keys: [],
    aggregates: [],
    outputs,
    updating: false,
    union: { queries: branches, columns: names },
  };
}

/** The offset of the set operation's keyword (UNION, INTERSECT, EXCEPT): the last one before its right side. */
function keywordAt(source: SqlSource, node: AstNode, start: number): number {
  const right = firstLocation(node.right) ?? start;
  const before = source.text.slice(0, right);
  let at = start;
  for (const match of before.matchAll(/\b(UNION|INTERSECT|EXCEPT)\b/gi)) at = match.index;
  return Math.max(at, start);
}

/** The smallest query_location in a syntax tree. */
function firstLocation(node: unknown): number | undefined {
  if (typeof node !== 'object' || node === null) return undefined;
  let min: number | undefined;
  const own = locationOf(node as AstNode, Number.MAX_SAFE_INTEGER);
  if (own < Number.MAX_SAFE_INTEGER) min = own;
  for (const value of Object.values(node)) {
    const inner = firstLocation(value);
    if (inner !== undefined && (min === undefined || inner < min)) min = inner;
  }
  return min;
}
