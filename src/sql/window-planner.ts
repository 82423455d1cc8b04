// Planning windows: the window TVFs' arguments (TUMBLE, HOP, SESSION, CUMULATE) and OVER (PARTITION BY … ORDER BY ts
// RANGE|ROWS …) rolling aggregates.
import { type Compiled, compile, type Scope, structuralKey } from './expressions.ts';
import { type AstNode, locationOf } from './parser.ts';
import type { AggregateCall, QueryPlan, WindowSpec } from './plan.ts';
import { AGGREGATES, constantScope, planOutputs, registerAggregate, windowResultScope } from './scopes.ts';
import type { SqlSource, TableDef } from './script.ts';

/** TUMBLE(t, ts, size [, offset]), HOP(t, ts, slide, size [, offset]), SESSION(t, ts, gap): `args` after ts. */
export function windowSpec(
  source: SqlSource,
  name: string,
  table: TableDef,
  timeCol: AstNode | undefined,
  args: AstNode[],
  at: number,
): WindowSpec {
  const upper = name.toUpperCase();
  if (timeCol?.class !== 'COLUMN_REF') throw source.error(at, `${upper} takes the event-time column: DESCRIPTOR(ts)`);
  const column = (timeCol.column_names as string[]).at(-1)!;
  const colAt = locationOf(timeCol, at);
  const processingTime = table.derived?.proctime === column;
  if (!processingTime && !table.watermark) {
    const union = (table.derived?.query as QueryPlan | undefined)?.union;
    throw source.error(
      colAt,
      union
        ? `${table.name} has no event time: a UNION ALL's column is its event time when it is each SELECT's, at the ` +
            'same position'
        : `table ${table.name} has no event time: declare WATERMARK FOR ${column} AS ${column} - INTERVAL '5' SECOND`,
    );
  }
  if (!processingTime && table.watermark!.column !== column) {
    throw source.error(
      colAt,
      `${upper} must use the event-time column of ${table.name} (${table.watermark!.column}), not ${column}`,
    );
  }
  const interval = (arg: AstNode | undefined, what: string) => {
    if (!arg) throw source.error(at, `${upper} needs ${what}`);
    const c = compile(arg, constantScope(source), at);
    if (c.type !== 'INTERVAL' || !c.constant)
      throw source.error(locationOf(arg, at), `${what} must be an INTERVAL constant`);
    return c.eval({}) as number;
  };
  const pt = processingTime ? { processingTime: true } : {};
  if (name === 'session') {
    const gapMs = interval(args[0], 'a gap');
    if (args.length > 1) throw source.error(at, 'too many arguments to SESSION(TABLE t, DESCRIPTOR(ts), gap)');
    if (gapMs <= 0) throw source.error(at, `SESSION needs a positive gap, got ${gapMs} ms`);
    return { kind: 'session', sizeMs: 0, slideMs: 0, offsetMs: 0, gapMs, ...pt };
  }
  const window: WindowSpec =
    name === 'tumble'
      ? { kind: 'tumbling', sizeMs: interval(args[0], 'a size'), slideMs: 0, offsetMs: 0, gapMs: 0, ...pt }
      : {
          kind: name === 'cumulate' ? 'cumulate' : 'sliding',
          slideMs: interval(args[0], 'a slide'),
          sizeMs: interval(args[1], 'a size'),
          offsetMs: 0,
          gapMs: 0,
          ...pt,
        };
  if (name === 'tumble') window.slideMs = window.sizeMs;
  const offsetArg = args[name === 'tumble' ? 1 : 2];
  if (offsetArg) window.offsetMs = interval(offsetArg, 'an offset');
  if (args.length > (name === 'tumble' ? 2 : 3)) throw source.error(at, `too many arguments to ${upper}`);
  if (window.sizeMs <= 0 || window.slideMs <= 0 || window.slideMs > window.sizeMs) {
    throw source.error(at, `${upper} needs 0 < slide <= size (size ${window.sizeMs} ms, slide ${window.slideMs} ms)`);
  }
  if (processingTime && window.kind === 'session') throw source.unsupported(at, 'SESSION over processing time');
  if (window.kind === 'cumulate') {
    // CUMULATE(t, ts, step, size): windows growing by step up to size (cumulate.ts).
    if (window.sizeMs % window.slideMs !== 0) {
      throw source.error(
        at,
        `CUMULATE's size must be a multiple of its step (step ${window.slideMs} ms, size ${window.sizeMs} ms)`,
      );
    }
    if (processingTime) throw source.unsupported(at, 'CUMULATE over processing time');
  }
  return window;
}

