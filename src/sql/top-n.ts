// Window Top-N: ROW_NUMBER() OVER (PARTITION BY window_start, window_end[, keys] ORDER BY x DESC) over the rows of
// a window aggregation (a subquery or view whose partition columns tell its rows' time), as Flink's window Top-N:
// each window's rows of a key collected in a window of 1 ms at their time (closed by the watermark), sorted, and
// emitted with their row number; `WHERE rownum <= N` around it is a plain filter.
import { type Compiled, compile, type Scope } from './expressions.ts';
import { type AstNode, locationOf } from './parser.ts';
import type { OutputColumn, QueryPlan, RankPlan } from './plan.ts';
import type { SqlSource, TableDef } from './script.ts';
import type { Row, Value } from './types.ts';

/** Whether a SELECT list holds a ROW_NUMBER() OVER (…) (other window functions are planOver's). */
export function hasRowNumber(selectList: AstNode[]): boolean {
  return selectList.some((item) => item.class === 'WINDOW' && item.type === 'WINDOW_ROW_NUMBER');
}

/** Plans a window Top-N's inner query: the rows of `table` with their row number per window and key. */
export function planRowNumber(
  source: SqlSource,
  selectList: AstNode[],
  table: TableDef,
  input: Scope,
  where: Compiled | undefined,
  times: ReadonlyMap<string, number>,
  start: number,
  project: (item: AstNode, i: number, scope: Scope) => OutputColumn[],
): QueryPlan {
  const windows = selectList.filter((item) => item.class === 'WINDOW');
  const rank = windows[0]!;
  const at = locationOf(rank, start);
  if (windows.length > 1)
    throw source.unsupported(locationOf(windows[1], start), 'a second window function with ROW_NUMBER()');
  const partitions = (rank.partitions as AstNode[] | undefined) ?? [];
  const nameOf = (n: AstNode) => (n.class === 'COLUMN_REF' ? (n.column_names as string[]).at(-1)! : '');
  const timed = partitions.filter((p) => times.has(nameOf(p)));
  if (timed.length === 0) {
    throw source.unsupported(
      at,
      'ROW_NUMBER() not partitioned by the window (a Top-N over unbounded input)',
      'PARTITION BY window_start, window_end of a window aggregation: a window Top-N',
    );
  }
  const keys = partitions.filter((p) => !timed.includes(p)).map((p) => compile(p, input, start));
  const order = ((rank.orders as { type: string; expression: AstNode }[] | undefined) ?? []).map((o) => ({
    eval: compile(o.expression, input, start).eval,
    desc: o.type === 'DESCENDING' || o.type === 'ORDER_DESCENDING',
  }));
  if (order.length === 0) throw source.error(at, 'ROW_NUMBER() needs an ORDER BY');
  const current = { value: 0 };
  const outputs = selectList.flatMap((item, i) => {
    if (item !== rank) return project(item, i, input);
    const name = (item.alias as string) || `EXPR$${i}`;
    return [{ name, type: 'BIGINT' as const, eval: () => current.value, at: locationOf(item, start) }];
  });
  return {
    source: table,
    ...(where ? { where } : {}),
    window: { kind: 'tumbling', sizeMs: 1, slideMs: 1, offsetMs: 0, gapMs: 0 },
    keys,
    aggregates: [],
    outputs,
    updating: false,
    rank: { order, current },
  };
}

/** Sorts a window's rows by the ORDER BY (NULLs last). */
export function rankOrder(order: RankPlan['order']): (a: Row, b: Row) => number {
  return (a, b) => {
    for (const o of order) {
      const x = o.eval(a) as Value;
      const y = o.eval(b) as Value;
      if (x === y) continue;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * (o.desc ? -1 : 1);
    }
    return 0;
  };
}
