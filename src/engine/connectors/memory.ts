// In-memory sources and sinks, for tests, benchmarks and examples.
import type { Sink, Source, SourceBatch } from '../connector.ts';
import type { Batch } from '../types.ts';

const ZEROS: number[] = new Array(4096).fill(0);
/** `n` zero timestamps; batches without timestamps of their own share one array (operators never mutate inputs). */
const zeros = (n: number) => (n === ZEROS.length ? ZEROS : new Array<number>(n).fill(0));

/** A bounded source over arrays of records per channel (partition), read in batches. */
export function fromArrays<T>(
  channels: T[][],
  options: { timestamp?: (value: T) => number; batchSize?: number; name?: string } = {},
): Source<T> {
  const positions = channels.map(() => 0);
  const batchSize = options.batchSize ?? 1024;
  let next = 0;
  return {
    name: options.name ?? 'memory',
    async open() {},
    channels: () => channels.map((_, i) => i),
    async poll(): Promise<SourceBatch<T> | null> {
      for (let tried = 0; tried < channels.length; tried++) {
        const channel = next;
        next = (next + 1) % channels.length;
        const data = channels[channel]!;
        const from = positions[channel]!;
        if (from >= data.length) continue;
        const values = data.slice(from, from + batchSize);
        positions[channel] = from + values.length;
        const stamp = options.timestamp;
        const timestamps = stamp ? values.map(stamp) : zeros(values.length);
        return { channel, values, timestamps };
      }
      return null;
    },
    snapshot: () => [...positions],
    restore: (p) => {
      for (const [i, v] of (p as number[]).entries()) positions[i] = v;
    },
    async close() {},
  };
}

/** A bounded source that calls `generate(i)` for i = 0..count-1 in batches (benchmarks: no array of inputs). */
export function generator<T>(count: number, generate: (i: number) => T, batchSize = 4096): Source<T> {
  let i = 0;
  const zeros: number[] = new Array(batchSize).fill(0);
  return {
    name: 'generator',
    async open() {},
    channels: () => [0],
    async poll() {
      if (i >= count) return null;
      const n = Math.min(batchSize, count - i);
      const values = new Array<T>(n);
      for (let j = 0; j < n; j++) values[j] = generate(i + j);
      i += n;
      return { channel: 0, values, timestamps: n === batchSize ? zeros : zeros.slice(0, n) };
    },
    snapshot: () => i,
    restore: (position) => {
      i = position as number;
    },
    async close() {},
  };
}

export interface CollectSink<T> extends Sink<T> {
  readonly values: T[];
  readonly timestamps: number[];
}

/** Keeps everything it receives (tests). `delayMs` makes it slow, to exercise backpressure. */
export function collect<T>(options: { delayMs?: number } = {}): CollectSink<T> {
  const values: T[] = [];
  const timestamps: number[] = [];
  return {
    name: 'collect',
    values,
    timestamps,
    write(batch: Batch<T>) {
      for (let i = 0; i < batch.values.length; i++) {
        values.push(batch.values[i]!);
        timestamps.push(batch.timestamps[i]!);
      }
      if (options.delayMs) return new Promise((resolve) => setTimeout(resolve, options.delayMs));
    },
  };
}

/** Counts what it receives without keeping it (benchmarks). */
export function countingSink<T>(): Sink<T> & { count: number; last: T | undefined } {
  const sink = {
    name: 'count',
    count: 0,
    last: undefined as T | undefined,
    write(batch: Batch<T>) {
      sink.count += batch.values.length;
      if (batch.values.length > 0) sink.last = batch.values[batch.values.length - 1];
    },
  };
  return sink;
}
