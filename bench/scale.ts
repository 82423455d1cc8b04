// `npm run bench -- scale [--events N] [--threads 1,2] [--processes 1,2,3] [--rounds R]`: the windowed-counts pipeline
// (examples/windowed-counts.ts, 60 s tumbling windows per key) over N events in a 12-partition topic, run (a) in one
// process on the embedded log — the fast path, one core —, (b) as partition tasks in 1 and 2 worker threads over the
// same embedded log (`sluice run --parallelism P`), and (c) scaled out as 1, 2, 3 member processes (`sluice run
// --bootstrap --parallelism P`) that read through the broker, which this process hosts; and (d) the same work per
// record by hand in 1 and 2 threads, no engine or log (the machine's own ratio for this work). For (b) the clock starts
// when the threads have their tasks (thread start-up excluded), for (c) when the first member gets its tasks (node
// start-up and group join excluded; the rebalances as the others join included); it stops when the last window
// total is in the output topic. The events are loaded before each run, so each measures catching up on a backlog.
// `steadyEventsPerSec` is the rate after the first 20% of the output (compiling and heap growth behind: what a
// long-running pipeline sustains); `moves` counts tasks moved between task threads (docs/scale.md). The defaults
// (50M events, 3 rounds: ~15 minutes, 3.1 GB in a temporary directory) measure the sustained ratio; in shorter runs
// each thread's compiler warm-up weighs (`--events 2000000 --rounds 1` is a quick check).
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import windowedCounts, { buildWindowedCounts } from '../examples/windowed-counts.ts';
import { startBroker } from '../src/kafka/index.ts';
import { type Log, openLog, partitionForKey } from '../src/log/index.ts';
import { setLogLevel } from '../src/logger.ts';
import { startTaskThreads } from '../src/scale/index.ts';

setLogLevel('warn');
const { values: flags } = parseArgs({
  options: {
    events: { type: 'string', default: '50000000' },
    processes: { type: 'string', default: '1,2,3' },
    threads: { type: 'string', default: '1,2' },
    rounds: { type: 'string', default: '3' },
    keys: { type: 'string', default: '1000' },
  },
});
const EVENTS = Number(flags.events);
const KEYS = Number(flags.keys);
const PARTITIONS = 12;
const PROCESSES = flags.processes.split(',').filter(Boolean).map(Number);
const THREADS = flags.threads.split(',').filter(Boolean).map(Number);
/** Rounds of the thread and hand-loop runs (1, 2, 1, 2, ...): each round's ratio is against its own 1-thread run. */
const ROUNDS = Math.max(1, Number(flags.rounds));
const SLUICE = new URL('../bin/sluice.js', import.meta.url).pathname;
const PIPELINE = new URL('../examples/windowed-counts.ts', import.meta.url).pathname;
const START = 1_700_000_000_000;
const CLOSE_TS = START + EVENTS + 3_600_000;

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-scale-'));

/** Loads the events (1 ms apart, keys round robin) and a far-future event per key that closes every window. */
async function load(log: Log): Promise<number> {
  await log.createTopic('events', { partitions: PARTITIONS });
  const keys = Array.from({ length: KEYS }, (_, k) => Buffer.from(`key-${k}`));
  const partitionOf = keys.map((k) => partitionForKey(k, PARTITIONS));
  const windows = new Set<string>();
  const chunk = 50_000;
  for (let from = 0; from <= EVENTS; from += chunk) {
    const byPartition = Array.from(
      { length: PARTITIONS },
      () => [] as { key: Buffer; value: Buffer; timestamp: number }[],
    );
    const to = Math.min(EVENTS, from + chunk);
    for (let i = from; i < to; i++) {
      const k = i % KEYS;
      const ts = START + i;
      windows.add(`${Math.floor(ts / 60_000)}:${k}`);
      byPartition[partitionOf[k]!]!.push({
        key: keys[k]!,
        value: Buffer.from(`{"key":"key-${k}","ts":${ts},"value":${i % 10}}`),
        timestamp: ts,
      });
    }
    if (to === EVENTS) {
      for (let k = 0; k < KEYS; k++) {
        byPartition[partitionOf[k]!]!.push({
          key: keys[k]!,
          value: Buffer.from(`{"key":"key-${k}","ts":${CLOSE_TS},"value":0}`),
          timestamp: CLOSE_TS,
        });
      }
    }
    await Promise.all(byPartition.map((records, p) => (records.length ? log.append('events', p, records) : null)));
    if (to === EVENTS) break;
  }
  return windows.size; // the window totals expected (the closing events' windows never close)
}

function outputCount(log: Log): number {
  if (!log.hasTopic('window-totals')) return 0;
  return log.describeTopic('window-totals').partitions.reduce((n, p) => n + p.logEndOffset, 0);
}

