// Type checking and compiling expressions of DuckDB's syntax tree into closures over rows: arithmetic, comparisons,
// AND/OR/NOT with SQL's three-valued logic, CASE, CAST, IS NULL, IN, BETWEEN, LIKE and the common scalar functions.
// Anything else is refused with its name and position, never evaluated some other way.
import { type AstNode, locationOf } from './parser.ts';
import { intervalMillis, type SqlSource } from './script.ts';
import { commonType, isNumeric, type SqlType, sqlTypeOf, toTimestamp, type Value } from './types.ts';

export interface Compiled {
  type: SqlType;
  // biome-ignore lint/suspicious/noExplicitAny: rows of a scope are its own shape (a source row, a window result)
  eval: (row: any) => Value;
  /** Set when the value does not depend on the row. */
  constant?: boolean;
}

export interface Scope {
  source: SqlSource;
  /** A column reference (its names as written: `[col]` or `[table, col]`). */
  column(names: string[], at: number): Compiled;
  /** A compiled reader when the whole node is a value of the scope (a GROUP BY key, an aggregate). */
  match?(node: AstNode, at: number): Compiled | undefined;
  /** What an aggregate function means here: an error to throw (the scope has no aggregation). */
  aggregateError(name: string, at: number): Error;
}

export const AGGREGATES = new Set([
  'count',
  'count_star',
  'sum',
  'min',
  'max',
  'avg',
  'approx_count_distinct',
  'approx_quantile',
  'percentile_approx',
]);

/** The node without its offsets and alias: equal keys are the same expression (a GROUP BY key in SELECT). */
export function structuralKey(node: unknown): string {
  return JSON.stringify(node, (key, value) => (key === 'query_location' || key === 'alias' ? undefined : value));
}

const constant = (type: SqlType, value: Value): Compiled => ({ type, eval: () => value, constant: true });

export function compile(node: AstNode, scope: Scope, parentAt = 0): Compiled {
  const at = locationOf(node, parentAt);
  const matched = scope.match?.(node, at);
  if (matched) return matched;
  const src = scope.source;
  switch (node.class) {
    case 'COLUMN_REF':
      return scope.column(node.column_names as string[], at);
    case 'CONSTANT':
      return compileConstant(node, scope, at);
    case 'CAST':
      return compileCast(node, scope, at);
    case 'COMPARISON':
      return compileComparison(
        node.type,
        compile(node.left as AstNode, scope, at),
        compile(node.right as AstNode, scope, at),
        src,
        at,
      );
    case 'BETWEEN': {
      const input = compile(node.input as AstNode, scope, at);
      const lower = compileComparison(
        'COMPARE_GREATERTHANOREQUALTO',
        input,
        compile(node.lower as AstNode, scope, at),
        src,
        at,
      );
      const upper = compileComparison(
        'COMPARE_LESSTHANOREQUALTO',
        input,
        compile(node.upper as AstNode, scope, at),
        src,
        at,
      );
      return logical('AND', [lower, upper]);
    }
    case 'CONJUNCTION': {
      const children = (node.children as AstNode[]).map((child) =>
        booleanOperand(compile(child, scope, at), src, at, node.type),
      );
      return logical(node.type === 'CONJUNCTION_AND' ? 'AND' : 'OR', children);
    }
    case 'OPERATOR':
      return compileOperator(node, scope, at);
    case 'CASE':
      return compileCase(node, scope, at);
    case 'FUNCTION':
      return compileFunction(node, scope, at);
    case 'WINDOW':
      throw src.unsupported(
        at,
        `${String(node.function_name ?? 'a window function')}(…) OVER (…)`,
        'OVER aggregates are not planned yet',
      );
    case 'SUBQUERY':
      throw src.unsupported(at, 'a subquery');
    case 'STAR':
      throw src.unsupported(at, '* inside an expression');
    default:
      throw src.unsupported(at, `the expression ${node.class ?? node.type}`);
  }
}

