// Generated accessors for the hot path: one function per column name reading `row.name` (a named property load
// with its own inline cache; one shared closure reading `row[key]` for every column sees every row shape and goes
// megamorphic), and one per projection building its output row as an object literal (one hidden class from the
// start). The names are embedded as JSON string literals, never as code.
import type { Row, SqlType, Value } from './types.ts';

// biome-ignore lint/suspicious/noExplicitAny: rows of a scope are its own shape
type Reader = (row: any) => Value;

const readers = new Map<string, Reader>();

/** `(row) => row[name]`, generated once per name (and per joined side: `row.l[name]`). */
export function fieldReader(name: string, side?: 'l' | 'r'): Reader {
  const id = `${side ?? ''}.${name}`;
  let reader = readers.get(id);
  if (!reader) {
    const path = side === undefined ? 'row' : `row.${side}`;
    reader = new Function('row', `return ${path}[${JSON.stringify(name)}];`) as Reader;
    readers.set(id, reader);
  }
  return reader;
}

/** `(row) => ({ [names[0]]: fns[0](row), … })`: a projection's output row. */
export function rowBuilder(names: readonly string[], fns: readonly Reader[]): (row: unknown) => Row {
  const params = fns.map((_, i) => `f${i}`);
  const body = names.map((name, i) => `${JSON.stringify(name)}: f${i}(row)`).join(', ');
  return new Function(...params, `return (row) => ({ ${body} });`)(...fns) as (row: unknown) => Row;
}

const NUMERIC_KEY = new Set<SqlType>(['BIGINT', 'DOUBLE', 'TIMESTAMP']);

/**
 * The key of several GROUP BY values and back: numbers joined by commas (no value of those types holds one; NULL is
 * `null`), JSON for any other mix of types.
 */
export function compositeKey(
  types: readonly SqlType[],
  fns: readonly Reader[],
): { encode: (row: Row) => Value; decode: (key: Value) => Value[] } {
  if (fns.length > 0 && types.every((t) => NUMERIC_KEY.has(t))) {
    const params = fns.map((_, i) => `f${i}`);
    const body = params.map((f) => `${f}(row)`).join(" + ',' + ");
    return {
      encode: new Function(...params, `return (row) => ${body};`)(...fns) as (row: Row) => Value,
      decode: (key) => (key as string).split(',').map((s) => (s === 'null' ? null : Number(s))),
    };
  }
  return {
    encode: (row) => JSON.stringify(fns.map((f) => f(row))),
    decode: (key) => JSON.parse(key as string) as Value[],
  };
}
