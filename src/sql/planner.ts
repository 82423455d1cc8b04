// Planning a script: CREATE TABLE declares the tables (sources and sinks over topics), each INSERT INTO becomes a
// query plan — a source, WHERE, an optional window TVF with its GROUP BY keys and aggregates, HAVING, and the
// projection — type-checked against the declared columns. Constructs the engine does not run yet are refused here,
// with their name and position, before anything is built.
import { fieldReader } from './codegen.ts';
import { type Compiled, compile, type Scope, structuralKey } from './expressions.ts';
import { type AstNode, locationOf, parseSelect } from './parser.ts';
import type {
  AggregateCall,
  AggregateFunction,
  InsertPlan,
  JoinPlan,
  OutputColumn,
  PlanOptions,
  QueryPlan,
  ScriptPlan,
  Tables,
  ViewPlan,
  WindowSpec,
} from './plan.ts';
import { extremumJoin } from './prune.ts';
import { derivedTable, groupWindow, timesOf, withQueries } from './relations.ts';
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
} from './script.ts';
import { hasRowNumber, planRowNumber } from './top-n.ts';
import { assignable, isNumeric, type SqlType } from './types.ts';
import { planUnion } from './union.ts';

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

export type {
  AggregateCall,
  AggregateFunction,
  ExtremumPrune,
  InsertPlan,
  JoinPlan,
  OutputColumn,
  PlanOptions,
  QueryPlan,
  RankPlan,
  ScriptPlan,
  Tables,
  ViewPlan,
  WindowSpec,
} from './plan.ts';

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
    } else if (isWord(first, 'CREATE') && isWord(tokens[1], 'VIEW')) {
      const [, , name, as, query] = tokens;
      if (!name || (name.kind !== 'word' && name.kind !== 'quoted') || !isWord(as, 'AS') || !query) {
        throw source.error(tokens[2]?.start ?? statement.end, 'expected CREATE VIEW <name> AS SELECT …');
      }
      const views = (plan.tables.views ??= new Map());
      if (views.has(name.value) || plan.tables.has(name.value)) {
        throw source.error(name.start, `${name.value} is declared twice`);
      }
      const { text: blanked, partitionBy } = blankFlinkTableSyntax(source, query.start, statement.end);
      if (partitionBy) throw source.unsupported(partitionBy.at, 'SESSION … PARTITION BY in a view');
      const ast = await parseSelect(source, blanked, query.start);
      // Planned (and type-checked) now, and again wherever it is read.
      planQuery(source, ast, plan.tables, query.start);
      views.set(name.value, ast);
    } else if (isWord(first, 'CREATE') && isWord(tokens[1], 'MATERIALIZED')) {
      const view = await planView(source, rest, plan.tables);
      if (plan.views.some((v) => v.view.name === view.view.name)) {
        throw source.error(view.at, `materialized view ${view.view.name} is declared twice`);
      }
      plan.views.push(view);
    } else if (options.selects && isWord(first, 'SELECT', 'WITH')) {
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
        'CREATE TABLE, CREATE VIEW and CREATE MATERIALIZED VIEW are',
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

/**
 * A table's late records come out of the one query that writes them to its late.topic (build.ts): a window or OVER
 * aggregation over the table, or an interval join with the table as a side — through views, subqueries, WITH and
 * UNION ALL too. Two would write every late record twice: refused at the second, naming the first.
 */
function checkLateTopics(source: SqlSource, plan: ScriptPlan): void {
  const writers = new Map<TableDef, { what: string; at: number; id: unknown }>();
  const visited = new Set<TableDef>();
  const note = (table: TableDef, what: string, at: number, id: unknown) => {
    if (table.lateTopic === undefined || table.derived) return;
    const first = writers.get(table);
    if (!first) {
      writers.set(table, { what, at, id });
      return;
    }
    if (first.id === id) return; // equal window aggregations of subqueries, computed (and written) once
    const { line, column } = source.position(first.at);
    throw source.unsupported(
      at,
      `a second ${what} over ${table.name}, whose late records go to '${table.lateTopic}' ` +
        `(the ${first.what} at line ${line}, column ${column} writes them)`,
      'each would write them; write the results of one query to several places with a materialized view ' +
        "WITH ('topic' = …), or drop 'late.topic'",
    );
  };
  /** `nested`: a relation read by the query (the builder shares equal window aggregations among those). */
  const visit = (query: QueryPlan, at: number, nested: boolean): void => {
    if (query.union) {
      for (const q of query.union.queries) visit(q, at, true);
      return;
    }
    const join = query.join;
    for (const table of [query.source, ...(join ? [join.right] : [])]) {
      if (!table.derived || visited.has(table)) continue;
      visited.add(table);
      visit(table.derived.query as QueryPlan, at, true);
    }
    if (query.window && !query.rank) {
      note(query.source, 'window aggregation', at, nested && query.digest !== undefined ? query.digest : {});
    } else if (query.over) {
      note(query.source, 'OVER aggregation', at, {});
    } else if (join?.kind === 'interval') {
      if (join.right === query.source && query.source.lateTopic !== undefined && !query.source.derived) {
        throw source.unsupported(
          at,
          `an interval join of ${query.source.name} with itself, whose late records go to '${query.source.lateTopic}'`,
          "both sides would write each late record; join a view of the table on one side, or drop 'late.topic'",
        );
      }
      note(query.source, 'interval join', at, {});
      note(join.right, 'interval join', at, {});
    }
  };
  for (const { query, at } of [...plan.inserts, ...plan.views]) visit(query, at, false);
  for (const query of plan.selects) visit(query, query.outputs[0]?.at ?? 0, false);
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
  tables: Tables,
  start: number,
  partitionBy?: { columns: { name: string; at: number }[]; at: number },
): QueryPlan {
  if (node.type === 'SET_OPERATION_NODE') {
    if (partitionBy) throw source.unsupported(partitionBy.at, 'SESSION … PARTITION BY in a UNION ALL');
    return planUnion(source, node, tables, start, (n, scope) => planQuery(source, n, scope, start));
  }
  if (node.type !== 'SELECT_NODE') throw source.unsupported(start, node.type);
  const ctes = (node.cte_map as { map?: unknown[] } | undefined)?.map ?? [];
  if (ctes.length > 0) {
    // WITH q AS (…): q is a view of this query.
    tables = Object.assign(new Map(tables), { views: withQueries(node, tables.views ?? new Map()) });
  }
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
  let table: TableDef;
  let window: WindowSpec | undefined;
  let input: Scope;
  let where: Compiled | undefined;
  let join: JoinPlan | undefined;
  if (from.type === 'JOIN') {
    ({ table, join, scope: input, where } = planJoin(source, node, from, tables, start));
  } else {
    let alias: string | undefined;
    ({ table, window, alias } = planFrom(source, from, tables, start));
    const grouped = window ? undefined : groupWindow(source, node, start);
    if (grouped) {
      // GROUP BY k, SESSION(ts, gap): the window TVF's plan, over the same arguments after the table.
      window = windowSpec(source, grouped.name, table, grouped.args[0], grouped.args.slice(1), grouped.at);
      node = grouped.node;
    }
    if (partitionBy && window?.kind !== 'session') {
      throw source.unsupported(partitionBy.at, 'PARTITION BY in a window TVF other than SESSION');
    }
    input = inputScope(source, table, alias, window !== undefined);
    where = node.where_clause ? predicate(source, node.where_clause as AstNode, input, start, 'WHERE') : undefined;
  }
  const times = join ? new Map<string, number>() : timesOf(table);
  const timeColumnOf = (n: AstNode | undefined): number | undefined =>
    n?.class === 'COLUMN_REF' ? times.get((n.column_names as string[]).at(-1)!) : undefined;

  const groups = (node.group_expressions as AstNode[] | undefined) ?? [];
  if (((node.group_sets as unknown[] | undefined) ?? []).length > 1) {
    throw source.unsupported(locationOf(groups[0], start), 'GROUPING SETS, CUBE or ROLLUP');
  }
  const selectList = node.select_list as AstNode[];
  if (!join && !window && groups.length === 0 && !node.having && hasRowNumber(selectList)) {
    // ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY …) over window results: a window Top-N.
    return planRowNumber(source, selectList, table, input, where, times, start, (item, i, scope) =>
      project(source, item, i, scope, table, start, times),
    );
  }
  if (selectList.some(containsOver)) {
    if (join) throw source.unsupported(locationOf(from, start), 'OVER over a join');
    if (window) throw source.unsupported(locationOf(from, start), 'OVER aggregates over a window TVF');
    if (groups.length > 0) throw source.unsupported(locationOf(groups[0], start), 'GROUP BY with OVER aggregates');
    if (node.having) throw source.unsupported(locationOf(node.having as AstNode, start), 'HAVING with OVER aggregates');
    return planOver(source, selectList, table, input, where, start);
  }
  if (!window && groups.length > 0 && groups.some((g) => timeColumnOf(g) !== undefined)) {
    // GROUP BY a column that is the rows' time (starttime of a window result, as q5 groups its counts by window): a
    // window of 1 ms at that time, closed by the watermark, so the result is final (not updating) and keeps its time.
    window = { kind: 'tumbling', sizeMs: 1, slideMs: 1, offsetMs: 0, gapMs: 0 };
    // The time columns are the window's (its start + their offset), not keys: one key per window, not per value.
    const keyNodes = groups.filter((g) => timeColumnOf(g) === undefined);
    const timeGroups = new Map(groups.flatMap((g) => (keyNodes.includes(g) ? [] : [[structuralKey(g), g] as const])));
    const keys = keyNodes.map((k) => compile(k, input, start));
    const aggregates: AggregateCall[] = [];
    const grouped = windowResultScope(source, keyNodes, keys, aggregates, input, false);
    const timeOf = (g: AstNode): Compiled => {
      const offset = timeColumnOf(g)!;
      return { type: compile(g, input, start).type, eval: (r) => r.ws + offset };
    };
    const nameOf = (n: AstNode) => (n.class === 'COLUMN_REF' ? (n.column_names as string[]).at(-1) : undefined);
    const timeGroupNamed = (name: string) => [...timeGroups.values()].find((g) => nameOf(g) === name);
    const result: Scope = {
      ...grouped,
      match(n, at) {
        const g = timeGroups.get(structuralKey(n));
        return g ? timeOf(g) : grouped.match?.(n, at);
      },
      column(names, at) {
        const g = timeGroupNamed(names.at(-1)!);
        return g ? timeOf(g) : grouped.column(names, at);
      },
    };
    const having = node.having ? predicate(source, node.having as AstNode, result, start, 'HAVING') : undefined;
    const outputs = planOutputs(source, selectList, keyNodes, result, table, start).map((o, i) => {
      const item = selectList[i]!;
      const g = timeGroups.get(structuralKey(item)) ?? timeGroupNamed(nameOf(item) ?? '');
      return g ? { ...o, timeOffset: timeColumnOf(g) } : o;
    });
    return { source: table, where, window, keys, aggregates, having, outputs, updating: false };
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
    const retracting = (table.derived?.query as QueryPlan | undefined)?.updating === true;
    if (retracting) {
      // Over an updating relation each row replaces its key's previous row, which is retracted first.
      const fixed = aggregates.find((a) => !RETRACTABLE.has(a.fn) || a.distinct);
      if (fixed) {
        throw source.unsupported(
          locationOf(groups[0], start),
          `${fixed.fn}()${fixed.distinct ? ' DISTINCT' : ''} over an updating relation (a GROUP BY of a GROUP BY)`,
          'count, sum and avg are (they take retractions)',
        );
      }
    }
    const partition = primaryKeyPartition(keys, table, join);
    const partitionKey = partition?.key;
    const partitionExpiry = partition?.side && join ? rowExpiry(join, partition.side) : undefined;
    return {
      source: table,
      where,
      keys,
      aggregates,
      outputs,
      updating: true,
      ...(join ? { join } : {}),
      retracting,
      ...(partitionKey ? { partitionKey } : {}),
      ...(partitionExpiry ? { partitionExpiry } : {}),
    };
  }
  if (!window) {
    if (node.having)
      throw source.unsupported(locationOf(node.having as AstNode, start), 'HAVING without a window GROUP BY');
    if (join) {
      const outputs = selectList.flatMap((item, i) => {
        if (item.class === 'STAR')
          throw source.error(locationOf(item, start), 'SELECT * over a join: name the columns');
        return project(source, item, i, input, table, start).map((o) => joinTime(o, join, table));
      });
      return { source: table, where, keys: [], aggregates: [], outputs, updating: false, join };
    }
    const outputs = selectList.flatMap((item, i) => project(source, item, i, input, table, start, times));
    if ((table.derived?.query as QueryPlan | undefined)?.updating) {
      throw source.unsupported(
        locationOf(from, start),
        'a projection of an updating relation (a GROUP BY in a subquery or view)',
        'aggregate it again (GROUP BY) or write it to a table',
      );
    }
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
  const signatures = new Map<string, number>();
  const result = windowResultScope(source, keyNodes, keys, aggregates, input, true, signatures);
  const having = node.having ? predicate(source, node.having as AstNode, result, start, 'HAVING') : undefined;
  const w = window;
  // A window result's time is its end − 1 ms: window_end is time + 1, window_start time + 1 − size.
  const offsetOf = (role: OutputColumn['role']): number | undefined =>
    w.processingTime || w.kind === 'session' || (w.kind === 'cumulate' && role === 'window_start')
      ? undefined
      : role === 'window_end'
        ? 1
        : role === 'window_start'
          ? 1 - w.sizeMs
          : undefined;
  const outputs = planOutputs(source, selectList, keyNodes, result, table, start).map((o) => {
    const offset = offsetOf(o.role);
    return offset === undefined ? o : { ...o, timeOffset: offset };
  });
  // Two queries with this digest compute the same window results (q5's two subqueries): built once.
  const digest = structuralKey({
    from: table.derived ? undefined : from,
    table: table.name,
    where: node.where_clause,
    keys: keyNodes,
    aggregates: [...signatures.keys()],
    window: w,
  });
  return {
    source: table,
    where,
    window,
    keys,
    aggregates,
    having,
    outputs,
    updating: false,
    ...(table.derived ? {} : { digest }),
  };
}

/**
 * An interval join's row has the time of its later side (the engine's max of the two): when the bounds make one side
 * never the earlier (upper <= 0: the left; lower >= 0: the right), a selected time column of that side still tells
 * the row's time (a click's `ts` joined with its earlier view), so a window or a UNION ALL over the join may use it.
 */
function joinTime(output: OutputColumn, join: JoinPlan, left: TableDef): OutputColumn {
  if (join.kind !== 'interval') return output;
  const sides: ['l' | 'r', TableDef][] = [];
  if (join.upperMs <= 0) sides.push(['l', left]);
  if (join.lowerMs >= 0) sides.push(['r', join.right]);
  for (const [side, table] of sides) {
    for (const [column, offset] of timesOf(table)) {
      if (output.eval === fieldReader(column, side)) return { ...output, timeOffset: offset };
    }
  }
  return output;
}

/**
 * A regular GROUP BY's key that determines its others: a table's declared one-column PRIMARY KEY (a table's, not a
 * derived relation's; over a join, either side's), the other keys plain columns of that same table (a join's rows of
 * one such value all carry the same row of that side).
 */
function primaryKeyPartition(
  keys: Compiled[],
  table: TableDef,
  join: JoinPlan | undefined,
): { key: Compiled; side: 'l' | 'r' | undefined } | undefined {
  if (keys.length < 2) return undefined;
  const tables: [TableDef, 'l' | 'r' | undefined][] = join
    ? [
        [table, 'l'],
        [join.right, 'r'],
      ]
    : [[table, undefined]];
  for (const [t, side] of tables) {
    if (t.derived || t.primaryKey?.length !== 1) continue;
    const key = keys.find((k) => k.eval === fieldReader(t.primaryKey![0]!, side));
    const columns = new Set(t.columns.map((c) => fieldReader(c.name, side)));
    if (key && keys.every((k) => columns.has(k.eval))) return { key, side };
  }
  return undefined;
}

/** When a regular join forgets a joined row's `side` row, if by its columns alone (`b.ts <= a.expires`); else none. */
function rowExpiry(join: JoinPlan, side: 'l' | 'r'): Compiled['eval'] | undefined {
  const expiry = join.expiry?.[side];
  if (!expiry || expiry.afterTime !== undefined || expiry.columns.length === 0) return undefined;
  const columns = expiry.columns;
  return (row) => {
    const sideRow = (row as unknown as Record<'l' | 'r', typeof row>)[side];
    let until: number | null = null;
    for (let i = 0; i < columns.length; i++) {
      const v = columns[i]!(sideRow) as number | null;
      if (v !== null && (until === null || v < until)) until = v;
    }
    return until;
  };
}

/** Aggregates whose accumulators take a retraction (an updating input's replaced row). */
const RETRACTABLE = new Set<AggregateFunction>(['count_star', 'count', 'sum', 'avg']);

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

/**
 * A join's input: equal keys, and bounds between the two sides' times, from ON and (an inner join's) WHERE. With
 * a lower and an upper bound it is an interval join; without, a regular join (each side kept in keyed state).
 * Conditions on one side are applied before the join; the others over the joined row `{ l, r }`.
 */
function planJoin(
  source: SqlSource,
  node: AstNode,
  from: AstNode,
  tables: Tables,
  start: number,
): { table: TableDef; join: JoinPlan; scope: Scope; where?: Compiled } {
  const at = locationOf(from, start);
  const comma = from.join_type === 'INNER' && from.ref_type === 'CROSS' && !from.condition;
  if (from.join_type !== 'INNER' || (from.ref_type !== 'REGULAR' && !comma)) {
    throw source.unsupported(
      at,
      `${String(from.ref_type) === 'REGULAR' ? '' : `${String(from.ref_type)} `}${String(from.join_type)} JOIN`,
      'inner joins are planned',
    );
  }
  const sides = [from.left as AstNode, from.right as AstNode].map((t) => {
    if (t.type !== 'BASE_TABLE' && t.type !== 'SUBQUERY') {
      throw source.unsupported(
        locationOf(t, at),
        `a join of ${t.type === 'JOIN' ? 'more than two relations' : t.type}`,
      );
    }
    const { table, alias } = relationOf(source, t, tables, at);
    if ((table.derived?.query as QueryPlan | undefined)?.updating) {
      throw source.unsupported(
        locationOf(t, at),
        'a join of an updating relation (a GROUP BY without a window in a subquery or view)',
        'join the tables first and aggregate the join',
      );
    }
    return { table, alias: alias ?? table.name };
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
    sides[found[0]!.side === 'l' ? 0 : 1].table.derived?.used.add(name);
    return found[0]!;
  };
  const joined: Scope = {
    source,
    column(names, colAt) {
      const { side, column } = sideOf(names, colAt);
      return { type: column.type, eval: fieldReader(column.name, side) };
    },
    aggregateError: (name, aggAt) => source.error(aggAt, `${name}() over a join needs a GROUP BY`),
  };
  const sideScope = (side: Side): Scope => ({
    ...joined,
    column(names, colAt) {
      const found = sideOf(names, colAt);
      if (found.side !== side) throw source.error(colAt, 'not this side');
      return { type: found.column.type, eval: fieldReader(found.column.name) };
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
  /** `x.t`, `x.t ± INTERVAL c` where x.t is a column telling the time of x's rows: the side and t − time + c. */
  const timeTerm = (n: AstNode | undefined): { side: Side; ms: number } | undefined => {
    if (!n) return undefined;
    if (n.class === 'COLUMN_REF') {
      const { side, column } = sideOf(n.column_names as string[], locationOf(n, at));
      const offset = timesOf(sides[side === 'l' ? 0 : 1].table).get(column.name);
      return offset === undefined ? undefined : { side, ms: offset };
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
  /** `x op y` on the two sides' times: a bound on d = r.time − l.time; false when it is none. */
  const bound = (x: AstNode | undefined, op: string, y: AstNode | undefined): boolean => {
    const a = timeTerm(x);
    const b = timeTerm(y);
    if (!a || !b || a.side === b.side) return false;
    // r + cr op l + cl  ⇔  d op cl − cr; with the sides swapped the comparison flips.
    const flip: Record<string, string> = { '>=': '<=', '<=': '>=', '>': '<', '<': '>', '=': '=' };
    const [r, l, o] = a.side === 'r' ? [a, b, op] : [b, a, flip[op]!];
    const c = l.ms - r.ms;
    if (o === '>=' || o === '=') lower = Math.max(lower, c);
    if (o === '>') lower = Math.max(lower, c + 1);
    if (o === '<=' || o === '=') upper = Math.min(upper, c);
    if (o === '<') upper = Math.min(upper, c - 1);
    return true;
  };
  const OPS: Record<string, string> = {
    COMPARE_GREATERTHANOREQUALTO: '>=',
    COMPARE_GREATERTHAN: '>',
    COMPARE_LESSTHANOREQUALTO: '<=',
    COMPARE_LESSTHAN: '<',
  };
  /** When a side's row can no longer match an on-time row of the other side (a regular join forgets it then). */
  const expiry: Record<Side, { afterTime?: number; columns: Compiled['eval'][] }> = {
    l: { columns: [] },
    r: { columns: [] },
  };
  /** `x <= y` with x a side's time (± interval) and y a column (± interval) of the other: y's row expires once the
   * watermark passes it. Not a bound on the two times (the answer is `'column'`); false when it is no such thing. */
  const columnBound = (x: unknown, op: string, y: unknown, flipped = false): 'column' | false => {
    const [small, large] = (flipped ? op === '>=' || op === '>' : op === '<=' || op === '<') ? [x, y] : [y, x];
    const time = timeTerm(small as AstNode);
    const c = large as AstNode | undefined;
    if (!time || c?.class !== 'COLUMN_REF') return false;
    const { side, column } = sideOf(c.column_names as string[], locationOf(c, at));
    if (side === time.side || (column.type !== 'TIMESTAMP' && column.type !== 'BIGINT')) return false;
    const read = fieldReader(column.name);
    const shift = time.ms; // x = time + ms <= column: the other's on-time rows (time > W) cannot once W >= column − ms
    expiry[side].columns.push((row) => {
      const v = read(row);
      return v === null ? null : (v as number) - shift;
    });
    return 'column';
  };
  const keyPairs: [AstNode, AstNode][] = [];
  const timeKeyPairs: [AstNode, AstNode][] = [];
  const bounds: AstNode[] = [];
  const residual: AstNode[] = [];
  const onSide: Record<Side, AstNode[]> = { l: [], r: [] };
  const conjuncts = (n: AstNode | undefined): AstNode[] =>
    !n ? [] : n.type === 'CONJUNCTION_AND' ? (n.children as AstNode[]).flatMap(conjuncts) : [n];
  // An inner join's WHERE is as good as its ON.
  for (const c of [...conjuncts(from.condition as AstNode), ...conjuncts(node.where_clause as AstNode)]) {
    const used = sidesIn(c);
    if (used.size === 1) {
      onSide[[...used][0]!].push(c);
      continue;
    }
    if (c.type === 'COMPARE_EQUAL') {
      const l = sidesIn(c.left);
      const r = sidesIn(c.right);
      if (l.size === 1 && r.size === 1 && [...l][0] !== [...r][0]) {
        const pair: [AstNode, AstNode] = l.has('l')
          ? [c.left as AstNode, c.right as AstNode]
          : [c.right as AstNode, c.left as AstNode];
        if (bound(c.left as AstNode, '=', c.right as AstNode)) timeKeyPairs.push(pair);
        else keyPairs.push(pair);
        continue;
      }
    }
    if (c.type === 'COMPARE_BETWEEN') {
      // Each half on its own: a half that bounds the times still bounds them (the whole stays a condition).
      const low = bound(c.input as AstNode, '>=', c.lower as AstNode) || columnBound(c.input, '<=', c.lower, true);
      const high = bound(c.input as AstNode, '<=', c.upper as AstNode) || columnBound(c.input, '<=', c.upper);
      if (low === true && high === true) bounds.push(c);
      else residual.push(c);
      continue;
    }
    const op = OPS[c.type];
    if (op && bound(c.left as AstNode, op, c.right as AstNode)) {
      bounds.push(c);
      continue;
    }
    if (op) columnBound(c.left, op, c.right);
    residual.push(c);
  }
  const interval = Number.isFinite(lower) && Number.isFinite(upper);
  // d = r.time − l.time >= lower: l.time <= r.time − lower, so r expires once W >= r.time − lower; d <= upper: l
  // expires once W >= l.time + upper.
  if (Number.isFinite(lower)) expiry.r.afterTime = 0 - lower;
  if (Number.isFinite(upper)) expiry.l.afterTime = upper;
  if (!interval) {
    // A regular join: time conditions are plain conditions, equal times plain keys.
    residual.push(...bounds);
    keyPairs.push(...timeKeyPairs);
  } else if (keyPairs.length === 0 && timeKeyPairs.length > 0) {
    keyPairs.push(timeKeyPairs[0]!); // equal window starts: one key per window rather than one for all
  }
  if (keyPairs.length === 0 && !interval) {
    throw source.unsupported(
      at,
      'a join without an equality between its two sides (a cross join)',
      `join ON ${sides[0].alias}.column = ${sides[1].alias}.column`,
    );
  }
  if (lower > upper) throw source.error(at, `the join's time bounds leave no interval (${lower} ms to ${upper} ms)`);
  // A regular join whose equal keys include each column of a side's declared PRIMARY KEY (a table, not a derived
  // relation: its rows are appended, one per key ever): the other side's rows of a key need no state once it came.
  const unique = (side: Side): boolean => {
    const { table } = sides[side === 'l' ? 0 : 1];
    if (interval || table.derived || !table.primaryKey) return false;
    const keyed = new Set<string>();
    for (const pair of keyPairs) {
      const n = pair[side === 'l' ? 0 : 1];
      if (n.class !== 'COLUMN_REF') continue;
      const found = sideOf(n.column_names as string[], locationOf(n, at));
      if (found.side === side) keyed.add(found.column.name);
    }
    return table.primaryKey.every((column) => keyed.has(column));
  };
  const uniqueSides = { l: unique('l'), r: unique('r') };
  const leftKeys = keyPairs.map(([l]) => compile(l, sideScope('l'), at));
  const rightKeys = keyPairs.map(([, r]) => compile(r, sideScope('r'), at));
  const all = (side: Side, scope: Scope): Compiled | undefined =>
    and(onSide[side].map((c) => predicate(source, c, scope, start, 'WHERE')));
  const leftWhere = all('l', sideScope('l'));
  const rightWhere = all('r', sideScope('r'));
  const where = and(residual.map((c) => predicate(source, c, joined, start, 'WHERE')));
  // Joins on an extremum of the other side's rows: the keys, and comparisons of two columns left over.
  const COMPARISONS: Record<string, string> = {
    COMPARE_EQUAL: '=',
    COMPARE_GREATERTHANOREQUALTO: '>=',
    COMPARE_LESSTHANOREQUALTO: '<=',
  };
  const flipped: Record<string, string> = { '=': '=', '>=': '<=', '<=': '>=' };
  const candidates = keyPairs.map((_, i) => ({ l: leftKeys[i]!, r: rightKeys[i]!, op: '=' }));
  for (const c of residual) {
    const op = COMPARISONS[c.type];
    const [x, y] = [c.left as AstNode | undefined, c.right as AstNode | undefined];
    if (!op || x?.class !== 'COLUMN_REF' || y?.class !== 'COLUMN_REF') continue;
    const [sx, sy] = [sidesIn(x), sidesIn(y)];
    if (sx.has('l') && sy.has('r')) {
      candidates.push({ l: compile(x, sideScope('l'), at), r: compile(y, sideScope('r'), at), op });
    } else if (sx.has('r') && sy.has('l')) {
      candidates.push({ l: compile(y, sideScope('l'), at), r: compile(x, sideScope('r'), at), op: flipped[op]! });
    }
  }
  const prune = interval ? extremumJoin(sides, candidates, lower, upper) : undefined;
  const join: JoinPlan = {
    ...(prune ? { prune } : {}),
    kind: interval ? 'interval' : 'regular',
    right: sides[1].table,
    leftKeys,
    rightKeys,
    lowerMs: interval ? lower : 0,
    upperMs: interval ? upper : 0,
    ...(leftWhere ? { leftWhere } : {}),
    ...(rightWhere ? { rightWhere } : {}),
    ...(interval ? {} : { expiry }),
    ...(uniqueSides.l || uniqueSides.r ? { unique: uniqueSides } : {}),
  };
  return { table: sides[0].table, join, scope: joined, ...(where ? { where } : {}) };
}

/** The conjunction of conditions: TRUE when each is TRUE (a row is kept only then). */
function and(conditions: Compiled[]): Compiled | undefined {
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
  tables: Tables,
  start: number,
): { table: TableDef; window?: WindowSpec; alias?: string } {
  const at = locationOf(from, start);
  switch (from.type) {
    case 'BASE_TABLE':
    case 'SUBQUERY':
      return relationOf(source, from, tables, start);
    case 'TABLE_FUNCTION': {
      const fn = from.function as AstNode;
      const name = String(fn.function_name).toLowerCase();
      const args = fn.children as AstNode[];
      if (name !== 'tumble' && name !== 'hop' && name !== 'session' && name !== 'cumulate')
        throw source.unsupported(at, `the table function ${name}()`);
      const data = args[0];
      if (data?.class !== 'COLUMN_REF')
        throw source.error(
          at,
          `${name.toUpperCase()} takes a table first: ${name.toUpperCase()}(TABLE t, DESCRIPTOR(ts), …)`,
        );
      const named = (data.column_names as string[]).join('.');
      const { table } = relationOf(
        source,
        { type: 'BASE_TABLE', table_name: named, query_location: locationOf(data, at) } as AstNode,
        tables,
        at,
      );
      let timeCol = args[1];
      if (timeCol?.class === 'FUNCTION' && String(timeCol.function_name).toLowerCase() === 'descriptor') {
        timeCol = (timeCol.children as AstNode[])[0];
      }
      const window = windowSpec(source, name, table, timeCol, args.slice(2), at);
      return { table, window, alias: (from.alias as string) || undefined };
    }
    case 'JOIN':
      throw source.unsupported(at, 'a join inside a join');
    case 'EMPTY':
      throw source.error(start, 'a query needs FROM <table>');
    default:
      throw source.unsupported(at, `FROM ${from.type}`);
  }
}

/** A table, a view or a subquery in FROM: a declared table, or a relation over the rows of its query. */
function relationOf(
  source: SqlSource,
  from: AstNode,
  tables: Tables,
  start: number,
): { table: TableDef; alias?: string } {
  const at = locationOf(from, start);
  const alias = (from.alias as string) || undefined;
  if (from.type === 'SUBQUERY') {
    if (!alias) throw source.error(at, 'a subquery in FROM needs a name: (SELECT …) AS q');
    const sub = (from.subquery as { node: AstNode }).node;
    return { table: derivedTable(planQuery(source, sub, tables, start), alias, at), alias };
  }
  const name = String(from.table_name);
  const table = tables.get(name);
  if (table) return { table, alias };
  const view = tables.views?.get(name);
  if (view) return { table: derivedTable(planQuery(source, view, tables, start), name, at), alias };
  const known = [...tables.keys(), ...(tables.views?.keys() ?? [])];
  throw source.error(at, `unknown table ${name}${known.length ? ` (declared: ${known.join(', ')})` : ''}`);
}

/** TUMBLE(t, ts, size [, offset]), HOP(t, ts, slide, size [, offset]), SESSION(t, ts, gap): `args` after ts. */
function windowSpec(
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
function windowResultScope(
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