async function resetOutputs(log: Log): Promise<void> {
  for (const topic of ['window-totals', 'events-late']) if (log.hasTopic(topic)) await log.deleteTopic(topic);
  await log.createTopic('window-totals', { partitions: 4 });
  await log.createTopic('events-late', { partitions: 1 });
}

/**
 * Waits until every window total is in the output topic; returns when the first WARM_UP of them was (ms, from
 * performance.now()): the rate from then on is the steady one, the engine's code compiled and its heaps grown
 * (windows close as event time passes, so the totals out follow the events processed).
 */
async function untilAllOut(log: Log, expected: number): Promise<number> {
  let warm: number | undefined;
  await until(() => {
    const out = outputCount(log);
    if (warm === undefined && out >= expected * WARM_UP) warm = performance.now();
    return out >= expected;
  }, 600_000);
  return warm!;
}

/** The share of the run that counts as warm-up in `steadyEventsPerSec`. */
const WARM_UP = 0.2;

/** Events per second after the warm-up: from when WARM_UP of the output was there to the end. */
const steadyRate = (warm: number, done: number) => Math.round(((1 - WARM_UP) * EVENTS) / ((done - warm) / 1000));

async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function embedded(log: Log, expected: number) {
  await resetOutputs(log);
  const started = performance.now();
  const pipeline = await buildWindowedCounts({ log, bounded: false, dataDir: log.dataDir });
  const running = pipeline.run();
  const warm = await untilAllOut(log, expected);
  const done = performance.now();
  const seconds = (done - started) / 1000;
  pipeline.stop({ checkpoint: false });
  await running;
  return {
    mode: 'embedded',
    processes: 1,
    seconds: round(seconds),
    eventsPerSec: Math.round(EVENTS / seconds),
    steadyEventsPerSec: steadyRate(warm, done),
  };
}

async function threaded(log: Log, threads: number, expected: number, inRound: number) {
  await resetOutputs(log);
  const running = await startTaskThreads({
    file: PIPELINE,
    define: windowedCounts,
    log,
    dataDir: path.join(root, `threads-${threads}-${inRound}`), // no checkpoints from an earlier round
    parallelism: threads,
    intervalMs: 10_000,
  });
  await running.started;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const threadCpu = cpuByThread();
  const warm = await untilAllOut(log, expected);
  const done = performance.now();
  const used = process.cpuUsage(cpu);
  const seconds = (done - started) / 1000;
  const byThread = coresByThread(threadCpu, seconds);
  await running.stop();
  await running.done;
  return {
    mode: 'threads',
    processes: 1,
    threads,
    seconds: round(seconds),
    eventsPerSec: Math.round(EVENTS / seconds),
    steadyEventsPerSec: steadyRate(warm, done),
    moves: running.moves().length,
    // The whole process's CPU (every thread, GC and the log's I/O included), in cores.
    cores: round((used.user + used.system) / 1e6 / seconds),
    ...(byThread ? { coresByThread: byThread } : {}),
  };
}