function compileConstant(node: AstNode, scope: Scope, at: number): Compiled {
  const v = node.value as { type: { id: string; type_info?: { scale?: number } }; is_null: boolean; value?: unknown };
  if (v.is_null) return constant('NULL', null);
  const id = v.type.id;
  if (id === 'DECIMAL') return constant('DOUBLE', Number(v.value) / 10 ** (v.type.type_info?.scale ?? 0));
  if (id === 'VARCHAR') return constant('VARCHAR', String(v.value));
  if (id === 'BOOLEAN') return constant('BOOLEAN', Boolean(v.value));
  const type = sqlTypeOf(id);
  if (type === 'BIGINT' || type === 'DOUBLE') return constant(type, Number(v.value));
  throw scope.source.unsupported(at, `a constant of type ${id}`);
}

function compileCast(node: AstNode, scope: Scope, at: number): Compiled {
  const target = (node.cast_type as { id: string }).id;
  const child = compile(node.child as AstNode, scope, at);
  const type = sqlTypeOf(target);
  if (!type) throw scope.source.unsupported(at, `CAST to ${target}`);
  if (type === 'INTERVAL') {
    const value = child.constant ? child.eval({}) : undefined;
    const ms = typeof value === 'string' ? intervalMillis(value) : undefined;
    if (ms === undefined) throw scope.source.error(at, `not an interval this planner knows: ${JSON.stringify(value)}`);
    return constant('INTERVAL', ms);
  }
  const convert = caster(child.type, type, scope.source, at);
  const f = child.eval;
  const compiled: Compiled = {
    type,
    eval: (row) => {
      const value = f(row);
      return value === null ? null : convert(value);
    },
  };
  return child.constant ? constant(type, compiled.eval({})) : compiled;
}

function caster(from: SqlType, to: SqlType, src: SqlSource, at: number): (v: Value) => Value {
  if (from === to || from === 'NULL') return (v) => v;
  switch (to) {
    case 'VARCHAR':
      return from === 'TIMESTAMP' ? (v) => new Date(v as number).toISOString() : (v) => String(v);
    case 'BIGINT':
      if (from === 'DOUBLE') return (v) => Math.trunc(v as number);
      if (from === 'TIMESTAMP') return (v) => v;
      if (from === 'BOOLEAN') return (v) => (v ? 1 : 0);
      if (from === 'VARCHAR') return (v) => parseNumber(v as string, true);
      break;
    case 'DOUBLE':
      if (from === 'BIGINT' || from === 'TIMESTAMP') return (v) => v;
      if (from === 'VARCHAR') return (v) => parseNumber(v as string, false);
      break;
    case 'BOOLEAN':
      if (from === 'VARCHAR') {
        return (v) => {
          const s = (v as string).trim().toLowerCase();
          if (['t', 'true', '1', 'yes', 'y'].includes(s)) return true;
          if (['f', 'false', '0', 'no', 'n'].includes(s)) return false;
          throw new TypeError(`cannot cast ${JSON.stringify(v)} to BOOLEAN`);
        };
      }
      if (isNumeric(from)) return (v) => v !== 0;
      break;
    case 'TIMESTAMP':
      if (from === 'BIGINT') return (v) => v;
      if (from === 'VARCHAR') {
        return (v) => {
          const ms = toTimestamp(v);
          if (ms === undefined) throw new TypeError(`cannot cast ${JSON.stringify(v)} to TIMESTAMP`);
          return ms;
        };
      }
      break;
  }
  throw src.error(at, `cannot CAST ${from} to ${to}`);
}

function parseNumber(s: string, integer: boolean): number {
  const n = Number(s.trim());
  if (s.trim() === '' || Number.isNaN(n)) throw new TypeError(`cannot cast ${JSON.stringify(s)} to a number`);
  return integer ? Math.trunc(n) : n;
}

const COMPARATORS: Record<string, (a: number | string | boolean, b: number | string | boolean) => boolean> = {
  COMPARE_EQUAL: (a, b) => a === b,
  COMPARE_NOTEQUAL: (a, b) => a !== b,
  COMPARE_LESSTHAN: (a, b) => a < b,
  COMPARE_GREATERTHAN: (a, b) => a > b,
  COMPARE_LESSTHANOREQUALTO: (a, b) => a <= b,
  COMPARE_GREATERTHANOREQUALTO: (a, b) => a >= b,
};

