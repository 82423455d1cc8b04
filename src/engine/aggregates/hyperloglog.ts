// Approximate distinct count with HyperLogLog (Flajolet et al. 2007, with the small-range correction):
// 2^precision one-byte registers; standard error about 1.04 / sqrt(2^precision) (0.8% at the default 14).
import type { Aggregate } from './aggregate.ts';

/** 32-bit FNV-1a over the value's string form, then a murmur3 finalizer so that the low bits mix well. */
function hash32(value: unknown): number {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function approxDistinct<T>(field: (value: T) => unknown, precision = 14): Aggregate<T, Uint8Array, number> {
  if (!Number.isInteger(precision) || precision < 4 || precision > 16) {
    throw new RangeError(`HyperLogLog precision must be an integer from 4 to 16, got ${precision}`);
  }
  const m = 1 << precision;
  const alpha = m === 16 ? 0.673 : m === 32 ? 0.697 : m === 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
  return {
    create: () => new Uint8Array(m),
    add: (registers, v) => {
      const h = hash32(field(v));
      const index = h >>> (32 - precision);
      const rest = (h << precision) >>> 0;
      const rank = rest === 0 ? 32 - precision + 1 : Math.clz32(rest) + 1;
      if (rank > registers[index]!) registers[index] = rank;
      return registers;
    },
    merge: (a, b) => {
      for (let i = 0; i < m; i++) if (b[i]! > a[i]!) a[i] = b[i]!;
      return a;
    },
    result: (registers) => {
      let sum = 0;
      let zeros = 0;
      for (let i = 0; i < m; i++) {
        sum += 2 ** -registers[i]!;
        if (registers[i] === 0) zeros++;
      }
      const estimate = (alpha * m * m) / sum;
      if (estimate <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros)); // linear counting
      return Math.round(estimate);
    },
  };
}
