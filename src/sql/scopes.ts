// The scopes a query's expressions are compiled in — a table's row, a join's `{ l, r }`, an aggregation's result row
// `{ k, a, ws, we }`, constants — and the aggregate calls and SELECT lists planned over them.
import { fieldReader } from './codegen.ts';
import { type Compiled, compile, type Scope, structuralKey } from './expressions.ts';
import { type AstNode, locationOf } from './parser.ts';
import type { AggregateCall, AggregateFunction, OutputColumn } from './plan.ts';
import type { SqlSource, TableDef } from './script.ts';
import { isNumeric } from './types.ts';

/** The aggregate functions planned (DuckDB's names; Flink's APPROX_COUNT_DISTINCT, Spark's PERCENTILE_APPROX too). */
export const AGGREGATES = new Map<string, AggregateFunction>([
  ['count_star', 'count_star'],
  ['count', 'count'],
  ['sum', 'sum'],
  ['min', 'min'],
  ['max', 'max'],
  ['avg', 'avg'],
  ['approx_count_distinct', 'approx_count_distinct'],
  ['approx_quantile', 'approx_quantile'],
  ['percentile_approx', 'approx_quantile'],
]);

const WINDOW_COLUMNS = new Set(['window_start', 'window_end', 'window_time', 'window_kind']);

/** The conjunction of conditions: TRUE when each is TRUE (a row is kept only then). */
export function and(conditions: Compiled[]): Compiled | undefined {
  if (conditions.length === 0) return undefined;
  if (conditions.length === 1) return conditions[0];
  const fs = conditions.map((c) => c.eval);
  return {
    type: 'BOOLEAN',
    eval: (row) => {
      for (let i = 0; i < fs.length; i++) if (fs[i]!(row) !== true) return null;
      return true;
    },
  };
}

/** The SELECT list of an aggregation, each column with its role (window_start, window_end, a GROUP BY key). */
export function planOutputs(
  source: SqlSource,
  selectList: AstNode[],
  keyNodes: AstNode[],
  result: Scope,
  table: TableDef,
  start: number,
): OutputColumn[] {
  const keyIndex = new Map(keyNodes.map((k, i) => [structuralKey(k), i]));
  const roleOf = (item: AstNode): OutputColumn['role'] => {
    if (item.class === 'COLUMN_REF') {
      const name = (item.column_names as string[]).at(-1)!;
      if (name === 'window_start' || name === 'window_end') return name;
      const byName = keyNodes.findIndex(
        (k) => k.class === 'COLUMN_REF' && (k.column_names as string[]).at(-1) === name,
      );
      if (byName >= 0) return byName;
    }
    return keyIndex.get(structuralKey(item));
  };
  return selectList.flatMap((item, i) => {
    if (item.class === 'STAR')
      throw source.error(locationOf(item, start), 'SELECT * in an aggregation: name the columns');
    return project(source, item, i, result, table, start).map((o) => ({ ...o, role: roleOf(item) }));
  });
}

export function constantScope(source: SqlSource): Scope {
  return {
    source,
    column: (names, at) => {
      throw source.error(at, `expected a constant, got column ${names.join('.')}`);
    },
    aggregateError: (name, at) => source.error(at, `expected a constant, got ${name}()`),
  };
}

/** Columns of the source table; window columns exist only after the aggregation. */
export function inputScope(source: SqlSource, table: TableDef, alias: string | undefined, windowed: boolean): Scope {
  return {
    source,
    column(names, at) {
      const [qualifier, name] = names.length === 2 ? names : [undefined, names[0]!];
      if (names.length > 2 || (qualifier !== undefined && qualifier !== table.name && qualifier !== alias)) {
        throw source.error(at, `unknown column ${names.join('.')}`);
      }
      const column =
        table.columns.find((c) => c.name === name) ??
        table.columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
      if (!column) {
        if (windowed && WINDOW_COLUMNS.has(name)) {
          throw source.unsupported(at, `${name} outside the SELECT, GROUP BY and HAVING of the window aggregation`);
        }
        throw source.error(
          at,
          `unknown column "${name}" (table ${table.name} has ${table.columns.map((c) => c.name).join(', ')})`,
        );
      }
      table.derived?.used.add(column.name);
      return { type: column.type, eval: fieldReader(column.name) };
    },
    aggregateError: (name, at) =>
      windowed
        ? source.error(at, `${name}() is not allowed here (in WHERE, a GROUP BY key or another aggregate)`)
        : source.unsupported(
            at,
            `the aggregate ${name}() without a window TVF (an updating result)`,
            'aggregate FROM TUMBLE(…) or HOP(…) with GROUP BY window_start, window_end',
          ),
  };
}

