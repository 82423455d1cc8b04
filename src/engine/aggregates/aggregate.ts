// Incremental aggregates: create an accumulator, add values, merge two accumulators (for panes, sessions and
// parallel partial results), read the result. Accumulators must survive v8.serialize (checkpoints).

export interface Aggregate<T, Acc, R> {
  create(): Acc;
  /** Adds one value; may mutate and return `acc`. */
  add(acc: Acc, value: T): Acc;
  /** Combines two accumulators; may mutate and return `a`, never changes `b`. */
  merge(a: Acc, b: Acc): Acc;
  result(acc: Acc): R;
}

// biome-ignore lint/suspicious/noExplicitAny: an aggregate of any accumulator type
export type AnyAggregate<T> = Aggregate<T, any, unknown>;
export type ResultOf<A> = A extends Aggregate<never, unknown, infer R> ? R : never;

type Field<T> = (value: T) => number;

export function count<T = unknown>(): Aggregate<T, number, number> {
  return { create: () => 0, add: (acc) => acc + 1, merge: (a, b) => a + b, result: (acc) => acc };
}

export function sum<T>(field: Field<T>): Aggregate<T, number, number> {
  return { create: () => 0, add: (acc, v) => acc + field(v), merge: (a, b) => a + b, result: (acc) => acc };
}

export function min<T>(field: Field<T>): Aggregate<T, number, number | null> {
  return {
    create: () => Number.POSITIVE_INFINITY,
    add: (acc, v) => Math.min(acc, field(v)),
    merge: (a, b) => Math.min(a, b),
    result: (acc) => (acc === Number.POSITIVE_INFINITY ? null : acc),
  };
}

export function max<T>(field: Field<T>): Aggregate<T, number, number | null> {
  return {
    create: () => Number.NEGATIVE_INFINITY,
    add: (acc, v) => Math.max(acc, field(v)),
    merge: (a, b) => Math.max(a, b),
    result: (acc) => (acc === Number.NEGATIVE_INFINITY ? null : acc),
  };
}

export function avg<T>(field: Field<T>): Aggregate<T, { sum: number; count: number }, number | null> {
  return {
    create: () => ({ sum: 0, count: 0 }),
    add: (acc, v) => {
      acc.sum += field(v);
      acc.count++;
      return acc;
    },
    merge: (a, b) => {
      a.sum += b.sum;
      a.count += b.count;
      return a;
    },
    result: (acc) => (acc.count === 0 ? null : acc.sum / acc.count),
  };
}

/** Exact distinct count (memory grows with the number of distinct values; see approxDistinct). */
export function distinctCount<T>(field: (value: T) => unknown): Aggregate<T, Set<unknown>, number> {
  return {
    create: () => new Set(),
    add: (acc, v) => acc.add(field(v)),
    merge: (a, b) => {
      for (const x of b) a.add(x);
      return a;
    },
    result: (acc) => acc.size,
  };
}

/** The `n` most frequent values with their counts, most frequent first (ties: smaller value first). */
export function topN<T>(
  field: (value: T) => string | number,
  n: number,
): Aggregate<T, Map<string | number, number>, { value: string | number; count: number }[]> {
  return {
    create: () => new Map(),
    add: (acc, v) => {
      const key = field(v);
      acc.set(key, (acc.get(key) ?? 0) + 1);
      return acc;
    },
    merge: (a, b) => {
      for (const [key, c] of b) a.set(key, (a.get(key) ?? 0) + c);
      return a;
    },
    result: (acc) =>
      [...acc]
        .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
        .slice(0, n)
        .map(([value, c]) => ({ value, count: c })),
  };
}

/** Several aggregates over the same records, one result object: `multi({ cnt: count(), total: sum(f) })`. */
export function multi<T, A extends Record<string, AnyAggregate<T>>>(
  parts: A,
): Aggregate<T, Record<string, unknown>, { [K in keyof A]: ResultOf<A[K]> }> {
  const names = Object.keys(parts);
  const aggs = names.map((name) => parts[name]!);
  return {
    create: () => {
      const acc: Record<string, unknown> = {};
      for (let i = 0; i < names.length; i++) acc[names[i]!] = aggs[i]!.create();
      return acc;
    },
    add: (acc, v) => {
      for (let i = 0; i < names.length; i++) acc[names[i]!] = aggs[i]!.add(acc[names[i]!], v);
      return acc;
    },
    merge: (a, b) => {
      for (let i = 0; i < names.length; i++) a[names[i]!] = aggs[i]!.merge(a[names[i]!], b[names[i]!]);
      return a;
    },
    result: (acc) => {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < names.length; i++) out[names[i]!] = aggs[i]!.result(acc[names[i]!]);
      return out as { [K in keyof A]: ResultOf<A[K]> };
    },
  };
}
