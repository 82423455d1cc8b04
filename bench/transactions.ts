// `npm run bench -- transactions [--rate N] [--seconds S] [--messages M]`: what exactly-once to Kafka readers costs.
// A pipeline copies topic `in` to topic `out` on the embedded log (source → sink, one partition each); a producer
// appends to `in` at a fixed rate, stamping each record with its send time, and a read_committed reader of `out`
// (as a Kafka consumer with isolation.level=read_committed reads) records when each arrives. Cases, each on a fresh
// log: the at-least-once sink (records visible at once), and the exactly-once sink, whose checkpoint epochs are
// transactions committed with each checkpoint, at checkpoint intervals of 100 ms, 1 s and 10 s. Then throughput:
// the same pipeline bounded over M records, at-least-once vs exactly-once (a checkpoint every 1 s), same run.
// Prints one JSON line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bytes, logSink, logSource, Pipeline } from '../src/engine/index.ts';
import { type Log, openLog } from '../src/log/index.ts';

const { values: flags } = parseArgs({
  options: {
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '12' },
    messages: { type: 'string', default: '1000000' },
  },
});
const RATE = Number(flags.rate);
const SECONDS = Number(flags.seconds);
const MESSAGES = Number(flags.messages);

interface Case {
  name: string;
  guarantee: 'exactly-once' | 'at-least-once';
  intervalMs: number;
}

function build(log: Log, dir: string, c: Case, bounded: boolean): Pipeline {
  const p = new Pipeline({ name: 'copy', bounded });
  p.source(logSource({ log, topic: 'in', format: bytes() })).sinkTo(
    logSink({ log, topic: 'out', format: bytes(), guarantee: c.guarantee }),
  );
  p.enableCheckpoints({ dir: path.join(dir, 'checkpoints'), intervalMs: c.intervalMs });
  return p;
}

async function fresh(): Promise<{ log: Log; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-txn-'));
  const log = await openLog({ dataDir: path.join(dir, 'log') });
  await log.createTopic('in', { partitions: 1 });
  await log.createTopic('out', { partitions: 1 });
  return { log, dir };
}

function percentile(sorted: number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Produce-to-visible latency for a read_committed reader of the pipeline's output, at RATE records/s. */
async function latency(c: Case): Promise<Record<string, number>> {
  const { log, dir } = await fresh();
  const pipeline = build(log, dir, c, false);
  const running = pipeline.run();
  const latencies: number[] = [];
  const stop = new AbortController();
  const reader = (async () => {
    let offset = 0;
    while (!stop.signal.aborted) {
      const page = log.readRecords('out', 0, offset, { isolation: 'read_committed' });
      const now = performance.now();
      for (const r of page.records) latencies.push(now - r.value!.readDoubleBE(0));
      offset = page.nextOffset;
      if (page.records.length === 0) {
        await log.waitForData('out', 0, offset, { isolation: 'read_committed', timeoutMs: 200, signal: stop.signal });
      }
    }
  })();
  const total = RATE * SECONDS;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const value = Buffer.alloc(8);
    value.writeDoubleBE(performance.now());
    await log.append('in', 0, [{ key: null, value }]);
  }
  // The last records wait for the next checkpoint at most: give them that long, then stop.
  const deadline = performance.now() + c.intervalMs + 5000;
  while (latencies.length < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  stop.abort();
  await reader;
  pipeline.stop();
  await running;
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
  // The first second is the pipeline starting up: leave it out.
  const steady = latencies.slice(RATE).sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    received: latencies.length,
    p50Ms: round(percentile(steady, 0.5)),
    p99Ms: round(percentile(steady, 0.99)),
    maxMs: round(steady.at(-1) ?? Number.NaN),
  };
}

/** Records/s of the pipeline bounded over MESSAGES records already in `in`. */
async function throughput(c: Case): Promise<number> {
  const { log, dir } = await fresh();
  const value = Buffer.alloc(100, 120);
  for (let i = 0; i < MESSAGES; i += 1000) {
    await log.append(
      'in',
      0,
      Array.from({ length: Math.min(1000, MESSAGES - i) }, () => ({ key: null, value })),
    );
  }
  const pipeline = build(log, dir, c, true);
  const started = performance.now();
  await pipeline.run();
  const rate = Math.round((MESSAGES * 1000) / (performance.now() - started));
  const out = log.describeTopic('out').partitions[0]!;
  if (out.lastStableOffset !== out.logEndOffset) throw new Error(`${c.name}: a transaction was left open`);
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return rate;
}

const cases: Case[] = [
  { name: 'atLeastOnce', guarantee: 'at-least-once', intervalMs: 1000 },
  { name: 'exactlyOnce100ms', guarantee: 'exactly-once', intervalMs: 100 },
  { name: 'exactlyOnce1s', guarantee: 'exactly-once', intervalMs: 1000 },
  { name: 'exactlyOnce10s', guarantee: 'exactly-once', intervalMs: 10_000 },
];
const results: Record<string, unknown> = { rate: RATE, seconds: SECONDS, messages: MESSAGES };
for (const c of cases) results[c.name] = await latency(c);
// Alternated, three of each after a warm-up of each; the median of each.
const runs: Record<'atLeastOnce' | 'exactlyOnce', number[]> = { atLeastOnce: [], exactlyOnce: [] };
await throughput(cases[0]!);
await throughput(cases[2]!);
for (let i = 0; i < 3; i++) {
  runs.atLeastOnce.push(await throughput(cases[0]!));
  runs.exactlyOnce.push(await throughput(cases[2]!));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
const atLeastOnce = median(runs.atLeastOnce);
const exactlyOnce = median(runs.exactlyOnce);
results.throughput = {
  atLeastOnce,
  exactlyOnce1s: exactlyOnce,
  ratio: Math.round((exactlyOnce / atLeastOnce) * 100) / 100,
};
console.log(JSON.stringify({ bench: 'transactions', ...results }));
