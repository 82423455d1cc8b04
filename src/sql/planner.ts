import { type Compiled, compile, type Scope, structuralKey } from './expressions.ts';
import { joinTime, planJoin, primaryKeyPartition, rowExpiry } from './join-planner.ts';
import { checkLateTopics } from './late-topics.ts';
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
import { derivedTable, groupWindow, timesOf, withQueries } from './relations.ts';
import { inputScope, planOutputs, predicate, project, windowResultScope } from './scopes.ts';
import {
  blankFlinkTableSyntax,
  isWord,
  parseCreateTable,
  parseMaterializedView,
  SqlSource,
  type Statement,
  splitStatements,
  type TableDef,
} from './script.ts';
import { hasRowNumber, planRowNumber } from './top-n.ts';
import { assignable, type SqlType } from './types.ts';
import { planUnion } from './union.ts';
import { containsOver, planOver, windowSpec } from './window-planner.ts';

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
  let fromAlias: string | undefined;
  if (from.type === 'JOIN') {
    ({ table, join, scope: input, where } = planJoin(source, node, from, tables, start, relationOf));
  } else {
    let alias: string | undefined;
    ({ table, window, alias } = planFrom(source, from, tables, start));
    fromAlias = alias;
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
    // A window TVF read as rows (no GROUP BY): its WHERE may read the window's columns, planned with them below.
    const rows = window !== undefined && ((node.group_expressions as AstNode[] | undefined) ?? []).length === 0;
    where =
      node.where_clause && !rows ? predicate(source, node.where_clause as AstNode, input, start, 'WHERE') : undefined;
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
    // TUMBLE or HOP without GROUP BY: the rows with their windows (a window join reads two such relations).
    if (node.having || (window.kind !== 'tumbling' && window.kind !== 'sliding') || window.processingTime) {
      const kind = window.processingTime
        ? 'a processing-time'
        : window.kind === 'session'
          ? 'a SESSION'
          : window.kind === 'cumulate'
            ? 'a CUMULATE'
            : 'a';
      throw source.unsupported(
        locationOf(from, start),
        `${kind} window TVF without GROUP BY window_start, window_end`,
        'aggregate it with GROUP BY window_start, window_end, … (TUMBLE and HOP over event time are also read as rows)',
      );
    }
    const rowsTable: TableDef = {
      ...table,
      columns: [
        ...table.columns,
        ...['window_start', 'window_end', 'window_time'].map((name) => ({
          name,
          type: 'TIMESTAMP' as const,
          notNull: true,
          at: locationOf(from, start),
        })),
      ],
    };
    table.derived?.used.add(table.watermark!.column); // the windows are computed from it
    const rowsInput = inputScope(source, rowsTable, fromAlias, false);
    const rowsWhere = node.where_clause
      ? predicate(source, node.where_clause as AstNode, rowsInput, start, 'WHERE')
      : undefined;
    const outputs = selectList.flatMap((item, i) => project(source, item, i, rowsInput, rowsTable, start, times));
    return {
      source: table,
      ...(rowsWhere ? { where: rowsWhere } : {}),
      keys: [],
      aggregates: [],
      outputs,
      updating: false,
      windowRows: window,
    };
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

/** Aggregates whose accumulators take a retraction (an updating input's replaced row). */
const RETRACTABLE = new Set<AggregateFunction>(['count_star', 'count', 'sum', 'avg']);

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
