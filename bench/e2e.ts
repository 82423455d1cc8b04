// `npm run bench -- e2e [--seconds S] [--rates 10000,100000,max] [--trigger 1s]`: end to end, as a user deploys Sluice: kcat
// (librdkafka) produces JSON events to the Kafka listener, the log stores them (fsync per acknowledgement), a
// pipeline counts them per key in 100 ms tumbling windows and writes the counts to a serving table, and SQL polls
// the table every 5 ms. Broker, log, pipeline and store share one process (as `sluice run` does); kcat is its own.
// Each event carries the time it was written to kcat. Produce-to-queryable: from a window's end (its last event's
// production) to its row being visible to SQL; an event waits that plus, on average, half a window. At `max`, the
// events are written as fast as kcat takes them and the achieved rate is reported. Each rate runs twice, alternately:
// with continuous processing (records read as they arrive) and with a micro-batch trigger (`--trigger`, default 1 s:
// the pipeline reads what the log holds at each tick, as Spark Structured Streaming's processing-time trigger;
// src/engine/trigger.ts). Event → queryable (`eventP50Ms`, `eventP99Ms`): a window's latency plus, for each of its
// events, how long before the window's end it was produced (spread evenly over the window: 10 points per window,
// weighted by its count of events).
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { agg, applyTrigger, json, logSource, Pipeline, toMillis, watermarks, windows } from '../src/engine/index.ts';
import { startBroker } from '../src/kafka/index.ts';
import { openLog } from '../src/log/index.ts';
import { setLogLevel } from '../src/logger.ts';
import { ServingStore, serveTable } from '../src/serve/index.ts';

setLogLevel('warn');

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rates: { type: 'string', default: '10000,100000,max' },
    window: { type: 'string', default: '100' },
    trigger: { type: 'string', default: '1s' },
  },
});
const TRIGGER_MS = toMillis(/^\d+$/.test(flags.trigger) ? Number(flags.trigger) : flags.trigger, '--trigger');
const SECONDS = Number(flags.seconds);
const WINDOW_MS = Number(flags.window);
const WARMUP_MS = 2000;

const percentile = (xs: number[], p: number) =>
  xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