function comparable(a: SqlType, b: SqlType): boolean {
  if (a === 'NULL' || b === 'NULL' || a === b) return true;
  const numeric = (t: SqlType) => isNumeric(t) || t === 'TIMESTAMP';
  return numeric(a) && numeric(b);
}

/** A comparison; a VARCHAR constant beside a TIMESTAMP is read as a timestamp ('2024-05-01 10:00:00'). */
function compileComparison(op: string, left: Compiled, right: Compiled, src: SqlSource, at: number): Compiled {
  const compare = COMPARATORS[op];
  if (!compare) throw src.unsupported(at, `the comparison ${op.replace('COMPARE_', '')}`);
  const l = timestampConstant(left, right, src, at);
  const r = timestampConstant(right, left, src, at);
  if (!comparable(l.type, r.type)) throw src.error(at, `cannot compare ${l.type} with ${r.type}`);
  if (l.constant === true ? r.constant !== true : r.constant === true) {
    const constantLeft = l.constant === true;
    const value = (constantLeft ? l : r).eval({});
    if (value !== null) return compareWithConstant(op, constantLeft ? r.eval : l.eval, value, constantLeft);
  }
  const fl = l.eval;
  const fr = r.eval;
  return {
    type: 'BOOLEAN',
    eval: (row) => {
      const a = fl(row);
      if (a === null) return null;
      const b = fr(row);
      return b === null ? null : compare(a, b);
    },
  };
}

const JS_COMPARISONS: Record<string, string> = {
  COMPARE_EQUAL: '===',
  COMPARE_NOTEQUAL: '!==',
  COMPARE_LESSTHAN: '<',
  COMPARE_GREATERTHAN: '>',
  COMPARE_LESSTHANOREQUALTO: '<=',
  COMPARE_GREATERTHANOREQUALTO: '>=',
};

/**
 * `x < 10000` (or `10000 > x`): the comparison with the constant written into a function of its own (its own
 * inline caches, no comparator call per row; the hot case of WHERE and FILTER). `op` is one of JS_COMPARISONS.
 */
function compareWithConstant(op: string, f: Compiled['eval'], value: Value, constantLeft: boolean): Compiled {
  const test = constantLeft ? `c ${JS_COMPARISONS[op]} a` : `a ${JS_COMPARISONS[op]} c`;
  const evaluate = new Function('f', 'c', `return (row) => { const a = f(row); return a === null ? null : ${test}; };`);
  return { type: 'BOOLEAN', eval: evaluate(f, value) as Compiled['eval'] };
}

function timestampConstant(value: Compiled, other: Compiled, src: SqlSource, at: number): Compiled {
  if (other.type !== 'TIMESTAMP' || value.type !== 'VARCHAR' || !value.constant) return value;
  const ms = toTimestamp(value.eval({}));
  if (ms === undefined) throw src.error(at, `not a timestamp: ${JSON.stringify(value.eval({}))}`);
  return constant('TIMESTAMP', ms);
}

function booleanOperand(c: Compiled, src: SqlSource, at: number, what: string): Compiled {
  if (c.type !== 'BOOLEAN' && c.type !== 'NULL')
    throw src.error(at, `${what.replace(/^[A-Z]+_/, '')} needs BOOLEAN operands, got ${c.type}`);
  return c;
}

/** AND/OR over any number of operands with SQL's three-valued logic. */
function logical(op: 'AND' | 'OR', operands: Compiled[]): Compiled {
  const fs = operands.map((o) => o.eval);
  const decisive = op === 'OR';
  if (fs.length === 2) {
    // Two operands (a BETWEEN, most WHERE clauses): no loop on the hot path.
    const [a, b] = fs as [Compiled['eval'], Compiled['eval']];
    return {
      type: 'BOOLEAN',
      eval: (row) => {
        const x = a(row);
        if (x === decisive) return decisive;
        const y = b(row);
        if (y === decisive) return decisive;
        return x === null || y === null ? null : !decisive;
      },
    };
  }
  return {
    type: 'BOOLEAN',
    eval: (row) => {
      let unknown = false;
      for (const f of fs) {
        const v = f(row);
        if (v === null) unknown = true;
        else if (v === decisive) return decisive;
      }
      return unknown ? null : !decisive;
    },
  };
}

