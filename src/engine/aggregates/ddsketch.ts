// Percentiles with DDSketch (Masson et al., VLDB 2019): logarithmic buckets give every quantile within a relative
// error `alpha` of the true value, and two sketches merge exactly by adding bucket counts.
import type { Aggregate } from './aggregate.ts';

export interface Sketch {
  positive: Map<number, number>;
  negative: Map<number, number>;
  zeros: number;
  count: number;
}

export function percentiles<T, Q extends readonly number[]>(
  field: (value: T) => number,
  quantiles: Q,
  relativeAccuracy = 0.01,
): Aggregate<T, Sketch, { [K in keyof Q]: number | null }> {
  for (const q of quantiles) if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is not within [0, 1]`);
  const gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
  const logGamma = Math.log(gamma);
  const bucketOf = (x: number) => Math.ceil(Math.log(x) / logGamma);
  // The bucket's representative value: within relativeAccuracy of every value in it.
  const bucketValue = (bucket: number) => (2 * gamma ** bucket) / (gamma + 1);
  const addTo = (map: Map<number, number>, bucket: number, n: number) => map.set(bucket, (map.get(bucket) ?? 0) + n);
  return {
    create: () => ({ positive: new Map(), negative: new Map(), zeros: 0, count: 0 }),
    add: (sketch, v) => {
      const x = field(v);
      if (!Number.isFinite(x)) return sketch;
      if (x > 0) addTo(sketch.positive, bucketOf(x), 1);
      else if (x < 0) addTo(sketch.negative, bucketOf(-x), 1);
      else sketch.zeros++;
      sketch.count++;
      return sketch;
    },
    merge: (a, b) => {
      for (const [bucket, n] of b.positive) addTo(a.positive, bucket, n);
      for (const [bucket, n] of b.negative) addTo(a.negative, bucket, n);
      a.zeros += b.zeros;
      a.count += b.count;
      return a;
    },
    result: (sketch) => {
      if (sketch.count === 0) return quantiles.map(() => null) as { [K in keyof Q]: number | null };
      // Walk buckets from the most negative value up.
      const negative = [...sketch.negative].sort((x, y) => y[0] - x[0]);
      const positive = [...sketch.positive].sort((x, y) => x[0] - y[0]);
      return quantiles.map((q) => {
        const rank = q * (sketch.count - 1);
        let seen = 0;
        for (const [bucket, n] of negative) {
          seen += n;
          if (seen > rank) return -bucketValue(bucket);
        }
        seen += sketch.zeros;
        if (seen > rank) return 0;
        for (const [bucket, n] of positive) {
          seen += n;
          if (seen > rank) return bucketValue(bucket);
        }
        return bucketValue(positive.at(-1)![0]);
      }) as { [K in keyof Q]: number | null };
    },
  };
}
