// The SQL aggregate functions as the engine's Aggregates: one accumulator per call, all of a query's in one array
// (checkpointed with the keyed state or the window that holds it).
import { type Aggregate, agg } from '../engine/index.ts';
import type { AggregateCall } from './plan.ts';
import type { Row, Value } from './types.ts';

export type Acc = number | null | { s: number; n: number } | Set<Value> | Value;

/** Every aggregate of one window GROUP BY in one accumulator array (serializable for checkpoints). */
export function sqlAggregates(calls: AggregateCall[]): Aggregate<Row, Acc[], Value[]> & {
  /** The results written into `out` (a scratch array: no allocation per record). */
  resultInto(accs: Acc[], out: Value[]): Value[];
  /** Whether the results are `values` (a GROUP BY's row unchanged by a record: nothing to emit). */
  sameResult(accs: Acc[], values: Value[]): boolean;
} {
  const parts = calls.map(aggregateOf);
  // FILTER (WHERE cond): the calls' arguments are filtered already (NULL where cond is not TRUE), which is how a
  // retraction reads them. Adding, each distinct condition is tested once per record and the calls under it take
  // the record with their unfiltered argument (q15 tests three conditions instead of nine).
  const conditions: ((row: Row) => Value)[] = [];
  const conditionOf = calls.map(() => -1);
  const keys = new Map<string, number>();
  const plain = calls.map((call, i) => {
    if (!call.filter) return call;
    let c = keys.get(call.filter.key);
    if (c === undefined) {
      c = conditions.push(call.filter.cond.eval) - 1;
      keys.set(call.filter.key, c);
    }
    conditionOf[i] = c;
    const unfiltered: AggregateCall =
      call.filter.arg === undefined
        ? { fn: 'count_star', distinct: false, type: call.type }
        : { ...call, arg: call.filter.arg };
    parts[i] = aggregateOf(unfiltered);
    return unfiltered;
  });
  const { add, resultInto } = fused(plain, parts, conditions, conditionOf);
  return {
    resultInto,
    sameResult: (accs, values) => {
      for (let i = 0; i < parts.length; i++) if (parts[i]!.result(accs[i]!) !== values[i]) return false;
      return true;
    },
    create: () => parts.map((p) => p.create()),
    add,
    merge: (a, b) => {
      for (let i = 0; i < parts.length; i++) a[i] = parts[i]!.merge(a[i]!, b[i]!);
      return a;
    },
    result: (accs) => {
      const out: Value[] = [];
      for (let i = 0; i < parts.length; i++) out.push(parts[i]!.result(accs[i]!));
      return out;
    },
  };
}

/**
 * The per-record work of all the calls as one generated function each (straight-line code, every step with its own
 * inline caches, rather than a loop calling each call's closure): adding a record (each FILTER condition tested
 * once, the calls under it guarded by its result) and reading the results. count, sum, min, max and avg are
 * written out; the others call their Aggregate. Only the calls' indexes go into the code.
 */
function fused(
  calls: AggregateCall[],
  parts: Aggregate<Row, Acc, Value>[],
  conditions: ((row: Row) => Value)[],
  conditionOf: number[],
): { add: (accs: Acc[], row: Row) => Acc[]; resultInto: (accs: Acc[], out: Value[]) => Value[] } {
  const args = calls.map((call) => call.arg?.eval);
  const adds: string[] = conditions.map((_, c) => `const t${c} = c${c}(row) === true;`);
  const results: string[] = [];
  calls.forEach((call, i) => {
    const value = `const v = a${i}(row); if (v !== null)`;
    let step: string;
    let result = `out[${i}] = accs[${i}];`;
    switch (call.fn) {
      case 'count_star':
        step = `accs[${i}] = accs[${i}] + 1;`;
        break;
      case 'count':
        if (call.distinct) {
          step = `{ ${value} accs[${i}].add(v); }`;
          result = `out[${i}] = accs[${i}].size;`;
        } else step = `if (a${i}(row) !== null) accs[${i}] = accs[${i}] + 1;`;
        break;
      case 'sum':
        step = `{ ${value} { const s = accs[${i}]; accs[${i}] = s === null ? v : s + v; } }`;
        break;
      case 'avg':
        step = `{ ${value} { const s = accs[${i}]; s.s += v; s.n++; } }`;
        result = `{ const s = accs[${i}]; out[${i}] = s.n === 0 ? null : s.s / s.n; }`;
        break;
      case 'min':
      case 'max':
        step = `{ ${value} { const m = accs[${i}]; if (m === null || v ${call.fn === 'min' ? '<' : '>'} m) accs[${i}] = v; } }`;
        break;
      default:
        step = `accs[${i}] = p${i}.add(accs[${i}], row);`;
        result = `out[${i}] = p${i}.result(accs[${i}]);`;
    }
    adds.push(conditionOf[i]! < 0 ? step : `if (t${conditionOf[i]}) { ${step} }`);
    results.push(result);
  });
  // Each call's Aggregate, argument and each condition as a constant of the generated code's closure.
  const bound = [
    ...calls.map((_, i) => `const p${i} = p[${i}], a${i} = a[${i}];`),
    ...conditions.map((_, c) => `const c${c} = c[${c}];`),
  ].join('\n');
  const make = (fn: string) => new Function('p', 'a', 'c', `${bound}\nreturn ${fn};`)(parts, args, conditions);
  return {
    add: make(`(accs, row) => {\n${adds.join('\n')}\nreturn accs;\n}`),
    resultInto: make(`(accs, out) => {\n${results.join('\n')}\nreturn out;\n}`),
  };
}