/** Writes `ratePerSec` JSON lines per second (or as fast as kcat drains its stdin) for `seconds`. */
async function load(kcat: ChildProcess, ratePerSec: number | 'max', seconds: number): Promise<number> {
  const stdin = kcat.stdin!;
  const start = performance.now();
  let sent = 0;
  const line = (i: number) => `{"k":"k${i % 100}","ts":${Date.now()}}\n`;
  const write = async (text: string) => {
    if (!stdin.write(text)) await new Promise((resolve) => stdin.once('drain', resolve));
  };
  while (performance.now() - start < seconds * 1000) {
    if (ratePerSec === 'max') {
      let chunk = '';
      for (let i = 0; i < 2000; i++) chunk += line(sent + i);
      sent += 2000;
      await write(chunk);
      continue;
    }
    const due = Math.floor(((performance.now() - start) * ratePerSec) / 1000);
    if (due > sent) {
      let chunk = '';
      for (let i = sent; i < due; i++) chunk += line(i);
      sent = due;
      await write(chunk);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return sent;
}

async function run(rate: number | 'max', triggerMs: number | undefined) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-e2e-'));
  const log = await openLog({ dataDir: path.join(dir, 'log') });
  const broker = await startBroker({ log, port: 0 });
  const store = await ServingStore.open({ dir: path.join(dir, 'serve') });
  await log.createTopic('events', { partitions: 1 });
  const p = new Pipeline({ name: 'e2e' });
  p.source(logSource({ log, topic: 'events', format: json<{ k: string; ts: number }>() }))
    .withTimestamps((e) => e.ts, watermarks.boundedOutOfOrderness(0))
    .keyBy((e) => e.k)
    .window(windows.tumbling(WINDOW_MS))
    .aggregate(agg.count())
    .map((r) => ({ window_end: r.windowEnd, key: r.key, cnt: r.value, kind: r.kind }))
    .sinkTo(
      serveTable({
        store,
        name: 'counts',
        columns: [
          { name: 'window_end', type: 'BIGINT' },
          { name: 'key', type: 'VARCHAR' },
          { name: 'cnt', type: 'BIGINT' },
        ],
        key: ['window_end', 'key'],
        flushMs: 5,
      }),
    );
  const trigger = triggerMs === undefined ? undefined : applyTrigger(p, { interval: triggerMs });
  const running = p.run();
  const kcat = spawn(
    'kcat',
    ['-P', '-b', broker.address, '-t', 'events', '-X', 'linger.ms=1', '-X', 'batch.num.messages=10000'],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  let kcatErrors = '';
  kcat.stderr!.on('data', (chunk: Buffer) => {
    kcatErrors += chunk.toString();
  });
  const latencies: number[] = [];
  /** Per event (10 points per window, weighted by the window's count): produced → queryable. */
  const eventLatencies: [number, number][] = [];
  let stop = false;
  const started = Date.now();
  const poller = (async () => {
    let seen = 0;
    while (!stop) {
      const result = await store
        .query(`SELECT window_end, sum(cnt) FROM counts WHERE window_end > ${seen} GROUP BY window_end`)
        .catch(() => ({ rows: [] as unknown[][] }));
      const now = Date.now();
      for (const [windowEnd, count] of result.rows) {
        const end = Number(windowEnd);
        if (end - started > WARMUP_MS) {
          latencies.push(now - end);
          for (let i = 0; i < 10; i++)
            eventLatencies.push([now - end + ((i + 0.5) * WINDOW_MS) / 10, Number(count) / 10]);
        }
        seen = Math.max(seen, end);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const t0 = performance.now();
  const sent = await load(kcat, rate, SECONDS);
  const loadSec = (performance.now() - t0) / 1000;
  kcat.stdin!.end();
  await new Promise((resolve) => kcat.once('close', resolve));
  // Everything produced is in the log once kcat exits; give the pipeline time to catch up and the windows to fire.
  const info = () => log.describeTopic('events').partitions[0]!.logEndOffset;
  const produced = info();
  const caughtUpBy = Date.now() + 30_000;
  while (p.metrics().operators[0]!.recordsIn < produced && Date.now() < caughtUpBy) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const drainSec = (performance.now() - t0) / 1000;
  stop = true;
  await poller;
  p.stop();
  await running;
  await broker.close();
  await store.close();
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (produced !== sent) throw new Error(`kcat delivered ${produced} of ${sent} events: ${kcatErrors}`);
  const [eventP50Ms, eventP99Ms] = weightedPercentiles(eventLatencies, [0.5, 0.99]);
  return {
    mode: triggerMs === undefined ? 'continuous' : `micro-batch ${triggerMs} ms`,
    targetRate: rate,
    eventsPerSec: Math.round(sent / loadSec),
    processedPerSec: Math.round(produced / drainSec),
    events: sent,
    windows: latencies.length,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies.length ? Math.max(...latencies) : null,
    eventP50Ms,
    eventP99Ms,
    ...(trigger ? { batches: trigger.stats.batches, lastBatchMs: Math.round(trigger.stats.lastBatchMs) } : {}),
  };
}

/** Percentiles over (value, weight) pairs. */
function weightedPercentiles(samples: [number, number][], qs: number[]): (number | null)[] {
  samples.sort((a, b) => a[0] - b[0]);
  const total = samples.reduce((n, s) => n + s[1], 0);
  return qs.map((q) => {
    let seen = 0;
    for (const [ms, n] of samples) {
      seen += n;
      if (seen >= q * total) return Math.round(ms);
    }
    return null;
  });
}

const results: Record<string, unknown> = {
  bench: 'e2e',
  windowMs: WINDOW_MS,
  seconds: SECONDS,
  triggerMs: TRIGGER_MS,
};
for (const [i, r] of flags.rates.split(',').entries()) {
  const rate = r === 'max' ? 'max' : Number(r);
  const byMode: Record<string, Awaited<ReturnType<typeof run>>> = {};
  // Alternated rate by rate, so that neither mode gains from coming later.
  const order = i % 2 === 0 ? [undefined, TRIGGER_MS] : [TRIGGER_MS, undefined];
  for (const triggerMs of order) {
    const out = await run(rate, triggerMs);
    console.error(
      `${String(rate).padStart(7)} ev/s target, ${out.mode.padEnd(20)}: ${out.eventsPerSec} ev/s produced, ` +
        `${out.processedPerSec} ev/s through, event → queryable p50 ${out.eventP50Ms} ms, p99 ${out.eventP99Ms} ms; ` +
        `window end → queryable p50 ${out.p50Ms} ms, p99 ${out.p99Ms} ms, max ${out.maxMs} ms (${out.windows} windows)`,
    );
    byMode[triggerMs === undefined ? 'continuous' : 'microBatch'] = out;
  }
  results[`at_${r}`] = byMode;
}
console.log(JSON.stringify(results));
