// `npm run bench -- e2e [--seconds S] [--rates 10000,100000,max]`: end to end, as a user deploys Sluice: kcat
// (librdkafka) produces JSON events to the Kafka listener, the log stores them (fsync per acknowledgement), a
// pipeline counts them per key in 100 ms tumbling windows and writes the counts to a serving table, and SQL polls
// the table every 5 ms. Broker, log, pipeline and store share one process (as `sluice run` does); kcat is its own.
// Each event carries the time it was written to kcat. Produce-to-queryable: from a window's end (its last event's
// production) to its row being visible to SQL; an event waits that plus, on average, half a window. At `max`, the
// events are written as fast as kcat takes them and the achieved rate is reported.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { agg, json, logSource, Pipeline, watermarks, windows } from '../src/engine/index.ts';
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
  },
});
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

async function run(rate: number | 'max') {
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
  let stop = false;
  const started = Date.now();
  const poller = (async () => {
    let seen = 0;
    while (!stop) {
      const result = await store.query('SELECT max(window_end) FROM counts').catch(() => ({ rows: [] as unknown[][] }));
      const end = Number(result.rows[0]?.[0] ?? 0);
      const now = Date.now();
      if (end > seen) {
        if (end - started > WARMUP_MS) latencies.push(now - end);
        seen = end;
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
  return {
    targetRate: rate,
    eventsPerSec: Math.round(sent / loadSec),
    processedPerSec: Math.round(produced / drainSec),
    events: sent,
    windows: latencies.length,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies.length ? Math.max(...latencies) : null,
  };
}

const results: Record<string, unknown> = { bench: 'e2e', windowMs: WINDOW_MS, seconds: SECONDS };
for (const r of flags.rates.split(',')) {
  const rate = r === 'max' ? 'max' : Number(r);
  const out = await run(rate);
  console.error(
    `${String(rate).padStart(7)} ev/s target: ${out.eventsPerSec} ev/s produced, ${out.processedPerSec} ev/s through, ` +
      `window end → queryable p50 ${out.p50Ms} ms, p99 ${out.p99Ms} ms, max ${out.maxMs} ms (${out.windows} windows)`,
  );
  results[`at_${r}`] = out;
}
console.log(JSON.stringify(results));
