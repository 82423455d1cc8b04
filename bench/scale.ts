// `npm run bench -- scale [--quick] [--events N] [--partitions 48] [--threads 1,2,4,8] [--members 1,2,4,8] [--rounds R]
// [--no-hand-loop] [--fsync none]`: the windowed-counts pipeline (examples/windowed-counts.ts, 60 s tumbling windows
// per key) over N events in a 48-partition topic, run (a) in one process on the embedded log — the fast path, one core
// —, (b) as partition tasks in 1, 2, 4, 8 worker threads over the same embedded log (`sluice run --parallelism P`), and
// (c) scaled out as 1, 2, 4, 8 member processes (`sluice run --bootstrap --parallelism P`) that read through the Kafka
// protocol from the broker this process hosts; and (d) the same work per record by hand in as many threads, no engine
// or log (the machine's own ratio for this work). Each round runs the points alternately (1 thread, 1 member, 2
// threads, 2 members, ...), so that a member is compared with a task thread measured next to it. For (b) the clock
// starts when the threads have their tasks (thread start-up excluded), for (c) when the first member gets its tasks
// (node start-up and group join excluded; the rebalances as the others join included); it stops when the last window
// total is in the output topic. The events are loaded once, before the runs, so each measures catching up on a backlog.
// `steadyEventsPerSec` is the rate after the first 20% of the output (compiling, heap growth and joins behind: what a
// long-running pipeline sustains), and `warmUpShare` the share of the run's time that went beyond what the steady rate
// would have taken (a run whose share is under 10% measures the sustained rate). Points with more threads or members
// than the machine has cores are run too, and marked `oversubscribed`. `moves` counts tasks moved between task threads
// (docs/scale.md). Defaults: 40M events, one round (~15 minutes on 2 cores shared with other work, 2.6 GB in a
// temporary directory: runs long enough that a member's warm-up — joins, rebalances, its tasks' start — is near 10% of
// its run); `--quick` is 3M events without the hand loop (~2 minutes), for a check, not for figures; `--events
// 20000000` halves the time; `--fsync none` opens the log (and the broker) without fsyncs.
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
    quick: { type: 'boolean', default: false },
    events: { type: 'string' },
    partitions: { type: 'string', default: '48' },
    members: { type: 'string', default: '1,2,4,8' },
    processes: { type: 'string' }, // the former name of --members
    threads: { type: 'string', default: '1,2,4,8' },
    rounds: { type: 'string', default: '1' },
    keys: { type: 'string', default: '1000' },
    'no-hand-loop': { type: 'boolean', default: false },
    // `none`: the log (and so the broker) fsyncs nothing — to see what members wait for in fsyncs before acks.
    fsync: { type: 'string', default: 'batch' },
  },
});
const EVENTS = Number(flags.events ?? (flags.quick ? 3_000_000 : 40_000_000));
const KEYS = Number(flags.keys);
const PARTITIONS = Number(flags.partitions);
const list = (text: string) => text.split(',').filter(Boolean).map(Number);
const MEMBERS = list(flags.processes ?? flags.members);
const THREADS = list(flags.threads);
const HAND_LOOP = !flags['no-hand-loop'] && !flags.quick;
/** Rounds of every point (1 thread, 1 member, 2 threads, ...): each round's ratios are against its own runs. */
const ROUNDS = Math.max(1, Number(flags.rounds));
const CORES = os.availableParallelism();
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

/**
 * The share of a run's time that went beyond what its steady rate would have taken for all its events: compiling,
 * heap growth, joins and rebalances (0 when the run never went faster than at its start).
 */
const warmUpShare = (seconds: number, steady: number) => round(Math.max(0, 1 - EVENTS / steady / seconds));

