// Built-in aggregates: exact ones against plain computations, sketches against their error bounds, and merge()
// agreeing with adding everything to one accumulator.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type Aggregate,
  approxDistinct,
  avg,
  count,
  distinctCount,
  max,
  min,
  multi,
  percentiles,
  sum,
  topN,
} from './index.ts';

function run<T, A, R>(aggregate: Aggregate<T, A, R>, values: T[]): R {
  let acc = aggregate.create();
  for (const v of values) acc = aggregate.add(acc, v);
  return aggregate.result(acc);
}

function runSplit<T, A, R>(aggregate: Aggregate<T, A, R>, values: T[], at: number): R {
  let a = aggregate.create();
  let b = aggregate.create();
  values.forEach((v, i) => {
    if (i < at) a = aggregate.add(a, v);
    else b = aggregate.add(b, v);
  });
  return aggregate.result(aggregate.merge(a, b));
}

describe('aggregates', () => {
  it('count, sum, min, max, avg and distinct match plain loops, merged or not', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 })), fc.nat(), (values, cut) => {
        const at = values.length === 0 ? 0 : cut % (values.length + 1);
        const id = (v: number) => v;
        const cases: [Aggregate<number, unknown, unknown>, unknown][] = [
          [count(), values.length],
          [sum(id), values.reduce((a, b) => a + b, 0)],
          [min(id), values.length ? Math.min(...values) : null],
          [max(id), values.length ? Math.max(...values) : null],
          [avg(id), values.length ? values.reduce((a, b) => a + b, 0) / values.length : null],
          [distinctCount(id), new Set(values).size],
        ];
        for (const [aggregate, expected] of cases) {
          assert.deepEqual(run(aggregate, values), expected);
          assert.deepEqual(runSplit(aggregate, values, at), expected);
        }
      }),
    );
  });

  it('multi combines named aggregates into one result object', () => {
    const both = multi({ cnt: count<{ v: number }>(), total: sum((e: { v: number }) => e.v) });
    assert.deepEqual(run(both, [{ v: 2 }, { v: 3 }]), { cnt: 2, total: 5 });
  });

  it('topN returns the most frequent values', () => {
    assert.deepEqual(
      run(
        topN((v: string) => v, 2),
        ['a', 'b', 'a', 'c', 'b', 'a'],
      ),
      [
        { value: 'a', count: 3 },
        { value: 'b', count: 2 },
      ],
    );
  });

  it('approxDistinct (HyperLogLog) stays within 3% for 1k to 200k distinct values, and merges', () => {
    for (const n of [1000, 50_000, 200_000]) {
      const values = Array.from({ length: n }, (_, i) => `user-${i}`);
      const estimate = runSplit(
        approxDistinct((v: string) => v),
        values,
        n >> 1,
      );
      assert.ok(Math.abs(estimate - n) / n < 0.03, `${n} distinct estimated as ${estimate}`);
    }
    assert.equal(
      run(
        approxDistinct((v: string) => v),
        ['a', 'a', 'a'],
      ),
      1,
    );
  });

  it('percentiles (DDSketch) are within the relative accuracy of the exact quantiles', () => {
    const values = Array.from({ length: 20_000 }, (_, i) => Math.exp((i % 1000) / 100) * (i % 7 === 0 ? -1 : 1));
    const qs = [0, 0.25, 0.5, 0.9, 0.99, 1] as const;
    const result = runSplit(
      percentiles((v: number) => v, qs, 0.01),
      values,
      7000,
    );
    const sorted = [...values].sort((a, b) => a - b);
    qs.forEach((q, i) => {
      const exact = sorted[Math.floor(q * (sorted.length - 1))]!;
      assert.ok(Math.abs(result[i]! - exact) <= 0.0101 * Math.abs(exact), `q${q}: ${result[i]} vs ${exact}`);
    });
  });
});