/** After a window aggregation: the GROUP BY keys, the aggregates (registered as they are met) and the window. */
export function windowResultScope(
  source: SqlSource,
  keyNodes: AstNode[],
  keys: Compiled[],
  aggregates: AggregateCall[],
  input: Scope,
  windowed: boolean,
  /** The aggregates' signatures, in the order of `aggregates` (filled as they are met). */
  aggregateIndex = new Map<string, number>(),
): Scope {
  const keyIndex = new Map(keyNodes.map((k, i) => [structuralKey(k), i]));
  const keyColumn = (name: string) =>
    keyNodes.findIndex((k) => k.class === 'COLUMN_REF' && (k.column_names as string[]).at(-1) === name);
  return {
    source,
    match(node, at) {
      const k = keyIndex.get(structuralKey(node));
      if (k !== undefined) return { type: keys[k]!.type, eval: (r) => r.k[k] };
      if (node.class !== 'FUNCTION') return undefined;
      const name = AGGREGATES.get(String(node.function_name).toLowerCase());
      if (!name) return undefined;
      return registerAggregate(source, node, name, input, at, aggregates, aggregateIndex);
    },
    column(names, at) {
      const name = names.at(-1)!;
      const k = keyColumn(name);
      if (k >= 0) return { type: keys[k]!.type, eval: (r) => r.k[k] };
      if (!windowed) {
        input.column(names, at); // unknown columns are named as such
        throw source.error(at, `column "${name}" must be in the GROUP BY or inside an aggregate`);
      }
      if (name === 'window_start') return { type: 'TIMESTAMP', eval: (r) => r.ws };
      if (name === 'window_end') return { type: 'TIMESTAMP', eval: (r) => r.we };
      if (name === 'window_time') return { type: 'TIMESTAMP', eval: (r) => r.we - 1 };
      // Ours: 'insert' for a window's first result, 'update' for a late record's (allowed.lateness), 'delete' for
      // a session merged into another.
      if (name === 'window_kind') return { type: 'VARCHAR', eval: (r) => r.kind };
      input.column(names, at); // unknown columns are named as such
      throw source.error(at, `column "${name}" must be in the GROUP BY or inside an aggregate`);
    },
    aggregateError: (name, at) => source.error(at, `${name}() cannot be used here`),
  };
}

/** An aggregate call of the query, planned once however often it is written: its value in the result row. */
export function registerAggregate(
  source: SqlSource,
  node: AstNode,
  fn: AggregateFunction,
  input: Scope,
  at: number,
  aggregates: AggregateCall[],
  aggregateIndex: Map<string, number>,
): Compiled {
  const signature = structuralKey(node);
  let index = aggregateIndex.get(signature);
  if (index === undefined) {
    aggregates.push(planAggregate(source, node, fn, input, at));
    index = aggregates.length - 1;
    aggregateIndex.set(signature, index);
  }
  const i = index;
  return { type: aggregates[i]!.type, eval: (r) => r.a[i] };
}

function planAggregate(
  source: SqlSource,
  node: AstNode,
  fn: AggregateFunction,
  input: Scope,
  at: number,
): AggregateCall {
  const call = planCall(source, node, fn, input, at);
  if (!node.filter) return call;
  // FILTER (WHERE cond): the aggregate takes a record only when cond is TRUE. Every aggregate skips NULLs, so this is
  // the standard's agg(CASE WHEN cond THEN x END) (count(*): count(CASE WHEN cond THEN 1 END)): the argument is NULL
  // where cond is not TRUE. Whatever reads an aggregate's argument — the accumulators, a retraction taking a
  // replaced row out, the extremum pruning — sees the filtered values, so FILTER holds there too.
  const filter = node.filter as AstNode;
  const cond = compile(filter, input, at);
  if (cond.type !== 'BOOLEAN' && cond.type !== 'NULL') {
    throw source.error(locationOf(filter, at), `FILTER (WHERE …) needs a BOOLEAN condition, got ${cond.type}`);
  }
  const test = cond.eval;
  if (call.fn === 'count_star') {
    const counted: Compiled = { type: 'BIGINT', eval: (row) => (test(row) === true ? 1 : null) };
    return { ...call, fn: 'count', arg: counted, filter: { cond, key: structuralKey(filter), arg: undefined } };
  }
  const value = call.arg!.eval;
  const arg: Compiled = { type: call.arg!.type, eval: (row) => (test(row) === true ? value(row) : null) };
  return { ...call, arg, filter: { cond, key: structuralKey(filter), arg: call.arg! } };
}