function compileOperator(node: AstNode, scope: Scope, at: number): Compiled {
  const src = scope.source;
  const children = (node.children as AstNode[]).map((child) => compile(child, scope, at));
  switch (node.type) {
    case 'OPERATOR_NOT': {
      const f = booleanOperand(children[0]!, src, at, 'NOT').eval;
      return { type: 'BOOLEAN', eval: (row) => (f(row) === null ? null : !f(row)) };
    }
    case 'OPERATOR_IS_NULL':
    case 'OPERATOR_IS_NOT_NULL': {
      const f = children[0]!.eval;
      const isNull = node.type === 'OPERATOR_IS_NULL';
      return { type: 'BOOLEAN', eval: (row) => (f(row) === null) === isNull };
    }
    case 'COMPARE_IN':
    case 'COMPARE_NOT_IN': {
      const [input, ...list] = children;
      const tests = list.map((item) => compileComparison('COMPARE_EQUAL', input!, item, src, at));
      const any = logical('OR', tests);
      if (node.type === 'COMPARE_IN') return any;
      const f = any.eval;
      return { type: 'BOOLEAN', eval: (row) => (f(row) === null ? null : !f(row)) };
    }
    case 'OPERATOR_COALESCE': {
      const type = commonType(children.map((c) => c.type));
      if (!type) throw src.error(at, `COALESCE of ${children.map((c) => c.type).join(', ')} has no common type`);
      const fs = children.map((c) => c.eval);
      return {
        type,
        eval: (row) => {
          for (const f of fs) {
            const v = f(row);
            if (v !== null) return v;
          }
          return null;
        },
      };
    }
    default:
      throw src.unsupported(at, `the operator ${node.type.replace('OPERATOR_', '').replace('COMPARE_', '')}`);
  }
}

function compileCase(node: AstNode, scope: Scope, at: number): Compiled {
  const checks = (node.case_checks as { when_expr: AstNode; then_expr: AstNode }[]).map((check) => ({
    when: booleanOperand(compile(check.when_expr, scope, at), scope.source, at, 'CASE WHEN'),
    result: compile(check.then_expr, scope, at),
  }));
  const otherwise = node.else_expr ? compile(node.else_expr as AstNode, scope, at) : constant('NULL', null);
  const type = commonType([...checks.map((c) => c.result.type), otherwise.type]);
  if (!type)
    throw scope.source.error(
      at,
      `the branches of CASE have no common type (${checks.map((c) => c.result.type).join(', ')})`,
    );
  const branches = checks.map((c) => [c.when.eval, c.result.eval] as const);
  const fallback = otherwise.eval;
  return {
    type,
    eval: (row) => {
      for (const [when, then] of branches) if (when(row) === true) return then(row);
      return fallback(row);
    },
  };
}

const INTERVAL_FUNCTIONS: Record<string, number> = {
  to_milliseconds: 1,
  to_seconds: 1000,
  to_minutes: 60_000,
  to_hours: 3_600_000,
  to_days: 86_400_000,
};

