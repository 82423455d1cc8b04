// Planning a join: the two relations of FROM, their equal keys and time bounds from ON and WHERE (an interval join
// with both bounds, else a regular join with state expiry from its time conditions), conditions of one side pushed
// before the join, and what a GROUP BY over a regular join can key on.
import { fieldReader } from './codegen.ts';
import { type Compiled, compile, type Scope } from './expressions.ts';
import { type AstNode, locationOf } from './parser.ts';
import type { JoinPlan, OutputColumn, QueryPlan, Tables, WindowSpec } from './plan.ts';
import { extremumJoin } from './prune.ts';
import { timesOf } from './relations.ts';
import { and, constantScope, predicate } from './scopes.ts';
import type { ColumnDef, SqlSource, TableDef } from './script.ts';

type Side = 'l' | 'r';

/**
 * A join's input: equal keys, and bounds between the two sides' times, from ON and (an inner join's) WHERE. With
 * a lower and an upper bound it is an interval join; without, a regular join (each side kept in keyed state).
 * Conditions on one side are applied before the join; the others over the joined row `{ l, r }`.
 */
export function planJoin(
  source: SqlSource,
  node: AstNode,
  from: AstNode,
  tables: Tables,
  start: number,
  /** The planner's reading of a table, view or subquery in FROM (a subquery is planned as a query). */
  relationOf: (source: SqlSource, from: AstNode, tables: Tables, start: number) => { table: TableDef; alias?: string },
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
  const window = windowJoin(
    source,
    at,
    sides,
    keyPairs,
    (n) => sideOf(n.column_names as string[], locationOf(n, at)),
    expiry,
  );
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
    ...(window ? { window } : {}),
    ...(uniqueSides.l || uniqueSides.r ? { unique: uniqueSides } : {}),
  };
  return { table: sides[0].table, join, scope: joined, ...(where ? { where } : {}) };
}

/**
 * An interval join's row has the time of its later side (the engine's max of the two): when the bounds make one side
 * never the earlier (upper <= 0: the left; lower >= 0: the right), a selected time column of that side still tells
 * the row's time (a click's `ts` joined with its earlier view), so a window or a UNION ALL over the join may use it.
 */
export function joinTime(output: OutputColumn, join: JoinPlan, left: TableDef): OutputColumn {
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
export function primaryKeyPartition(
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
export function rowExpiry(join: JoinPlan, side: 'l' | 'r'): Compiled['eval'] | undefined {
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

/**
 * A join of window TVF relations read as rows (QueryPlan.windowRows, TUMBLE or HOP without GROUP BY): Flink's window
 * join, which needs `L.window_start = R.window_start AND L.window_end = R.window_end`. It is then a regular join on
 * the keys and the window, each side's row forgotten once the watermark reaches its window_time (window_end − 1 ms):
 * no on-time row of the other side can fall in its window after. Refused otherwise (its state would grow unbounded).
 */
function windowJoin(
  source: SqlSource,
  at: number,
  sides: [{ table: TableDef; alias: string }, { table: TableDef; alias: string }],
  keyPairs: [AstNode, AstNode][],
  sideOf: (n: AstNode) => { side: Side; column: ColumnDef },
  expiry: Record<Side, { afterTime?: number; columns: Compiled['eval'][] }>,
): WindowSpec | undefined {
  /** The side's relation is a window TVF's rows and passes its window column `name` through under that name. */
  const windowColumn = (table: TableDef, name: string): boolean => {
    const query = table.derived?.query as QueryPlan | undefined;
    return (
      query?.windowRows !== undefined && query.outputs.some((o) => o.name === name && o.eval === fieldReader(name))
    );
  };
  const windowed = sides.map((s) => (s.table.derived?.query as QueryPlan | undefined)?.windowRows !== undefined);
  if (!windowed[0] && !windowed[1]) return undefined;
  const equated = (name: string): boolean =>
    keyPairs.some(([l, r]) => {
      if (l.class !== 'COLUMN_REF' || r.class !== 'COLUMN_REF') return false;
      const [a, b] = [sideOf(l), sideOf(r)];
      return (
        a.side === 'l' &&
        b.side === 'r' &&
        a.column.name === name &&
        b.column.name === name &&
        windowColumn(sides[0].table, name) &&
        windowColumn(sides[1].table, name)
      );
    });
  if (!windowed[0] || !windowed[1] || !equated('window_start') || !equated('window_end')) {
    const [l, r] = [sides[0].alias, sides[1].alias];
    throw source.unsupported(
      at,
      'a join of a window TVF without GROUP BY other than a window join',
      `join two window TVFs ON … AND ${l}.window_start = ${r}.window_start AND ${l}.window_end = ${r}.window_end`,
    );
  }
  const end = fieldReader('window_end');
  const until: Compiled['eval'] = (row) => {
    const v = end(row);
    return v === null ? null : (v as number) - 1;
  };
  expiry.l.columns.push(until);
  expiry.r.columns.push(until);
  return (sides[0].table.derived!.query as QueryPlan).windowRows;
}