async function scaled(log: Log, bootstrap: string, processes: number, expected: number) {
  await resetOutputs(log);
  const dataDir = path.join(root, `members-${processes}`);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      SLUICE,
      'run',
      PIPELINE,
      '--bootstrap',
      bootstrap,
      '--group',
      `bench-${processes}`,
      '--parallelism',
      String(processes),
      '--data-dir',
      dataDir,
      '--no-http',
      '--checkpoint-interval',
      '10s',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' } },
  );
  let firstTasks: number | undefined;
  child.stdout!.on('data', (chunk: Buffer) => {
    if (firstTasks === undefined && /tasks \[\d/.test(chunk.toString())) firstTasks = performance.now();
  });
  const spawned = performance.now();
  const brokerCpu = process.cpuUsage();
  const warm = await untilAllOut(log, expected);
  const done = performance.now();
  const cpu = process.cpuUsage(brokerCpu);
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  const seconds = (done - (firstTasks ?? spawned)) / 1000;
  return {
    mode: 'members',
    processes,
    seconds: round(seconds),
    startupSeconds: round(((firstTasks ?? spawned) - spawned) / 1000),
    eventsPerSec: Math.round(EVENTS / seconds),
    steadyEventsPerSec: steadyRate(warm, done),
    // The broker shares the machine's cores with the members: its CPU time over the run, in cores.
    brokerCores: round((cpu.user + cpu.system) / 1e6 / ((done - spawned) / 1000)),
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

function medianSpeedup(results: Record<string, unknown>[], mode: string, of = 'speedupVsOne'): number | undefined {
  const ratios = results
    .filter((r) => r.mode === mode && r.threads === 2 && typeof r[of] === 'number')
    .map((r) => r[of] as number)
    .sort((a, b) => a - b);
  return ratios.length ? ratios[Math.floor(ratios.length / 2)] : undefined;
}

/**
 * The pipeline's work per record by hand in `threads` worker threads (bench/scale/hand-loop.ts: parse, check,
 * count per key and window; no engine, log or I/O), each an equal share of the events: how two threads doing this
 * work scale on this machine, measured in the same run as the pipeline.
 */
async function handLoop(threads: number) {
  const workers = Array.from(
    { length: threads },
    (_, share) =>
      new Worker(new URL('./scale/hand-loop.ts', import.meta.url), {
        workerData: { records: EVENTS, share, shares: threads, keys: KEYS, start: START },
      }),
  );
  const message = (worker: Worker) =>
    new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  await Promise.all(workers.map(message)); // encoded their records
  const started = performance.now();
  const done = workers.map(message);
  for (const worker of workers) worker.postMessage('go');
  await Promise.all(done);
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(workers.map((worker) => worker.terminate()));
  return {
    mode: 'hand-loop',
    processes: 1,
    threads,
    seconds: round(seconds),
    eventsPerSec: Math.round(EVENTS / seconds),
  };
}

/**
 * CPU seconds so far of this process's threads, by thread name (Linux: /proc/self/task): the owner (`MainThread`),
 * the task threads (named after the pipeline), V8's helpers (`V8Worker`: parallel GC, compilers) and libuv's pool.
 * Undefined where /proc is not there.
 */
function cpuByThread(): Map<string, number> | undefined {
  const tasks = '/proc/self/task';
  if (!fs.existsSync(tasks)) return undefined;
  const ticksPerSecond = 100; // USER_HZ, 100 on every Linux build Node supports
  const byName = new Map<string, number>();
  for (const tid of fs.readdirSync(tasks)) {
    try {
      const stat = fs.readFileSync(path.join(tasks, tid, 'stat'), 'utf8');
      const name = fs.readFileSync(path.join(tasks, tid, 'comm'), 'utf8').trim();
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond; // utime + stime
      byName.set(name, (byName.get(name) ?? 0) + seconds);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return byName;
}

/** Cores used per thread name between two cpuByThread() readings (threads that ended in between are missed). */
function coresByThread(before: Map<string, number> | undefined, seconds: number): Record<string, number> | undefined {
  const after = cpuByThread();
  if (!before || !after) return undefined;
  const cores: Record<string, number> = {};
  for (const [name, cpu] of after) {
    const used = (cpu - (before.get(name) ?? 0)) / seconds;
    if (used >= 0.01) cores[name] = round(used);
  }
  return cores;
}

const log = await openLog({ dataDir: path.join(root, 'log') });
const broker = await startBroker({ log, port: 0 });
try {
  const expected = await load(log);
  const results: Record<string, unknown>[] = [await embedded(log, expected)];
  for (let inRound = 1; inRound <= ROUNDS; inRound++) {
    for (const n of THREADS) results.push({ ...(await threaded(log, n, expected, inRound)), round: inRound });
    for (const n of THREADS) results.push({ ...(await handLoop(n)), round: inRound });
  }
  for (const n of PROCESSES) results.push(await scaled(log, broker.address, n, expected));
  const oneOf = (mode: string, round: unknown) =>
    results.find((r) => r.mode === mode && r.round === round && (r.threads ?? r.processes) === 1);
  for (const r of results) {
    const one = oneOf(String(r.mode), r.round);
    if (one && r.mode !== 'embedded') {
      r.speedupVsOne = round((r.eventsPerSec as number) / (one.eventsPerSec as number));
      if (typeof r.steadyEventsPerSec === 'number') {
        r.steadySpeedupVsOne = round(r.steadyEventsPerSec / (one.steadyEventsPerSec as number));
      }
    }
    const what = r.threads !== undefined ? `${r.threads} thread(s)` : `${r.processes} process(es)`;
    console.error(`${String(r.mode).padEnd(9)} ${what}: ${r.eventsPerSec} events/s (${r.seconds} s)`);
  }
  console.log(
    JSON.stringify({
      bench: 'scale',
      events: EVENTS,
      partitions: PARTITIONS,
      keys: KEYS,
      windows: expected,
      cores: os.availableParallelism(),
      // Median over the rounds of 2 threads (and 2 hand-loop threads) against 1 in the same round: over the whole
      // run, and after the warm-up (the first WARM_UP of the output: the threads' code compiled, heaps grown).
      medianSpeedup: {
        threads: medianSpeedup(results, 'threads'),
        threadsSteady: medianSpeedup(results, 'threads', 'steadySpeedupVsOne'),
        handLoop: medianSpeedup(results, 'hand-loop'),
      },
      results,
    }),
  );
} finally {
  await broker.close();
  await log.close();
  fs.rmSync(root, { recursive: true, force: true });
}
