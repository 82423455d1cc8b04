// Generated accessors for the hot path: one function per column name reading `row.name` (a named property load
// with its own inline cache; one shared closure reading `row[key]` for every column sees every row shape and goes
// megamorphic), and one per projection building its output row as an object literal (one hidden class from the
// start). The names are embedded as JSON string literals, never as code.
import type { Row, Value } from './types.ts';

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
