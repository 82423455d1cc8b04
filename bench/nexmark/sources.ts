// Nexmark events into pipelines: an in-memory source (as fast as it can, or paced at a rate in wall-clock time, for
// latency), and a producer that writes them serialised into a topic of the log.
import type { Source } from '../../src/engine/index.ts';
import type { Log } from '../../src/log/index.ts';
import type { NexmarkGenerator } from './generator.ts';
import type { NexmarkEvent } from './model.ts';

const ZEROS: number[] = new Array(4096).fill(0);

/**
 * Events from..from+n-1 of `generator`. A function of its own, not a loop inside a source's poll: V8 compiles a
 * long loop on its first run (on-stack replacement) before the code after it has run once, and the poll's code
 * after the loop then failed for want of type feedback at every call, for ~500 batches (2M events) per process.
 */
function generate(generator: NexmarkGenerator, from: number, n: number): NexmarkEvent[] {
  const values = new Array<NexmarkEvent>(n);
  for (let j = 0; j < n; j++) values[j] = generator.event(from + j);
  return values;
}

/** Events 0..count-1 of `generator`, made as they are read (the generator's cost counts in the pipeline's). */
export function nexmarkSource(generator: NexmarkGenerator, count: number, batchSize = 4096): Source<NexmarkEvent> {
  let i = 0;
  return {
    name: 'nexmark',
    async open() {},
    channels: () => [0],
    async poll() {
      if (i >= count) return null;
      const n = Math.min(batchSize, count - i);
      const values = generate(generator, i, n);
      i += n;
      return { channel: 0, values, timestamps: n === ZEROS.length ? ZEROS : ZEROS.slice(0, n) };
    },
    snapshot: () => i,
    restore: (position) => {
      i = position as number;
    },
    async close() {},
  };
}

export interface PacedSource extends Source<NexmarkEvent> {
  /** performance.now() at which the first event of the batch being processed was due. */
  readonly batchDue: number;
  /** Events handed out so far. */
  readonly produced: number;
}

/**
 * Events at `ratePerSec` of wall-clock time for `seconds`: each poll returns the events due by now (at most
 * `maxBatch`), or waits for the next one. `batchDue` tells a sink when the batch it is being written from was due,
 * which is what a result's latency counts from.
 */
export function pacedSource(
  generator: NexmarkGenerator,
  ratePerSec: number,
  seconds: number,
  maxBatch = 4096,
): PacedSource {
  const total = Math.floor(ratePerSec * seconds);
  let i = 0;
  let start = 0;
  const source = {
    name: 'nexmark-paced',
    batchDue: 0,
    get produced() {
      return i;
    },
    async open() {
      start = performance.now();
    },
    channels: () => [0],
    async poll(signal: AbortSignal) {
      for (;;) {
        if (i >= total) return null;
        const due = Math.min(total, Math.floor(((performance.now() - start) * ratePerSec) / 1000));
        if (due > i) {
          const n = Math.min(maxBatch, due - i);
          const values = new Array<NexmarkEvent>(n);
          for (let j = 0; j < n; j++) values[j] = generator.event(i + j);
          source.batchDue = start + (i * 1000) / ratePerSec;
          i += n;
          return { channel: 0, values, timestamps: ZEROS.slice(0, n) };
        }
        if (signal.aborted) return { channel: 0, values: [], timestamps: [] };
        const wait = start + ((i + 1) * 1000) / ratePerSec - performance.now();
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(wait, 1))));
      }
    },
    async close() {},
  };
  return source;
}

/** Writes events 0..count-1 as JSON into `topic` (created with `partitions`), in batches of `batch` records. */
export async function produceToLog(
  log: Log,
  topic: string,
  generator: NexmarkGenerator,
  count: number,
  options: { partitions?: number; batch?: number } = {},
): Promise<void> {
  const partitions = options.partitions ?? 1;
  const batch = options.batch ?? 1000;
  if (!log.hasTopic(topic)) await log.createTopic(topic, { partitions });
  // Consecutive events go to the same partition batch by batch, so that each partition stays in time order.
  const pending: Promise<unknown>[] = [];
  for (let i = 0, p = 0; i < count; i += batch, p = (p + 1) % partitions) {
    const records = [];
    for (let j = i; j < Math.min(count, i + batch); j++) {
      const e = generator.event(j);
      records.push({ key: null, value: Buffer.from(JSON.stringify(e)), timestamp: e.dateTime });
    }
    pending.push(log.append(topic, p, records));
    if (pending.length >= 64) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}