function planCall(source: SqlSource, node: AstNode, fn: AggregateFunction, input: Scope, at: number): AggregateCall {
  const orders = (node.order_bys as { orders?: unknown[] } | undefined)?.orders ?? [];
  if (orders.length > 0) throw source.unsupported(at, `ORDER BY inside ${fn}()`);
  const args = node.children as AstNode[];
  const distinct = node.distinct === true;
  if (fn === 'count_star') return { fn, distinct: false, type: 'BIGINT' };
  if (fn === 'approx_quantile') {
    if (args.length !== 2) throw source.error(at, `${fn}() takes a value and a quantile, got ${args.length} arguments`);
    const arg = compile(args[0]!, input, at);
    if (!isNumeric(arg.type)) throw source.error(at, `${fn}() takes a number, got ${arg.type}`);
    const q = compile(args[1]!, constantScope(source), at);
    const quantile = q.constant ? Number(q.eval({})) : Number.NaN;
    if (!(quantile >= 0 && quantile <= 1)) {
      throw source.error(locationOf(args[1], at), `${fn}()'s quantile must be a constant in [0, 1]`);
    }
    if (distinct) throw source.unsupported(at, `${fn}(DISTINCT …)`);
    return { fn, distinct: false, arg, quantile, type: 'DOUBLE' };
  }
  if (args.length !== 1) throw source.error(at, `${fn}() takes one argument, got ${args.length}`);
  const arg = compile(args[0]!, input, at);
  if (distinct && fn !== 'count' && fn !== 'min' && fn !== 'max') throw source.unsupported(at, `${fn}(DISTINCT …)`);
  switch (fn) {
    case 'count':
    case 'approx_count_distinct':
      return { fn, distinct, arg, type: 'BIGINT' };
    case 'sum':
    case 'avg':
      if (!isNumeric(arg.type)) throw source.error(at, `${fn}() takes a number, got ${arg.type}`);
      return { fn, distinct, arg, type: fn === 'avg' ? 'DOUBLE' : arg.type === 'NULL' ? 'BIGINT' : arg.type };
    default:
      if (arg.type === 'BOOLEAN' || arg.type === 'INTERVAL')
        throw source.error(at, `${fn}() does not take ${arg.type}`);
      return { fn, distinct: false, arg, type: arg.type };
  }
}

export function predicate(source: SqlSource, node: AstNode, scope: Scope, start: number, clause: string): Compiled {
  const compiled = compile(node, scope, start);
  if (compiled.type !== 'BOOLEAN' && compiled.type !== 'NULL') {
    throw source.error(locationOf(node, start), `${clause} needs a BOOLEAN condition, got ${compiled.type}`);
  }
  return compiled;
}

export function project(
  source: SqlSource,
  item: AstNode,
  i: number,
  scope: Scope,
  table: TableDef,
  start: number,
  times: ReadonlyMap<string, number> = new Map(),
): OutputColumn[] {
  const at = locationOf(item, start);
  if (item.class === 'STAR') {
    if (item.columns || ((item.exclude_list as unknown[] | undefined) ?? []).length > 0) {
      throw source.unsupported(at, 'COLUMNS(…) or * EXCLUDE');
    }
    return table.columns.map((c) => {
      const offset = times.get(c.name);
      return {
        name: c.name,
        at,
        ...scope.column([c.name], at),
        ...(offset === undefined ? {} : { timeOffset: offset }),
      };
    });
  }
  const marks: Partial<OutputColumn> = {};
  if (item.class === 'COLUMN_REF') {
    const offset = times.get((item.column_names as string[]).at(-1)!);
    if (offset !== undefined) marks.timeOffset = offset;
  }
  if (item.class === 'FUNCTION' && String(item.function_name).toLowerCase() === 'proctime') marks.proctime = true;
  const compiled = compile(item, scope, start);
  if (compiled.type === 'INTERVAL') throw source.error(at, 'an INTERVAL cannot be a result column');
  const name =
    (item.alias as string) || (item.class === 'COLUMN_REF' ? (item.column_names as string[]).at(-1)! : `EXPR$${i}`);
  return [{ name, type: compiled.type, eval: compiled.eval, at, ...marks }];
}