function compileFunction(node: AstNode, scope: Scope, at: number): Compiled {
  const src = scope.source;
  const name = String(node.function_name).toLowerCase();
  if (AGGREGATES.has(name)) throw scope.aggregateError(name, at);
  const interval = INTERVAL_FUNCTIONS[name];
  const args = (node.children as AstNode[]).map((child) => compile(child, scope, at));
  if (interval !== undefined) {
    // DuckDB writes INTERVAL '10' SECOND as to_seconds(CAST('10' AS DOUBLE)).
    const amount = args[0];
    if (!amount?.constant || !isNumeric(amount.type)) throw src.unsupported(at, `${name}() of a non-constant`);
    return constant('INTERVAL', (amount.eval({}) as number) * interval);
  }
  if (node.is_operator === true) return compileOperatorFunction(name, args, src, at);
  if (name === 'proctime') {
    // Flink's PROCTIME(): the wall clock as the row is computed; a window over it is a processing-time window.
    if (args.length > 0) throw src.error(at, 'PROCTIME() takes no arguments');
    return { type: 'TIMESTAMP', eval: () => Date.now() };
  }
  if (name === 'date_format') return compileDateFormat(node, args, src, at);
  const scalar = SCALARS[name];
  if (!scalar) {
    const supported = [...Object.keys(SCALARS), 'date_format'].sort().join(', ');
    throw src.unsupported(at, `the function ${name}()`, `supported: ${supported}`);
  }
  const [min, max] = scalar.arity;
  if (args.length < min || args.length > max) {
    throw src.error(at, `${name}() takes ${min === max ? min : `${min} to ${max}`} arguments, got ${args.length}`);
  }
  const type = scalar.check(args.map((a) => a.type));
  if (!type) throw src.error(at, `${name}() does not take (${args.map((a) => a.type).join(', ')})`);
  const fs = args.map((a) => a.eval);
  const apply = scalar.apply;
  const nulls = scalar.nulls === true;
  const [f0, f1] = fs as [Compiled['eval'], Compiled['eval']];
  // One and two arguments (most calls: mod, abs, lower…) without the general path's array per row.
  const compiled: Compiled = {
    type,
    eval:
      fs.length === 1
        ? (row) => {
            const a = f0(row);
            return a === null && !nulls ? null : apply([a] as never[]);
          }
        : fs.length === 2
          ? (row) => {
              const a = f0(row);
              const b = f1(row);
              return (a === null || b === null) && !nulls ? null : apply([a, b] as never[]);
            }
          : (row) => {
              const values = fs.map((f) => f(row));
              if (!nulls && values.includes(null)) return null;
              return apply(values as never[]);
            },
  };
  return args.every((a) => a.constant) ? constant(type, compiled.eval({})) : compiled;
}

function compileOperatorFunction(name: string, args: Compiled[], src: SqlSource, at: number): Compiled {
  if (name === '-' && args.length === 1) {
    const [a] = args;
    if (!isNumeric(a!.type) && a!.type !== 'INTERVAL') throw src.error(at, `cannot negate ${a!.type}`);
    const f = a!.eval;
    return { type: a!.type, eval: (row) => (f(row) === null ? null : -(f(row) as number)), constant: a!.constant };
  }
  const [a, b] = args as [Compiled, Compiled];
  const fa = a.eval;
  const fb = b.eval;
  const binary = (type: SqlType, op: (x: never, y: never) => Value): Compiled => ({
    type,
    eval: (row) => {
      const x = fa(row);
      if (x === null) return null;
      const y = fb(row);
      return y === null ? null : op(x as never, y as never);
    },
  });
  if (name === '||') {
    if (a.type === 'BOOLEAN' || b.type === 'BOOLEAN')
      throw src.error(at, `|| takes strings, got ${a.type} and ${b.type}`);
    return binary('VARCHAR', (x: Value, y: Value) => `${x}${y}`);
  }
  if (name === '~~' || name === '!~~') {
    if (a.type !== 'VARCHAR' || b.type !== 'VARCHAR')
      throw src.error(at, `LIKE takes strings, got ${a.type} and ${b.type}`);
    const negate = name === '!~~';
    const cache = new Map<string, RegExp>();
    return binary('BOOLEAN', (x: string, y: string) => {
      let re = cache.get(y);
      if (!re) cache.set(y, (re = likePattern(y)));
      return re.test(x) !== negate;
    });
  }
  // Time arithmetic: TIMESTAMP ± INTERVAL, TIMESTAMP - TIMESTAMP (milliseconds).
  if (a.type === 'TIMESTAMP' || b.type === 'TIMESTAMP' || a.type === 'INTERVAL' || b.type === 'INTERVAL') {
    const types = `${a.type} ${name} ${b.type}`;
    if (types === 'TIMESTAMP + INTERVAL' || types === 'TIMESTAMP - INTERVAL' || types === 'INTERVAL + TIMESTAMP') {
      return binary('TIMESTAMP', name === '-' ? (x: number, y: number) => x - y : (x: number, y: number) => x + y);
    }
    if (types === 'TIMESTAMP - TIMESTAMP') return binary('INTERVAL', (x: number, y: number) => x - y);
    throw src.error(at, `cannot compute ${types}`);
  }
  if (!isNumeric(a.type) || !isNumeric(b.type))
    throw src.error(at, `${name} takes numbers, got ${a.type} and ${b.type}`);
  const integer = a.type !== 'DOUBLE' && b.type !== 'DOUBLE';
  const type: SqlType = integer ? 'BIGINT' : 'DOUBLE';
  switch (name) {
    case '+':
      return binary(type, (x: number, y: number) => x + y);
    case '-':
      return binary(type, (x: number, y: number) => x - y);
    case '*':
      return binary(type, (x: number, y: number) => x * y);
    case '/':
      // Integer division of integers, as Flink SQL does; division by zero is NULL.
      return binary(
        type,
        integer
          ? (x: number, y: number) => (y === 0 ? null : Math.trunc(x / y))
          : (x: number, y: number) => (y === 0 ? null : x / y),
      );
    case '%':
      return binary(type, (x: number, y: number) => (y === 0 ? null : x % y));
    default:
      throw src.unsupported(at, `the operator ${name}`);
  }
}