export function containsOver(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(containsOver);
  if (typeof node !== 'object' || node === null) return false;
  if ((node as AstNode).class === 'WINDOW') return true;
  return Object.values(node).some(containsOver);
}

/** A query of OVER aggregates: one frame for all, ordered by event time, the PARTITION BY columns as keys. */
export function planOver(
  source: SqlSource,
  selectList: AstNode[],
  table: TableDef,
  input: Scope,
  where: Compiled | undefined,
  start: number,
): QueryPlan {
  let spec: { node: AstNode; key: string } | undefined;
  const frameOf = (node: AstNode) =>
    structuralKey({
      p: node.partitions,
      o: node.orders,
      s: node.start,
      e: node.end,
      se: node.start_expr,
      ee: node.end_expr,
    });
  const find = (node: unknown): void => {
    if (spec || typeof node !== 'object' || node === null) return;
    if ((node as AstNode).class === 'WINDOW') spec = { node: node as AstNode, key: frameOf(node as AstNode) };
    else for (const child of Object.values(node)) find(child);
  };
  find(selectList);
  const w = spec!.node;
  const at = locationOf(w, start);
  const orders = (w.orders as { type: string; expression: AstNode }[] | undefined) ?? [];
  const time = table.watermark?.column;
  const order = orders[0]?.expression;
  const orderColumn = order?.class === 'COLUMN_REF' ? (order.column_names as string[]).at(-1) : undefined;
  if (orders.length !== 1 || !time || orderColumn !== time || orders[0]!.type === 'ORDER_DESCENDING') {
    throw source.unsupported(
      at,
      'an OVER window not ordered by the event-time column',
      time
        ? `write OVER (PARTITION BY … ORDER BY ${time} RANGE BETWEEN INTERVAL … PRECEDING AND CURRENT ROW)`
        : `declare a WATERMARK on ${table.name}`,
    );
  }
  let over: QueryPlan['over'];
  const bound = w.start_expr as AstNode | undefined;
  const constant = bound ? compile(bound, constantScope(source), at) : undefined;
  if (w.start === 'EXPR_PRECEDING_RANGE' && w.end === 'CURRENT_ROW_RANGE' && constant?.type === 'INTERVAL') {
    over = { timeMs: constant.eval({}) as number };
  } else if (w.start === 'EXPR_PRECEDING_ROWS' && w.end === 'CURRENT_ROW_ROWS' && constant?.type === 'BIGINT') {
    over = { count: (constant.eval({}) as number) + 1 };
  } else {
    throw source.unsupported(
      at,
      `the OVER frame ${String(w.start)} … ${String(w.end)}`,
      'RANGE BETWEEN INTERVAL … PRECEDING AND CURRENT ROW and ROWS BETWEEN n PRECEDING AND CURRENT ROW are (an unbounded frame would keep every record)',
    );
  }
  const keyNodes = (w.partitions as AstNode[] | undefined) ?? [];
  const keys = keyNodes.map((k) => compile(k, input, start));
  const aggregates: AggregateCall[] = [];
  const grouped = windowResultScope(source, keyNodes, keys, aggregates, input, false);
  const aggregateIndex = new Map<string, number>();
  const result: Scope = {
    ...grouped,
    match(node, nodeAt) {
      if (node.class !== 'WINDOW') {
        const fn = node.class === 'FUNCTION' ? String(node.function_name).toLowerCase() : '';
        if (AGGREGATES.has(fn)) {
          throw source.error(nodeAt, `${fn}() needs OVER (…) here: a row per record has no group`);
        }
        return grouped.match?.(node, nodeAt);
      }
      if (frameOf(node) !== spec!.key) {
        throw source.unsupported(nodeAt, 'OVER aggregates with different windows in one query', 'give them one window');
      }
      const written = String(node.function_name).toLowerCase();
      const noArgs = ((node.children as unknown[] | undefined) ?? []).length === 0;
      const name = written === 'count' && noArgs ? 'count_star' : AGGREGATES.get(written);
      if (node.type !== 'WINDOW_AGGREGATE' || !name) {
        throw source.unsupported(nodeAt, `${written}() OVER (…)`, 'the aggregate functions are');
      }
      const call = {
        class: 'FUNCTION',
        type: 'FUNCTION',
        function_name: name,
        children: node.children,
        distinct: node.distinct,
        filter: node.filter_expr,
        order_bys: { orders: node.arg_orders },
      } as AstNode;
      return registerAggregate(source, call, name, input, nodeAt, aggregates, aggregateIndex);
    },
  };
  const outputs = planOutputs(source, selectList, keyNodes, result, table, start);
  return { source: table, where, keys, aggregates, outputs, updating: false, over };
}