/** Figures every run reports from its clock: whole-run and steady rates, and the warm-up's share. */
function rates(seconds: number, warm: number, done: number) {
  const steady = steadyRate(warm, done);
  return {
    seconds: round(seconds),
    eventsPerSec: Math.round(EVENTS / seconds),
    steadyEventsPerSec: steady,
    warmUpShare: warmUpShare(seconds, steady),
  };
}

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
  return { mode: 'embedded', processes: 1, ...rates(seconds, warm, done) };
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
    ...rates(seconds, warm, done),
    oversubscribed: threads > CORES,
    moves: running.moves().length,
    // The whole process's CPU (every thread, GC and the log's I/O included), in cores.
    cores: round((used.user + used.system) / 1e6 / seconds),
    // Events per CPU-second of the task threads alone (as a member's own CPU, the log's owner left out).
    ...(byThread?.['windowed-counts']
      ? { eventsPerTaskCpuSecond: Math.round(EVENTS / (byThread['windowed-counts'] * seconds)) }
      : {}),
    ...(byThread ? { coresByThread: byThread } : {}),
  };
}

async function scaled(log: Log, bootstrap: string, processes: number, expected: number, inRound: number) {
  await resetOutputs(log);
  const dataDir = path.join(root, `members-${processes}-${inRound}`); // no checkpoints from an earlier round
  const child: ChildProcess = spawn(
    process.execPath,
    [
      SLUICE,
      'run',
      PIPELINE,
      '--bootstrap',
      bootstrap,
      '--group',
      `bench-${processes}-${inRound}`,
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
  let membersCpu = 0;
  const startedCpu = (async () => {
    await until(() => firstTasks !== undefined, 600_000);
    membersCpu = treeCpuSeconds(child.pid!);
  })();
  const warm = await untilAllOut(log, expected);
  const done = performance.now();
  const cpu = process.cpuUsage(brokerCpu);
  await startedCpu;
  // The members' CPU over the run (every thread of every member process: GC and the client included).
  const memberCpuSeconds = treeCpuSeconds(child.pid!) - membersCpu;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  const seconds = (done - (firstTasks ?? spawned)) / 1000;
  return {
    mode: 'members',
    processes,
    ...rates(seconds, warm, done),
    oversubscribed: processes > CORES,
    startupSeconds: round(((firstTasks ?? spawned) - spawned) / 1000),
    // The broker shares the machine's cores with the members: its CPU time over the run, in cores.
    brokerCores: round((cpu.user + cpu.system) / 1e6 / ((done - spawned) / 1000)),
    memberCores: round(memberCpuSeconds / seconds),
    // Events per CPU-second of the members: what a member costs, less sensitive to other load than its rate.
    eventsPerMemberCpuSecond: memberCpuSeconds > 0 ? Math.round(EVENTS / memberCpuSeconds) : undefined,
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

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
    oversubscribed: threads > CORES,
  };
}

/** CPU seconds so far of process `pid` and its descendants (Linux: /proc; 0 elsewhere). */
function treeCpuSeconds(pid: number): number {
  if (!fs.existsSync('/proc/self/stat')) return 0;
  const parents = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
      cpu.set(Number(entry), (Number(fields[11]) + Number(fields[12])) / 100); // utime + stime, USER_HZ = 100
    } catch {
      // the process ended between the listing and the read
    }
  }
  const inTree = (p: number): boolean => {
    for (let q: number | undefined = p, depth = 0; q !== undefined && depth < 16; q = parents.get(q), depth++) {
      if (q === pid) return true;
    }
    return false;
  };
  let total = 0;
  for (const [p, seconds] of cpu) if (inTree(p)) total += seconds;
  return total;
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

/** The median of the numbers (undefined for none). */
function median(xs: number[]): number | undefined {
  const sorted = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

const log = await openLog({
  dataDir: path.join(root, 'log'),
  fsync: flags.fsync === 'none' ? { mode: 'none' } : { mode: 'batch' },
});
const broker = await startBroker({ log, port: 0 });
try {
  const loadAtStart = os.loadavg()[0]!;
  const loading = performance.now();
  const expected = await load(log);
  console.error(
    `loaded ${EVENTS} events into ${PARTITIONS} partitions in ${round((performance.now() - loading) / 1000)} s`,
  );
  const results: Record<string, unknown>[] = [await embedded(log, expected)];
  const points = [...new Set([...THREADS, ...MEMBERS])].sort((a, b) => a - b);
  for (let inRound = 1; inRound <= ROUNDS; inRound++) {
    for (const n of points) {
      if (THREADS.includes(n)) results.push({ ...(await threaded(log, n, expected, inRound)), round: inRound });
      if (MEMBERS.includes(n)) {
        results.push({ ...(await scaled(log, broker.address, n, expected, inRound)), round: inRound });
      }
    }
    if (HAND_LOOP) for (const n of THREADS) results.push({ ...(await handLoop(n)), round: inRound });
  }
  const find = (mode: string, round: unknown, n: number) =>
    results.find((r) => r.mode === mode && r.round === round && (r.mode === 'members' ? r.processes : r.threads) === n);
  for (const r of results) {
    if (r.mode === 'embedded') continue;
    const n = (r.mode === 'members' ? r.processes : r.threads) as number;
    const one = find(String(r.mode), r.round, 1);
    if (one) {
      r.speedupVsOne = round((r.eventsPerSec as number) / (one.eventsPerSec as number));
      r.steadySpeedupVsOne = round((r.steadyEventsPerSec as number) / (one.steadyEventsPerSec as number));
    }
    // A member against one task thread on the embedded log, measured in the same round.
    const thread = find('threads', r.round, 1);
    if (r.mode === 'members' && thread) {
      r.perMemberVsOneThread = round((r.eventsPerSec as number) / n / (thread.eventsPerSec as number));
      r.steadyPerMemberVsOneThread = round(
        (r.steadyEventsPerSec as number) / n / (thread.steadyEventsPerSec as number),
      );
      // Per CPU-second: a member's whole process against one task thread's own CPU (robust to other load).
      if (typeof r.eventsPerMemberCpuSecond === 'number' && typeof thread.eventsPerTaskCpuSecond === 'number') {
        r.cpuEfficiencyVsOneThread = round(r.eventsPerMemberCpuSecond / thread.eventsPerTaskCpuSecond);
      }
    }
    const what = r.mode === 'members' ? `${n} member(s)` : `${n} thread(s)`;
    const extra = r.warmUpShare === undefined ? '' : `, warm-up ${Math.round((r.warmUpShare as number) * 100)}%`;
    console.error(`${String(r.mode).padEnd(9)} ${what}: ${r.eventsPerSec} events/s (${r.seconds} s${extra})`);
  }
  // Per point, the median over the rounds.
  const curve = (mode: string, field: string, ns: number[]) =>
    Object.fromEntries(
      ns.map((n) => [
        n,
        median(
          results
            .filter((r) => r.mode === mode && (mode === 'members' ? r.processes : r.threads) === n)
            .map((r) => r[field] as number),
        ),
      ]),
    );
  const warmUps = results.map((r) => r.warmUpShare).filter((x): x is number => typeof x === 'number');
  console.log(
    JSON.stringify({
      bench: 'scale',
      events: EVENTS,
      partitions: PARTITIONS,
      keys: KEYS,
      windows: expected,
      cores: CORES,
      fsync: flags.fsync,
      // The machine's load (1-minute average) when the runs began and ended: other work shares the cores.
      loadAverage: [round(loadAtStart), round(os.loadavg()[0]!)],
      rounds: ROUNDS,
      // Points with more threads or members than cores share them (with the broker, the log's owner and GC).
      oversubscribedFrom: points.find((n) => n > CORES),
      curve: {
        threads: curve('threads', 'eventsPerSec', THREADS),
        members: curve('members', 'eventsPerSec', MEMBERS),
        threadsSteady: curve('threads', 'steadyEventsPerSec', THREADS),
        membersSteady: curve('members', 'steadyEventsPerSec', MEMBERS),
        ...(HAND_LOOP ? { handLoop: curve('hand-loop', 'eventsPerSec', THREADS) } : {}),
      },
      // One member through the Kafka protocol ÷ one task thread on the embedded log (same round), per member count.
      perMemberVsOneThread: curve('members', 'perMemberVsOneThread', MEMBERS),
      steadyPerMemberVsOneThread: curve('members', 'steadyPerMemberVsOneThread', MEMBERS),
      cpuEfficiencyVsOneThread: curve('members', 'cpuEfficiencyVsOneThread', MEMBERS),
      warmUpShareMax: warmUps.length ? Math.max(...warmUps) : undefined,
      results,
    }),
  );
} finally {
  await broker.close();
  await log.close();
  fs.rmSync(root, { recursive: true, force: true });
}