function aggregateOf(call: AggregateCall): Aggregate<Row, Acc, Value> {
  const f = call.arg?.eval ?? (() => null);
  switch (call.fn) {
    case 'approx_quantile': {
      // DDSketch (1% relative error), NULLs skipped; NULL of no values.
      const sketch = agg.percentiles((v: number) => v, [call.quantile!] as const);
      return {
        create: () => sketch.create() as unknown as Acc,
        add: (acc, row) => {
          const v = f(row);
          return (v === null ? acc : sketch.add(acc as never, v as number)) as Acc;
        },
        merge: (a, b) => sketch.merge(a as never, b as never) as unknown as Acc,
        result: (acc) => sketch.result(acc as never)[0] ?? null,
      };
    }
    case 'approx_count_distinct': {
      // HyperLogLog (precision 14, ~0.8% error) over the values' JSON; NULLs skipped.
      const hll = agg.approxDistinct((v: Value) => JSON.stringify(v));
      return {
        create: () => hll.create() as unknown as Acc,
        add: (acc, row) => {
          const v = f(row);
          return (v === null ? acc : hll.add(acc as never, v)) as unknown as Acc;
        },
        merge: (a, b) => hll.merge(a as never, b as never) as unknown as Acc,
        result: (acc) => hll.result(acc as never),
      };
    }
    case 'count_star':
      return {
        create: () => 0,
        add: (acc) => (acc as number) + 1,
        merge: (a, b) => (a as number) + (b as number),
        result: (acc) => acc as number,
      };
    case 'count':
      if (call.distinct) {
        return {
          create: () => new Set<Value>(),
          add: (acc, row) => {
            const v = f(row);
            if (v !== null) (acc as Set<Value>).add(v);
            return acc;
          },
          merge: (a, b) => {
            for (const v of b as Set<Value>) (a as Set<Value>).add(v);
            return a;
          },
          result: (acc) => (acc as Set<Value>).size,
        };
      }
      return {
        create: () => 0,
        add: (acc, row) => (f(row) === null ? acc : (acc as number) + 1),
        merge: (a, b) => (a as number) + (b as number),
        result: (acc) => acc as number,
      };
    case 'sum':
      return {
        create: () => null,
        add: (acc, row) => {
          const v = f(row) as number | null;
          return v === null ? acc : ((acc as number | null) ?? 0) + v;
        },
        merge: (a, b) => (a === null ? b : b === null ? a : (a as number) + (b as number)),
        result: (acc) => acc as number | null,
      };
    case 'avg':
      return {
        create: () => ({ s: 0, n: 0 }),
        add: (acc, row) => {
          const v = f(row) as number | null;
          if (v !== null) {
            (acc as { s: number }).s += v;
            (acc as { n: number }).n++;
          }
          return acc;
        },
        merge: (a, b) => {
          (a as { s: number }).s += (b as { s: number }).s;
          (a as { n: number }).n += (b as { n: number }).n;
          return a;
        },
        result: (acc) => {
          const { s, n } = acc as { s: number; n: number };
          return n === 0 ? null : s / n;
        },
      };
    case 'min':
    case 'max': {
      const better = call.fn === 'min' ? (a: Value, b: Value) => b! < a! : (a: Value, b: Value) => b! > a!;
      const pick = (a: Acc, b: Acc) => (a === null ? b : b === null ? a : better(a as Value, b as Value) ? b : a);
      return { create: () => null, add: (acc, row) => pick(acc, f(row)), merge: pick, result: (acc) => acc as Value };
    }
  }
}