function likePattern(pattern: string): RegExp {
  let re = '';
  for (const ch of pattern) {
    if (ch === '%') re += '.*';
    else if (ch === '_') re += '.';
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

interface ScalarFunction {
  arity: [number, number];
  /** The result type for these argument types, undefined when they do not fit. */
  check: (types: SqlType[]) => SqlType | undefined;
  apply: (values: never[]) => Value;
  /** Called with NULL arguments too (otherwise any NULL argument gives NULL). */
  nulls?: boolean;
}

const allNumeric = (types: SqlType[]) => types.every(isNumeric);
const stringFn =
  (result: SqlType, rest: SqlType[] = []) =>
  (types: SqlType[]) =>
    (types[0] === 'VARCHAR' || types[0] === 'NULL') &&
    types.slice(1).every((t, i) => t === 'NULL' || t === (rest[i] ?? t))
      ? result
      : undefined;
const numberFn = (types: SqlType[]) =>
  allNumeric(types) ? (types.includes('DOUBLE') ? 'DOUBLE' : 'BIGINT') : undefined;

const SCALARS: Record<string, ScalarFunction> = {
  lower: { arity: [1, 1], check: stringFn('VARCHAR'), apply: ([s]: string[]) => s!.toLowerCase() },
  upper: { arity: [1, 1], check: stringFn('VARCHAR'), apply: ([s]: string[]) => s!.toUpperCase() },
  trim: { arity: [1, 1], check: stringFn('VARCHAR'), apply: ([s]: string[]) => s!.trim() },
  length: { arity: [1, 1], check: stringFn('BIGINT'), apply: ([s]: string[]) => [...s!].length },
  char_length: { arity: [1, 1], check: stringFn('BIGINT'), apply: ([s]: string[]) => [...s!].length },
  substring: {
    arity: [2, 3],
    check: stringFn('VARCHAR', ['BIGINT', 'BIGINT']),
    apply: (values: Value[]) => {
      const chars = [...(values[0] as string)];
      const start = values[1] as number;
      const length = values[2] as number | undefined;
      return chars.slice(Math.max(start - 1, 0), length === undefined ? undefined : start - 1 + length).join('');
    },
  },
  replace: {
    arity: [3, 3],
    check: stringFn('VARCHAR', ['VARCHAR', 'VARCHAR']),
    apply: ([s, from, to]: string[]) => s!.split(from!).join(to!),
  },
  concat: {
    arity: [1, 64],
    check: (types) => (types.includes('BOOLEAN') ? undefined : 'VARCHAR'),
    apply: (values: Value[]) => values.map((v) => (v === null ? '' : String(v))).join(''),
    nulls: true,
  },
  abs: { arity: [1, 1], check: numberFn, apply: ([x]: number[]) => Math.abs(x!) },
  floor: { arity: [1, 1], check: numberFn, apply: ([x]: number[]) => Math.floor(x!) },
  trunc: { arity: [1, 1], check: numberFn, apply: ([x]: number[]) => Math.trunc(x!) },
  ceil: { arity: [1, 1], check: numberFn, apply: ([x]: number[]) => Math.ceil(x!) },
  ceiling: { arity: [1, 1], check: numberFn, apply: ([x]: number[]) => Math.ceil(x!) },
  round: {
    arity: [1, 2],
    check: (types) => (allNumeric(types) ? types[0] : undefined),
    apply: ([x, digits = 0]: number[]) => {
      const scale = 10 ** digits;
      return (Math.sign(x!) * Math.round(Math.abs(x!) * scale)) / scale;
    },
  },
  mod: { arity: [2, 2], check: numberFn, apply: ([x, y]: number[]) => (y === 0 ? null : x! % y!) },
  power: {
    arity: [2, 2],
    check: (types) => (allNumeric(types) ? 'DOUBLE' : undefined),
    apply: ([x, y]: number[]) => x! ** y!,
  },
  sqrt: {
    arity: [1, 1],
    check: (types) => (allNumeric(types) ? 'DOUBLE' : undefined),
    apply: ([x]: number[]) => Math.sqrt(x!),
  },
  greatest: {
    arity: [1, 64],
    check: (types) => commonType(types),
    apply: (values: Value[]) => values.reduce((a, b) => (b !== null && (a === null || b > a) ? b : a), null),
    nulls: true,
  },
  least: {
    arity: [1, 64],
    check: (types) => commonType(types),
    apply: (values: Value[]) => values.reduce((a, b) => (b !== null && (a === null || b < a) ? b : a), null),
    nulls: true,
  },
  nullif: {
    arity: [2, 2],
    check: (types) => (commonType(types) ? types[0] : undefined),
    apply: ([a, b]: Value[]) => (a === b ? null : (a ?? null)),
    nulls: true,
  },
};

/**
 * Flink's DATE_FORMAT(timestamp, pattern): the time (UTC milliseconds, as every TIMESTAMP here) written with Java
 * SimpleDateFormat's letters, in UTC; a VARCHAR first argument is read as a timestamp first. A constant pattern is
 * checked when the query is planned (an unsupported letter refused at its position), another when a row needs it.
 */
function compileDateFormat(node: AstNode, args: Compiled[], src: SqlSource, at: number): Compiled {
  if (args.length !== 2) throw src.error(at, `date_format() takes 2 arguments, got ${args.length}`);
  const [time, pattern] = args as [Compiled, Compiled];
  if (!['TIMESTAMP', 'VARCHAR', 'NULL'].includes(time.type) || !['VARCHAR', 'NULL'].includes(pattern.type)) {
    throw src.error(at, `date_format() takes (TIMESTAMP, VARCHAR), got (${time.type}, ${pattern.type})`);
  }
  const readTime = time.eval;
  const ms =
    time.type === 'VARCHAR'
      ? (row: unknown) => {
          const v = readTime(row);
          if (v === null) return null;
          const t = toTimestamp(v);
          if (t === undefined) throw new TypeError(`date_format(): not a timestamp: ${JSON.stringify(v)}`);
          return t;
        }
      : (readTime as (row: unknown) => number | null);
  if (pattern.constant) {
    const text = pattern.eval({});
    if (text === null) return constant('VARCHAR', null);
    const patternAt = locationOf((node.children as AstNode[])[1], at);
    const format = dateFormatter(text as string, (message) => src.unsupported(patternAt, message, DATE_FORMAT_HINT));
    const compiled: Compiled = {
      type: 'VARCHAR',
      eval: (row) => {
        const t = ms(row);
        return t === null ? null : format(t);
      },
    };
    return time.constant ? constant('VARCHAR', compiled.eval({})) : compiled;
  }
  const readPattern = pattern.eval;
  const formats = new Map<string, (ms: number) => string>();
  return {
    type: 'VARCHAR',
    eval: (row) => {
      const t = ms(row);
      const p = readPattern(row) as string | null;
      if (t === null || p === null) return null;
      let format = formats.get(p);
      if (!format) {
        format = dateFormatter(p, (message) => new TypeError(`date_format(): ${message}`));
        if (formats.size < 64) formats.set(p, format);
      }
      return format(t);
    },
  };
}

const DATE_FORMAT_HINT =
  "DATE_FORMAT takes SimpleDateFormat's y, M, d, H, h, k, K, m, s, SSS, a, E and D, text in '…' and other characters as they are (in UTC)";

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

const padded = (n: number, width: number) => {
  const s = String(n);
  return s.length >= width ? s : '0'.repeat(width - s.length) + s;
};

/** The units of time (ms) that each letter reads: the formatted text changes only when the time crosses one. */
const LETTER_UNIT: Record<string, number> = {
  y: 86_400_000,
  M: 86_400_000,
  d: 86_400_000,
  D: 86_400_000,
  E: 86_400_000,
  a: 3_600_000,
  H: 3_600_000,
  h: 3_600_000,
  k: 3_600_000,
  K: 3_600_000,
  m: 60_000,
  s: 1000,
  S: 1,
};

/**
 * A SimpleDateFormat pattern as a function of UTC milliseconds: runs of a letter are fields (`yyyy`, `MM`, `HH`…),
 * text in single quotes is literal (`''` a quote), any other character is itself. The last result is kept: times
 * within the pattern's finest unit (a day for 'yyyy-MM-dd') give it again without formatting.
 */
export function dateFormatter(pattern: string, refuse: (message: string) => Error): (ms: number) => string {
  type Part = string | ((d: Date) => string);
  const parts: Part[] = [];
  let unit = 86_400_000;
  let literal = '';
  for (let i = 0; i < pattern.length; ) {
    const c = pattern[i]!;
    if (c === "'") {
      // Quoted text is literal; '' is a quote, inside quoted text or outside it.
      if (pattern[i + 1] === "'") {
        literal += "'";
        i += 2;
        continue;
      }
      for (i++; ; ) {
        if (i >= pattern.length) {
          throw refuse(`an unterminated quote in the DATE_FORMAT pattern ${JSON.stringify(pattern)}`);
        }
        if (pattern[i] !== "'") literal += pattern[i++];
        else if (pattern[i + 1] === "'") {
          literal += "'";
          i += 2;
        } else {
          i++;
          break;
        }
      }
      continue;
    }
    if (!/[A-Za-z]/.test(c)) {
      literal += c;
      i++;
      continue;
    }
    let n = 1;
    while (pattern[i + n] === c) n++;
    const field = fieldOf(c, n);
    if (!field) {
      throw refuse(`the DATE_FORMAT pattern letter ${c.repeat(n)} (at offset ${i} of ${JSON.stringify(pattern)})`);
    }
    if (literal) parts.push(literal);
    literal = '';
    parts.push(field);
    unit = Math.min(unit, LETTER_UNIT[c]!);
    i += n;
  }
  if (literal) parts.push(literal);
  const date = new Date(0);
  let lastKey = Number.NaN;
  let last = '';
  return (ms) => {
    const key = Math.floor(ms / unit);
    if (key === lastKey) return last;
    date.setTime(ms);
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : part(date);
    lastKey = key;
    last = out;
    return out;
  };
}

function fieldOf(letter: string, n: number): ((d: Date) => string) | undefined {
  switch (letter) {
    case 'y':
      return n === 2 ? (d) => padded(d.getUTCFullYear() % 100, 2) : (d) => padded(d.getUTCFullYear(), n);
    case 'M':
      if (n === 3) return (d) => MONTHS[d.getUTCMonth()]!.slice(0, 3);
      if (n > 3) return (d) => MONTHS[d.getUTCMonth()]!;
      return (d) => padded(d.getUTCMonth() + 1, n);
    case 'd':
      return (d) => padded(d.getUTCDate(), n);
    case 'D':
      return (d) => padded(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1, n);
    case 'E':
      return n > 3 ? (d) => DAYS[d.getUTCDay()]! : (d) => DAYS[d.getUTCDay()]!.slice(0, 3);
    case 'a':
      return (d) => (d.getUTCHours() < 12 ? 'AM' : 'PM');
    case 'H':
      return (d) => padded(d.getUTCHours(), n);
    case 'k':
      return (d) => padded(d.getUTCHours() || 24, n);
    case 'K':
      return (d) => padded(d.getUTCHours() % 12, n);
    case 'h':
      return (d) => padded(d.getUTCHours() % 12 || 12, n);
    case 'm':
      return (d) => padded(d.getUTCMinutes(), n);
    case 's':
      return (d) => padded(d.getUTCSeconds(), n);
    case 'S':
      // Milliseconds: SimpleDateFormat pads them to the letters' count, Flink's formatter (java.time) reads S as a
      // fraction of a second; the two agree on SSS only.
      return n === 3 ? (d) => padded(d.getUTCMilliseconds(), 3) : undefined;
    default:
      return undefined;
  }
}
