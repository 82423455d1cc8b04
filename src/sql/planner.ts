// Planning a script: CREATE TABLE declares the tables (sources and sinks over topics), each INSERT INTO becomes a
// query plan — a source, WHERE, an optional window TVF with its GROUP BY keys and aggregates, HAVING, and the
// projection — type-checked against the declared columns. Constructs the engine does not run yet are refused here,
// with their name and position, before anything is built.
import { type Compiled, compile, type Scope, structuralKey } from './expressions.ts';
import { type AstNode, locationOf, parseSelect } from './parser.ts';
import {
  blankFlinkTableSyntax,
  type ColumnDef,
  isWord,
  parseCreateTable,
  parseMaterializedView,
  SqlSource,
  type Statement,
  splitStatements,
  type TableDef,
  type ViewDef,
} from './script.ts';
import { assignable, isNumeric, type SqlType } from './types.ts';

export type AggregateFunction =
  | 'count_star'
  | 'count'
  | 'sum'
  | 'min'
  | 'max'
  | 'avg'
  | 'approx_count_distinct'
  | 'approx_quantile';

/** The aggregate functions planned (DuckDB's names; Flink's APPROX_COUNT_DISTINCT, Spark's PERCENTILE_APPROX too). */
const AGGREGATES = new Map<string, AggregateFunction>([
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

export interface AggregateCall {
  fn: AggregateFunction;
  distinct: boolean;
  /** The argument, over the source row (none for count(*)). */
  arg?: Compiled;
  /** approx_quantile's quantile, in [0, 1]. */
  quantile?: number;
  type: SqlType;
}

export interface WindowSpec {
  kind: 'tumbling' | 'sliding' | 'session';
  /** Tumbling and sliding windows. */
  sizeMs: number;
  slideMs: number;
  offsetMs: number;
  /** Session windows: the gap of inactivity that closes a session. */
  gapMs: number;
}

export interface OutputColumn {
  name: string;
  type: SqlType;
  eval: Compiled['eval'];
  at: number;
  /** In a window aggregation: the column is window_start, window_end, or the GROUP BY key of this index. */
  role?: 'window_start' | 'window_end' | number;
}

/** One query: source → WHERE → [window GROUP BY keys, aggregates → HAVING] → projection. */
export interface QueryPlan {
  source: TableDef;
  where?: Compiled;
  window?: WindowSpec;
  /** GROUP BY keys other than window_start/window_end, over the source row. */
  keys: Compiled[];
  aggregates: AggregateCall[];
  /** Over the window result row (`{ k: keys, a: aggregates, ws, we }`). */
  having?: Compiled;
  /** Over the source row, or the aggregation's result row (`{ k, a, ws, we, kind }`) when there is one. */
  outputs: OutputColumn[];
  /** A GROUP BY without a window: an updating result, each key's row re-emitted with every record of the key. */
  updating: boolean;
  /** OVER (PARTITION BY keys ORDER BY ts RANGE|ROWS BETWEEN … PRECEDING AND CURRENT ROW): a rolling aggregate per
   * key over the last `timeMs` of event time or the last `count` records, a row per record. */
  over?: { timeMs: number } | { count: number };
  /** An interval join of `source` (left) with another table: rows `{ l, r }` then go through WHERE and SELECT. */
  join?: JoinPlan;
}

/** `FROM l JOIN r ON l.k = r.k AND r.ts BETWEEN l.ts - INTERVAL … AND l.ts + INTERVAL …`: intervalJoin. */
export interface JoinPlan {
  right: TableDef;
  /** Equal keys, each side over its own row. */
  leftKeys: Compiled[];
  rightKeys: Compiled[];
  /** r.ts − l.ts lies within [lowerMs, upperMs] (inclusive). */
  lowerMs: number;
  upperMs: number;
}

export interface InsertPlan {
  sink: TableDef;
  query: QueryPlan;
  at: number;
}

/** CREATE MATERIALIZED VIEW: the query's rows kept in a serving table (served, queryable), keyed or appended. */
export interface ViewPlan {
  view: ViewDef;
  query: QueryPlan;
  /** The serving table's columns: the query's, by name. */
  columns: { name: string; type: SqlType }[];
  /** The serving table's primary key: window_start and the GROUP BY keys for a window aggregation, or `'key'`;
   * none (an append table) for a query without a window and without `'key'`. */
  key: string[];
  at: number;
}

export interface ScriptPlan {
  tables: Map<string, TableDef>;
  inserts: InsertPlan[];
  views: ViewPlan[];
  /** Bare SELECTs, planned only for sqlStream (which returns their rows as a DataStream). */
  selects: QueryPlan[];
  /** The script's text, for errors raised after planning (a view without a serving store). */
  source: SqlSource;
  /** The script asked for its plan (`EXPLAIN INSERT INTO …`) rather than a run. */
  explain: boolean;
}

export interface PlanOptions {
  /** Plan bare SELECT statements (sqlStream); otherwise they are refused, as they have no sink. */
  selects?: boolean;
}

/** Plans a whole script; every error is INVALID_SQL or UNSUPPORTED_SQL naming a line and column. */
export async function planScript(text: string, options: PlanOptions = {}): Promise<ScriptPlan> {
  const source = new SqlSource(text);
  const plan: ScriptPlan = { tables: new Map(), inserts: [], views: [], selects: [], source, explain: false };
  for (const statement of splitStatements(source)) {
    let tokens = statement.tokens;
    if (isWord(tokens[0], 'EXPLAIN')) {
      plan.explain = true;
      tokens = tokens.slice(1);
      if (isWord(tokens[0], 'PLAN') && isWord(tokens[1], 'FOR')) tokens = tokens.slice(2);
    }
    const first = tokens[0];
    if (!first) throw source.error(statement.start, 'EXPLAIN of nothing');
    const rest: Statement = { tokens, start: first.start, end: statement.end };
    if (isWord(first, 'CREATE') && isWord(tokens[1], 'TABLE')) {
      const table = parseCreateTable(source, rest);
      if (plan.tables.has(table.name)) throw source.error(table.at, `table ${table.name} is declared twice`);
      plan.tables.set(table.name, table);
    } else if (isWord(first, 'INSERT')) {
      plan.inserts.push(await planInsert(source, rest, plan.tables));
    } else if (isWord(first, 'CREATE') && isWord(tokens[1], 'MATERIALIZED')) {
      const view = await planView(source, rest, plan.tables);
      if (plan.views.some((v) => v.view.name === view.view.name)) {
        throw source.error(view.at, `materialized view ${view.view.name} is declared twice`);
      }
      plan.views.push(view);
    } else if (options.selects && isWord(first, 'SELECT')) {
      plan.selects.push(await planSelect(source, first.start, statement.end, plan.tables));
    } else if (isWord(first, 'SELECT', 'WITH')) {
      throw source.unsupported(
        first.start,
        'a query without INSERT INTO',
        'write INSERT INTO <table> SELECT … to give it a sink',
      );
    } else if (isWord(first, 'CREATE')) {
      throw source.unsupported(
        first.start,
        `CREATE ${tokens[1]?.value.toUpperCase() ?? ''}`.trim(),
        'CREATE TABLE and CREATE MATERIALIZED VIEW are',
      );
    } else {
      throw source.unsupported(first.start, `the statement ${first.value.toUpperCase()}`);
    }
  }
  if (plan.inserts.length === 0 && plan.views.length === 0 && plan.selects.length === 0) {
    throw source.error(
      text.length,
      'the script has no INSERT INTO or CREATE MATERIALIZED VIEW statement: a pipeline needs at least one sink',
    );
  }
  checkLateTopics(source, plan);
  return plan;
}

/** A table's late records come out of the one window aggregation over it: two would write them twice. */
function checkLateTopics(source: SqlSource, plan: ScriptPlan): void {
  const windowed = new Map<TableDef, number>();
  const selects = plan.selects.map((query) => ({ query, at: query.outputs[0]?.at ?? 0 }));
  for (const { query, at } of [...plan.inserts, ...plan.views, ...selects]) {
    if (!(query.window || query.over) || query.source.lateTopic === undefined) continue;
    if (windowed.has(query.source)) {
      throw source.unsupported(
        at,
        `a second window aggregation over ${query.source.name}, whose late records go to '${query.source.lateTopic}'`,
        'each would write them; write the results of one query to several places with a materialized view ' +
          "WITH ('topic' = …), or drop 'late.topic'",
      );
    }
    windowed.set(query.source, at);
  }
}

/** Plans the SELECT that starts at `start` in the statement. */
async function planSelect(
  source: SqlSource,
  start: number,
  end: number,
  tables: Map<string, TableDef>,
): Promise<QueryPlan> {
  const { text, partitionBy } = blankFlinkTableSyntax(source, start, end);
  const ast = await parseSelect(source, text, start);
  return planQuery(source, ast, tables, start, partitionBy);
}

const SERVING_TYPES: Record<SqlType, string | undefined> = {
  BIGINT: 'BIGINT',
  DOUBLE: 'DOUBLE',
  VARCHAR: 'VARCHAR',
  BOOLEAN: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMP',
  INTERVAL: undefined,
  NULL: undefined,
};

async function planView(source: SqlSource, statement: Statement, tables: Map<string, TableDef>): Promise<ViewPlan> {
  const { view, query: first } = parseMaterializedView(source, statement);
  const query = await planSelect(source, first.start, statement.end, tables);
  const seen = new Set<string>();
  const columns = query.outputs.map((output) => {
    if (/^EXPR\$\d+$/.test(output.name)) {
      throw source.error(output.at, `a materialized view's columns need names: write the expression AS name`);
    }
    if (seen.has(output.name.toLowerCase())) {
      throw source.error(output.at, `materialized view ${view.name} has two columns named "${output.name}"`);
    }
    seen.add(output.name.toLowerCase());
    if (!SERVING_TYPES[output.type]) {
      throw source.error(output.at, `column ${output.name} is ${output.type}, which a table cannot hold: CAST it`);
    }
    return { name: output.name, type: output.type };
  });
  let key: string[] = [];
  if (view.key) {
    for (const [i, column] of view.key.columns.entries()) {
      if (!columns.some((c) => c.name === column)) {
        throw source.error(
          view.key.at,
          `option 'key' names "${column}" (${i + 1}), not a column of the view (${columns.map((c) => c.name).join(', ')})`,
        );
      }
    }
    key = view.key.columns;
  } else if (query.updating) {
    // A regular GROUP BY's row is identified by its keys: each update replaces it.
    const missing = query.keys.findIndex((_, i) => !query.outputs.some((o) => o.role === i));
    if (missing >= 0) {
      throw source.error(
        first.start,
        `a materialized view of a GROUP BY is keyed by the GROUP BY keys: select GROUP BY key ${missing + 1} too, ` +
          `or give WITH ('key' = 'column,…')`,
      );
    }
    key = query.keys.map((_, i) => query.outputs.find((o) => o.role === i)!.name);
  } else if (query.window) {
    // A window's row is identified by its start and its GROUP BY keys: a late update replaces it.
    const start = query.outputs.find((o) => o.role === 'window_start');
    const missing = start ? query.keys.findIndex((_, i) => !query.outputs.some((o) => o.role === i)) : -1;
    if (!start || missing >= 0) {
      throw source.error(
        first.start,
        `a materialized view of a window aggregation is keyed by window_start and the GROUP BY keys: select ` +
          `${start ? `GROUP BY key ${missing + 1}` : 'window_start'} too, or give WITH ('key' = 'column,…')`,
      );
    }
    key = [start.name, ...query.keys.map((_, i) => query.outputs.find((o) => o.role === i)!.name)];
  }
  const retention = view.retention;
  if (retention) {
    const column = columns.find((c) => c.name === retention.column);
    if (!retention.column || !retention.keepMs) {
      throw source.error(retention.at, `a view's retention needs both 'retention' and 'retention.column'`);
    }
    if (column?.type !== 'TIMESTAMP' && column?.type !== 'BIGINT') {
      throw source.error(
        retention.at,
        `'retention.column' must name a TIMESTAMP column of the view, got "${retention.column}"`,
      );
    }
  }
  if (view.topicKey && !columns.some((c) => c.name === view.topicKey!.column)) {
    throw source.error(view.topicKey.at, `option 'topic.key' names unknown column "${view.topicKey.column}"`);
  }
  return { view, query, columns, key, at: view.at };
}

async function planInsert(source: SqlSource, statement: Statement, tables: Map<string, TableDef>): Promise<InsertPlan> {
  const [, into, name, next] = statement.tokens;
  if (!isWord(into, 'INTO')) throw source.error(into?.start ?? statement.end, 'expected INSERT INTO <table>');
  if (!name || (name.kind !== 'word' && name.kind !== 'quoted')) {
    throw source.error(name?.start ?? statement.end, 'expected the name of a table after INSERT INTO');
  }
  const sink = tables.get(name.value);
  if (!sink) throw source.error(name.start, `unknown table ${name.value}: declare it with CREATE TABLE first`);
  if (!next) throw source.error(statement.end, `expected a query after INSERT INTO ${name.value}`);
  if (next.kind === 'symbol' && next.value === '(')
    throw source.unsupported(next.start, 'a column list in INSERT INTO');
  if (isWord(next, 'VALUES')) throw source.unsupported(next.start, 'INSERT INTO … VALUES');
  const query = await planSelect(source, next.start, statement.end, tables);
  if (query.outputs.length !== sink.columns.length) {
    throw source.error(
      next.start,
      `INSERT INTO ${sink.name} writes ${sink.columns.length} columns (${sink.columns.map((c) => c.name).join(', ')}) ` +
        `but the query gives ${query.outputs.length}`,
    );
  }
  for (const [i, column] of sink.columns.entries()) {
    const output = query.outputs[i]!;
    if (!assignable(output.type, column.type)) {
      throw source.error(
        output.at,
        `column ${i + 1} of the query (${output.name}) is ${output.type} but ${sink.name}.${column.name} is ${column.type}` +
          (output.type === 'DOUBLE' && column.type === 'BIGINT' ? ': CAST it to BIGINT' : ''),
      );
    }
  }
  return { sink, query, at: name.start };
}

const WINDOW_COLUMNS = new Set(['window_start', 'window_end', 'window_time', 'window_kind']);

/** Plans one SELECT node. */
export function planQuery(
  source: SqlSource,
  node: AstNode,
  tables: Map<string, TableDef>,
  start: number,
  partitionBy?: { columns: { name: string; at: number }[]; at: number },
): QueryPlan {
  if (node.type !== 'SELECT_NODE') {
    const what = node.type === 'SET_OPERATION_NODE' ? String(node.setop_type) : node.type;
    throw source.unsupported(start, what);
  }
  const ctes = (node.cte_map as { map?: unknown[] } | undefined)?.map ?? [];
  if (ctes.length > 0) throw source.unsupported(start, 'WITH (a common table expression)');
  for (const modifier of (node.modifiers as AstNode[] | undefined) ?? []) {
    const name = { ORDER_MODIFIER: 'ORDER BY', LIMIT_MODIFIER: 'LIMIT', DISTINCT_MODIFIER: 'SELECT DISTINCT' }[
      modifier.type
    ];
    const firstOrder = (modifier.orders as { expression: AstNode }[] | undefined)?.[0]?.expression;
    const at = locationOf(firstOrder ?? (modifier.limit as AstNode | undefined), start);
    throw source.unsupported(at, name ?? modifier.type, 'a stream has no end to order or limit');
  }
  if (node.qualify) throw source.unsupported(locationOf(node.qualify as AstNode, start), 'QUALIFY');
  if (node.sample) throw source.unsupported(start, 'a SAMPLE clause');

  const from = node.from_table as AstNode;
  if (from.type === 'JOIN') return planJoin(source, node, from, tables, start);
  const { table, window, alias } = planFrom(source, from, tables, start);
  if (partitionBy && window?.kind !== 'session') {
    throw source.unsupported(partitionBy.at, 'PARTITION BY in a window TVF other than SESSION');
  }
  const input = inputScope(source, table, alias, window !== undefined);
  const where = node.where_clause ? predicate(source, node.where_clause as AstNode, input, start, 'WHERE') : undefined;

  const groups = (node.group_expressions as AstNode[] | undefined) ?? [];
  if (((node.group_sets as unknown[] | undefined) ?? []).length > 1) {
    throw source.unsupported(locationOf(groups[0], start), 'GROUPING SETS, CUBE or ROLLUP');
  }
  const selectList = node.select_list as AstNode[];
  if (selectList.some(containsOver)) {
    if (window) throw source.unsupported(locationOf(from, start), 'OVER aggregates over a window TVF');
    if (groups.length > 0) throw source.unsupported(locationOf(groups[0], start), 'GROUP BY with OVER aggregates');
    if (node.having) throw source.unsupported(locationOf(node.having as AstNode, start), 'HAVING with OVER aggregates');
    return planOver(source, selectList, table, input, where, start);
  }
  if (!window && groups.length > 0) {
    // A regular GROUP BY: an updating result, one row per key re-emitted on each of its records.
    if (node.having) {
      throw source.unsupported(
        locationOf(node.having as AstNode, start),
        'HAVING on a GROUP BY without a window TVF',
        'a row that stops matching would need a retraction',
      );
    }
    const keys = groups.map((k) => compile(k, input, start));
    const aggregates: AggregateCall[] = [];
    const result = windowResultScope(source, groups, keys, aggregates, input, false);
    const outputs = planOutputs(source, selectList, groups, result, table, start);
    return { source: table, where, keys, aggregates, outputs, updating: true };
  }
  if (!window) {
    if (node.having)
      throw source.unsupported(locationOf(node.having as AstNode, start), 'HAVING without a window GROUP BY');
    const outputs = selectList.flatMap((item, i) => project(source, item, i, input, table, start));
    return { source: table, where, keys: [], aggregates: [], outputs, updating: false };
  }

  // A window aggregation: GROUP BY window_start, window_end and keys over the source row.
  if (groups.length === 0) {
    throw source.unsupported(
      locationOf(from, start),
      'a window TVF without GROUP BY window_start, window_end',
      'aggregate it with GROUP BY window_start, window_end, …',
    );
  }
  const seen = new Set<string>();
  const keyNodes: AstNode[] = [];
  for (const group of groups) {
    const names = group.class === 'COLUMN_REF' ? (group.column_names as string[]) : [];
    const column = names.at(-1);
    if (column === 'window_start' || column === 'window_end') seen.add(column);
    else if (column === 'window_time') throw source.unsupported(locationOf(group, start), 'GROUP BY window_time');
    else keyNodes.push(group);
  }
  for (const needed of ['window_start', 'window_end']) {
    if (!seen.has(needed)) {
      throw source.error(
        locationOf(groups[0], start),
        `a window aggregation must GROUP BY window_start, window_end (${needed} is missing)`,
      );
    }
  }
  const keys = keyNodes.map((k) => compile(k, input, start));
  if (partitionBy) {
    // Sessions are per GROUP BY key in the engine: PARTITION BY must name the same columns.
    const keyNames = keyNodes.map((k) => (k.class === 'COLUMN_REF' ? (k.column_names as string[]).at(-1)! : ''));
    for (const column of partitionBy.columns) {
      input.column([column.name], column.at);
      if (!keyNames.includes(column.name)) {
        throw source.unsupported(
          column.at,
          `SESSION PARTITION BY ${column.name} without ${column.name} in the GROUP BY`,
          'sessions are computed per GROUP BY key: group by the PARTITION BY columns',
        );
      }
    }
    const partitioned = new Set(partitionBy.columns.map((c) => c.name));
    const extra = keyNames.findIndex((name) => !partitioned.has(name));
    if (extra >= 0) {
      throw source.unsupported(
        locationOf(keyNodes[extra], start),
        'GROUP BY keys beyond the SESSION PARTITION BY columns',
        'sessions are computed per GROUP BY key: partition by every key',
      );
    }
  }
  const aggregates: AggregateCall[] = [];
  const result = windowResultScope(source, keyNodes, keys, aggregates, input, true);
  const having = node.having ? predicate(source, node.having as AstNode, result, start, 'HAVING') : undefined;
  const outputs = planOutputs(source, selectList, keyNodes, result, table, start);
  return { source: table, where, window, keys, aggregates, having, outputs, updating: false };
}

function containsOver(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(containsOver);
  if (typeof node !== 'object' || node === null) return false;
  if ((node as AstNode).class === 'WINDOW') return true;
  return Object.values(node).some(containsOver);
}

/** A query of OVER aggregates: one frame for all, ordered by event time, the PARTITION BY columns as keys. */
function planOver(
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

type Side = 'l' | 'r';

/** An interval join: equal keys and bounds on both event times in ON; WHERE and SELECT over the joined row. */
function planJoin(
  source: SqlSource,
  node: AstNode,
  from: AstNode,
  tables: Map<string, TableDef>,
  start: number,
): QueryPlan {
  const at = locationOf(from, start);
  // `FROM a, b WHERE …` (Flink's usual interval join): the WHERE is the join's condition.
  const comma = from.join_type === 'INNER' && from.ref_type === 'CROSS' && !from.condition && node.where_clause;
  const condition = (comma ? node.where_clause : from.condition) as AstNode;
  const whereClause = comma ? undefined : (node.where_clause as AstNode | undefined);
  if (from.join_type !== 'INNER' || (from.ref_type !== 'REGULAR' && !comma)) {
    throw source.unsupported(
      at,
      `${String(from.ref_type) === 'REGULAR' ? '' : `${String(from.ref_type)} `}${String(from.join_type)} JOIN`,
      'inner interval joins are planned',
    );
  }
  const sides = [from.left as AstNode, from.right as AstNode].map((t) => {
    if (t.type !== 'BASE_TABLE') throw source.unsupported(locationOf(t, at), 'a join of anything but two tables');
    const table = tables.get(String(t.table_name));
    if (!table) throw source.error(locationOf(t, at), `unknown table ${String(t.table_name)}`);
    if (!table.watermark) {
      throw source.error(at, `an interval join needs event time on both tables: ${table.name} declares no WATERMARK`);
    }
    return { table, alias: (t.alias as string) || table.name };
  }) as [{ table: TableDef; alias: string }, { table: TableDef; alias: string }];
  if (sides[0].alias === sides[1].alias)
    throw source.error(at, `both sides of the join are named ${sides[0].alias}: alias one`);
  const sideOf = (names: string[], colAt: number): { side: Side; column: ColumnDef } => {
    const [qualifier, name] = names.length === 2 ? names : [undefined, names[0]!];
    const found = (['l', 'r'] as const).flatMap((side, i) => {
      const { table, alias } = sides[i]!;
      if (qualifier !== undefined && qualifier !== alias) return [];
      const column = table.columns.find((c) => c.name === name);
      return column ? [{ side, column }] : [];
    });
    if (names.length > 2 || found.length === 0) throw source.error(colAt, `unknown column ${names.join('.')}`);
    if (found.length > 1)
      throw source.error(colAt, `column ${name} is ambiguous: qualify it (${sides[0].alias}.${name})`);
    return found[0]!;
  };
  const joined: Scope = {
    source,
    column(names, colAt) {
      const { side, column } = sideOf(names, colAt);
      const name = column.name;
      return { type: column.type, eval: (row) => row[side][name] };
    },
    aggregateError: (name, aggAt) =>
      source.unsupported(aggAt, `${name}() over a join`, 'aggregations of joins are not planned yet'),
  };
  const sideScope = (side: Side): Scope => ({
    ...joined,
    column(names, colAt) {
      const found = sideOf(names, colAt);
      if (found.side !== side) throw source.error(colAt, 'not this side');
      const name = found.column.name;
      return { type: found.column.type, eval: (row) => row[name] };
    },
  });
  /** The sides a node's columns come from. */
  const sidesIn = (n: unknown, acc = new Set<Side>()): Set<Side> => {
    if (Array.isArray(n)) for (const c of n) sidesIn(c, acc);
    else if (typeof n === 'object' && n !== null) {
      if ((n as AstNode).class === 'COLUMN_REF') {
        acc.add(sideOf((n as AstNode).column_names as string[], locationOf(n as AstNode, at)).side);
      } else for (const c of Object.values(n)) sidesIn(c, acc);
    }
    return acc;
  };
  /** `x.ts`, `x.ts ± INTERVAL c`: the side whose event-time column it is and c. */
  const timeTerm = (n: AstNode | undefined): { side: Side; ms: number } | undefined => {
    if (!n) return undefined;
    if (n.class === 'COLUMN_REF') {
      const { side, column } = sideOf(n.column_names as string[], locationOf(n, at));
      const table = sides[side === 'l' ? 0 : 1].table;
      return column.name === table.watermark!.column ? { side, ms: 0 } : undefined;
    }
    const op = n.class === 'FUNCTION' ? String(n.function_name) : '';
    const [a, b] = (n.children as AstNode[] | undefined) ?? [];
    if ((op !== '+' && op !== '-') || !a || !b) return undefined;
    const term = timeTerm(a);
    if (!term || sidesIn(b).size > 0) return undefined;
    const c = compile(b, constantScope(source), at);
    if (c.type !== 'INTERVAL' || !c.constant) return undefined;
    const ms = c.eval({}) as number;
    return { side: term.side, ms: term.ms + (op === '+' ? ms : -ms) };
  };
  let lower = Number.NEGATIVE_INFINITY;
  let upper = Number.POSITIVE_INFINITY;
  /** `x op y` on the two event times: a bound on d = r.ts − l.ts; false when it is none. */
  const bound = (x: AstNode | undefined, op: string, y: AstNode | undefined): boolean => {
    const a = timeTerm(x);
    const b = timeTerm(y);
    if (!a || !b || a.side === b.side) return false;
    // r + cr op l + cl  ⇔  d op cl − cr; with the sides swapped the comparison flips.
    const flip: Record<string, string> = { '>=': '<=', '<=': '>=', '>': '<', '<': '>' };
    const [r, l, o] = a.side === 'r' ? [a, b, op] : [b, a, flip[op]!];
    const c = l.ms - r.ms;
    if (o === '>=') lower = Math.max(lower, c);
    else if (o === '>') lower = Math.max(lower, c + 1);
    else if (o === '<=') upper = Math.min(upper, c);
    else upper = Math.min(upper, c - 1);
    return true;
  };
  const OPS: Record<string, string> = {
    COMPARE_GREATERTHANOREQUALTO: '>=',
    COMPARE_GREATERTHAN: '>',
    COMPARE_LESSTHANOREQUALTO: '<=',
    COMPARE_LESSTHAN: '<',
  };
  const leftKeys: Compiled[] = [];
  const rightKeys: Compiled[] = [];
  const residual: AstNode[] = [];
  const conjuncts = (n: AstNode): AstNode[] =>
    n.type === 'CONJUNCTION_AND' ? (n.children as AstNode[]).flatMap(conjuncts) : [n];
  for (const c of conjuncts(condition)) {
    if (c.type === 'COMPARE_EQUAL') {
      const l = sidesIn(c.left);
      const r = sidesIn(c.right);
      if (l.size === 1 && r.size === 1 && [...l][0] !== [...r][0]) {
        const [onLeft, onRight] = l.has('l') ? [c.left, c.right] : [c.right, c.left];
        leftKeys.push(compile(onLeft as AstNode, sideScope('l'), at));
        rightKeys.push(compile(onRight as AstNode, sideScope('r'), at));
        continue;
      }
    }
    if (c.type === 'COMPARE_BETWEEN' && bound(c.input as AstNode, '>=', c.lower as AstNode)) {
      if (bound(c.input as AstNode, '<=', c.upper as AstNode)) continue;
    }
    const op = OPS[c.type];
    if (op && bound(c.left as AstNode, op, c.right as AstNode)) continue;
    residual.push(c);
  }
  if (!Number.isFinite(lower) || !Number.isFinite(upper)) {
    throw source.unsupported(
      at,
      'a join without a lower and an upper bound between the two event times (a regular join)',
      `add ${sides[1].alias}.${sides[1].table.watermark!.column} BETWEEN ${sides[0].alias}.${sides[0].table.watermark!.column} - INTERVAL … AND ${sides[0].alias}.${sides[0].table.watermark!.column} + INTERVAL … to ON`,
    );
  }
  if (lower > upper) throw source.error(at, `the join's time bounds leave no interval (${lower} ms to ${upper} ms)`);
  const groups = (node.group_expressions as AstNode[] | undefined) ?? [];
  if (groups.length > 0)
    throw source.unsupported(
      locationOf(groups[0], start),
      'GROUP BY over a join',
      'aggregations of joins are not planned yet',
    );
  if (node.having) throw source.unsupported(locationOf(node.having as AstNode, start), 'HAVING over a join');
  const selectList = node.select_list as AstNode[];
  if (selectList.some(containsOver)) throw source.unsupported(at, 'OVER over a join');
  const conditions = [...residual, ...(whereClause ? [whereClause] : [])];
  const compiled = conditions.map((c) => predicate(source, c, joined, start, 'WHERE'));
  const where: Compiled | undefined =
    compiled.length === 0
      ? undefined
      : { type: 'BOOLEAN', eval: (row) => (compiled.every((c) => c.eval(row) === true) ? true : null) };
  const outputs = selectList.flatMap((item, i) => {
    if (item.class === 'STAR') throw source.error(locationOf(item, start), 'SELECT * over a join: name the columns');
    return project(source, item, i, joined, sides[0].table, start);
  });
  return {
    source: sides[0].table,
    where,
    keys: [],
    aggregates: [],
    outputs,
    updating: false,
    join: { right: sides[1].table, leftKeys, rightKeys, lowerMs: lower, upperMs: upper },
  };
}

/** The SELECT list of an aggregation, each column with its role (window_start, window_end, a GROUP BY key). */
function planOutputs(
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

function planFrom(
  source: SqlSource,
  from: AstNode,
  tables: Map<string, TableDef>,
  start: number,
): { table: TableDef; window?: WindowSpec; alias?: string } {
  const at = locationOf(from, start);
  const lookup = (name: string, where: number) => {
    const table = tables.get(name);
    if (!table)
      throw source.error(
        where,
        `unknown table ${name}${tables.size ? ` (declared: ${[...tables.keys()].join(', ')})` : ''}`,
      );
    return table;
  };
  switch (from.type) {
    case 'BASE_TABLE':
      return { table: lookup(String(from.table_name), at), alias: (from.alias as string) || undefined };
    case 'TABLE_FUNCTION': {
      const fn = from.function as AstNode;
      const name = String(fn.function_name).toLowerCase();
      const args = fn.children as AstNode[];
      if (name === 'cumulate') throw source.unsupported(at, `the window TVF ${name.toUpperCase()}`);
      if (name !== 'tumble' && name !== 'hop' && name !== 'session')
        throw source.unsupported(at, `the table function ${name}()`);
      const data = args[0];
      if (data?.class !== 'COLUMN_REF')
        throw source.error(
          at,
          `${name.toUpperCase()} takes a table first: ${name.toUpperCase()}(TABLE t, DESCRIPTOR(ts), …)`,
        );
      const table = lookup((data.column_names as string[]).join('.'), locationOf(data, at));
      let timeCol = args[1];
      if (timeCol?.class === 'FUNCTION' && String(timeCol.function_name).toLowerCase() === 'descriptor') {
        timeCol = (timeCol.children as AstNode[])[0];
      }
      if (timeCol?.class !== 'COLUMN_REF')
        throw source.error(at, `${name.toUpperCase()} takes the event-time column second: DESCRIPTOR(ts)`);
      const column = (timeCol.column_names as string[]).at(-1)!;
      const colAt = locationOf(timeCol, at);
      if (!table.watermark) {
        throw source.error(
          colAt,
          `table ${table.name} has no event time: declare WATERMARK FOR ${column} AS ${column} - INTERVAL '5' SECOND`,
        );
      }
      if (table.watermark.column !== column) {
        throw source.error(
          colAt,
          `${name.toUpperCase()} must use the event-time column of ${table.name} (${table.watermark.column}), not ${column}`,
        );
      }
      const interval = (arg: AstNode | undefined, what: string) => {
        if (!arg) throw source.error(at, `${name.toUpperCase()} needs ${what}`);
        const c = compile(arg, constantScope(source), at);
        if (c.type !== 'INTERVAL' || !c.constant)
          throw source.error(locationOf(arg, at), `${what} must be an INTERVAL constant`);
        return c.eval({}) as number;
      };
      if (name === 'session') {
        const gapMs = interval(args[2], 'a gap');
        if (args.length > 3) throw source.error(at, 'too many arguments to SESSION(TABLE t, DESCRIPTOR(ts), gap)');
        if (gapMs <= 0) throw source.error(at, `SESSION needs a positive gap, got ${gapMs} ms`);
        const window: WindowSpec = { kind: 'session', sizeMs: 0, slideMs: 0, offsetMs: 0, gapMs };
        return { table, window, alias: (from.alias as string) || undefined };
      }
      const window: WindowSpec =
        name === 'tumble'
          ? { kind: 'tumbling', sizeMs: interval(args[2], 'a size'), slideMs: 0, offsetMs: 0, gapMs: 0 }
          : {
              kind: 'sliding',
              slideMs: interval(args[2], 'a slide'),
              sizeMs: interval(args[3], 'a size'),
              offsetMs: 0,
              gapMs: 0,
            };
      if (name === 'tumble') window.slideMs = window.sizeMs;
      const offsetArg = args[name === 'tumble' ? 3 : 4];
      if (offsetArg) window.offsetMs = interval(offsetArg, 'an offset');
      if (args.length > (name === 'tumble' ? 4 : 5))
        throw source.error(at, `too many arguments to ${name.toUpperCase()}`);
      if (window.sizeMs <= 0 || window.slideMs <= 0 || window.slideMs > window.sizeMs) {
        throw source.error(
          at,
          `${name.toUpperCase()} needs 0 < slide <= size (size ${window.sizeMs} ms, slide ${window.slideMs} ms)`,
        );
      }
      return { table, window, alias: (from.alias as string) || undefined };
    }
    case 'JOIN':
      throw source.unsupported(
        locationOf(from, start),
        `${String(from.join_type ?? '')} JOIN`.trim(),
        'joins are not planned yet',
      );
    case 'SUBQUERY':
      throw source.unsupported(at, 'a subquery in FROM');
    case 'EMPTY':
      throw source.error(start, 'a query needs FROM <table>');
    default:
      throw source.unsupported(at, `FROM ${from.type}`);
  }
}

function constantScope(source: SqlSource): Scope {
  return {
    source,
    column: (names, at) => {
      throw source.error(at, `expected a constant, got column ${names.join('.')}`);
    },
    aggregateError: (name, at) => source.error(at, `expected a constant, got ${name}()`),
  };
}

/** Columns of the source table; window columns exist only after the aggregation. */
function inputScope(source: SqlSource, table: TableDef, alias: string | undefined, windowed: boolean): Scope {
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
      const key = column.name;
      return { type: column.type, eval: (row) => row[key] };
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
function windowResultScope(
  source: SqlSource,
  keyNodes: AstNode[],
  keys: Compiled[],
  aggregates: AggregateCall[],
  input: Scope,
  windowed: boolean,
): Scope {
  const keyIndex = new Map(keyNodes.map((k, i) => [structuralKey(k), i]));
  const aggregateIndex = new Map<string, number>();
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
function registerAggregate(
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
  if (node.filter) throw source.unsupported(at, `${fn}(…) FILTER (WHERE …)`);
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

function predicate(source: SqlSource, node: AstNode, scope: Scope, start: number, clause: string): Compiled {
  const compiled = compile(node, scope, start);
  if (compiled.type !== 'BOOLEAN' && compiled.type !== 'NULL') {
    throw source.error(locationOf(node, start), `${clause} needs a BOOLEAN condition, got ${compiled.type}`);
  }
  return compiled;
}

function project(
  source: SqlSource,
  item: AstNode,
  i: number,
  scope: Scope,
  table: TableDef,
  start: number,
): OutputColumn[] {
  const at = locationOf(item, start);
  if (item.class === 'STAR') {
    if (item.columns || ((item.exclude_list as unknown[] | undefined) ?? []).length > 0) {
      throw source.unsupported(at, 'COLUMNS(…) or * EXCLUDE');
    }
    return table.columns.map((c) => ({ name: c.name, at, ...scope.column([c.name], at) }));
  }
  const compiled = compile(item, scope, start);
  if (compiled.type === 'INTERVAL') throw source.error(at, 'an INTERVAL cannot be a result column');
  const name =
    (item.alias as string) || (item.class === 'COLUMN_REF' ? (item.column_names as string[]).at(-1)! : `EXPR$${i}`);
  return [{ name, type: compiled.type, eval: compiled.eval, at }];
}
