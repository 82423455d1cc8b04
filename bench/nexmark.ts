// `npm run bench -- nexmark [--events N] [--queries q0,q5] [--source generator|log] [--runs R]
//  [--checkpoint-interval 10s [--checkpoint-events M]]`: the Nexmark queries on one core, measured as the Nexmark
// harnesses count them. Per query, each part in its own process:
//   throughput   N events through the pipeline from the generator (or, with --source log, deserialised from the
//                embedded log): events/s of wall time and per CPU-second (process CPU time, generator included);
//                and, from the generator, the same N events from the generator alone (no pipeline), whose CPU time
//                per event subtracted from the run's gives the query's own cost (queryOnlyEvPerCpuSec);
//   checkpoints  with --checkpoint-interval (a duration; 0 or absent: none), as Flink's harness runs Nexmark: the
//                query alternately without and with checkpoints every interval (state snapshotted into files in a
//                temporary directory per run), and the generator alone, over the same M events (--checkpoint-events,
//                or enough for the run to last 4 intervals at the throughput part's rate), each run in a fresh
//                process warmed up the same way; the overhead in % of wall time and of CPU time, the checkpoints
//                taken, and the query's own cost with checkpoints on. The queries count their results in memory (no
//                query writes to a log sink, so there is no exactly-once sink to commit);
//   pre-generated  the same from events generated in memory beforehand, beside a hand-written loop computing the
//                same result in the same process (bench/nexmark/loops.ts): the ratio is the engine's overhead;
//   latency      events paced at half the measured throughput for a few seconds: p50/p99 from when the event that
//                produced (or fired) a result was due to when the result reached the sink;
// and each part's peak RSS. Prints a table to stderr and one JSON line per query to stdout. With --parallelism 1,2
// [--partitions P], instead: each query on that many task threads over a partitioned topic (bench/nexmark/parallel.ts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  type CheckpointOptions,
  countingSink,
  type DataStream,
  fromArrays,
  json,
  logSource,
  Pipeline,
  type Sink,
  type Source,
  toMillis,
} from '../src/engine/index.ts';
import { openLog } from '../src/log/index.ts';
import { NexmarkGenerator } from './nexmark/generator.ts';
import { LOOPS } from './nexmark/loops.ts';
import type { NexmarkEvent } from './nexmark/model.ts';
import { nexmarkParallel } from './nexmark/parallel.ts';
import { nexmarkEvents, QUERIES, type QueryName, type QueryOptions } from './nexmark/queries.ts';
import { nexmarkSource, pacedSource, produceToLog } from './nexmark/sources.ts';

const { values: flags } = parseArgs({
  options: {
    events: { type: 'string', default: '5000000' },
    'pregen-events': { type: 'string' },
    queries: { type: 'string', default: Object.keys(QUERIES).join(',') },
    source: { type: 'string', default: 'generator' },
    runs: { type: 'string', default: '1' },
    'latency-seconds': { type: 'string', default: '5' },
    rate: { type: 'string' },
    mode: { type: 'string' },
    'checkpoint-interval': { type: 'string', default: '0' },
    'checkpoint-events': { type: 'string' },
    variant: { type: 'string' },
    parallelism: { type: 'string' },
    sql: { type: 'boolean' },
    partitions: { type: 'string' },
  },
});
// A duration ('10s', '500ms'), or a bare number of milliseconds (0: no checkpoints).
const CHECKPOINT_MS = (() => {
  const v = flags['checkpoint-interval'];
  try {
    return /^\d+(\.\d+)?$/.test(v) ? toMillis(Number(v)) : toMillis(v);
  } catch (e) {
    console.error(`--checkpoint-interval: ${(e as Error).message}`);
    process.exit(2);
  }
})();
const N = Number(flags.events);
const PREGEN = Number(flags['pregen-events'] ?? Math.min(N, 2_000_000));
const RUNS = Number(flags.runs);
const queries = flags.queries.split(',').map((q) => q.trim()) as QueryName[];
for (const q of queries) {
  if (!(q in QUERIES)) {
    console.error(`unknown query ${q}; the queries are ${Object.keys(QUERIES).join(', ')}`);
    process.exit(2);
  }
}
if (flags.source !== 'generator' && flags.source !== 'log') {
  console.error('--source is generator or log');
  process.exit(2);
}

type Build = (events: DataStream<NexmarkEvent>, options: QueryOptions) => DataStream<unknown>;
const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

/** Runs `body` and measures its wall and CPU time. */
async function measure<T>(count: number, body: () => Promise<T> | T) {
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const result = await body();
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  return { result, eventsPerSec: Math.round(count / wall), eventsPerCpuSec: Math.round(count / cpu) };
}

/** Builds `query` into `p`, with a temporary directory for q10's files (removed by the returned function). */
function build(query: QueryName, p: Pipeline, source: Parameters<typeof nexmarkEvents>[1], sink: Sink<unknown>) {
  const outputDir = query === 'q10' ? fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-nexmark-q10-')) : undefined;
  (QUERIES[query] as unknown as Build)(nexmarkEvents(p, source), { outputDir }).sinkTo(sink);
  return () => {
    if (outputDir !== undefined) fs.rmSync(outputDir, { recursive: true, force: true });
  };
}

async function runPipeline(
  query: QueryName,
  source: Parameters<typeof nexmarkEvents>[1],
  sink: Sink<unknown>,
  checkpoints?: CheckpointOptions,
) {
  const p = new Pipeline({ bounded: true, onError: 'fail', ...(query === 'q12' ? { tickMs: 10 } : {}) });
  const cleanUp = build(query, p, source, sink);
  if (checkpoints !== undefined) p.enableCheckpoints(checkpoints);
  try {
    await p.run();
  } finally {
    cleanUp();
  }
  return { ...p.metrics().checkpoints, taken: p.history.snapshot().checkpoints };
}

/** Reads `source` to its end without a pipeline: what the events cost to make, alone. */
async function drain(source: Source<NexmarkEvent>) {
  const signal = new AbortController().signal;
  await source.open({ bounded: true, deadLetter() {} });
  let n = 0;
  for (let b = await source.poll(signal); b !== null; b = await source.poll(signal)) n += b.values.length;
  return n;
}

/** Events per CPU-second of the query alone: the run's CPU time per event less the generator's. */
const queryOnly = (runEvPerCpuSec: number, generatorEvPerCpuSec: number) => {
  const perEvent = 1 / runEvPerCpuSec - 1 / generatorEvPerCpuSec;
  return perEvent > 0 ? Math.round(1 / perEvent) : null;
};

/** The median run of several, by events per CPU-second. */
function best<T extends { eventsPerCpuSec: number }>(runs: T[]): T {
  return [...runs].sort((a, b) => a.eventsPerCpuSec - b.eventsPerCpuSec)[Math.floor(runs.length / 2)]!;
}

async function throughput(query: QueryName) {
  const generator = new NexmarkGenerator();
  // Warm-up: the engine's and the generator's code compiled once.
  await runPipeline(query, nexmarkSource(generator, Math.min(N, 200_000)), countingSink());
  await drain(nexmarkSource(generator, Math.min(N, 200_000)));
  const runs = [];
  const alone = [];
  for (let r = 0; r < RUNS; r++) {
    const sink = countingSink<unknown>();
    const m = await measure(N, () => runPipeline(query, nexmarkSource(generator, N), sink));
    runs.push({ eventsPerSec: m.eventsPerSec, eventsPerCpuSec: m.eventsPerCpuSec, results: sink.count });
    alone.push(await measure(N, () => drain(nexmarkSource(generator, N))));
  }
  const run = best(runs);
  const generatorEvPerCpuSec = best(alone).eventsPerCpuSec;
  return {
    ...run,
    generatorEvPerCpuSec,
    queryOnlyEvPerCpuSec: queryOnly(run.eventsPerCpuSec, generatorEvPerCpuSec),
    peakRssMb: peakRssMb(),
  };
}

type CheckpointVariant = 'without' | 'with' | 'generator';
type CheckpointRun = Awaited<ReturnType<typeof checkpointRun>>;

/**
 * One measured run of the checkpoint comparison, in a process of its own (`--mode checkpoint-run`): the query over
 * `events` events without checkpoints, with checkpoints every `intervalMs` (a fresh directory), or the generator
 * alone. Each process first runs the same thing over 1M events and drains 1M from the generator, so that every
 * measured run starts from the same state: compiled code, heap sizes and whatever a previous run left behind are
 * its own, not its neighbours'.
 */
async function checkpointRun(query: QueryName, events: number, intervalMs: number, variant: CheckpointVariant) {
  const generator = new NexmarkGenerator();
  const once = async (count: number) => {
    if (variant === 'generator') {
      const m = await measure(count, () => drain(nexmarkSource(generator, count)));
      return { ...m, result: undefined, results: 0, files: 0 };
    }
    const dir = variant === 'with' ? fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-nexmark-ckpt-')) : undefined;
    try {
      const sink = countingSink<unknown>();
      const options = dir === undefined ? undefined : { dir, intervalMs, restoreFrom: 'none' as const };
      const m = await measure(count, () => runPipeline(query, nexmarkSource(generator, count), sink, options));
      const files = dir === undefined ? 0 : fs.readdirSync(dir, { recursive: true }).length;
      return { ...m, results: sink.count, files };
    } finally {
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const warm = Math.min(events, 1_000_000);
  await once(warm);
  await drain(nexmarkSource(generator, warm));
  const m = await once(events);
  return {
    variant,
    eventsPerSec: m.eventsPerSec,
    eventsPerCpuSec: m.eventsPerCpuSec,
    results: m.results,
    files: m.files,
    checkpoints: m.result ?? null,
    peakRssMb: peakRssMb(),
  };
}

/**
 * The query over `events` events without checkpoints, with checkpoints every `intervalMs`, and the generator alone,
 * alternated `RUNS` times (without first, then with first), each run in a fresh process (`spawn`); medians of each.
 */
function checkpointed(events: number, intervalMs: number, spawn: (variant: CheckpointVariant) => CheckpointRun) {
  const off: CheckpointRun[] = [];
  const on: CheckpointRun[] = [];
  const alone: CheckpointRun[] = [];
  for (let r = 0; r < RUNS; r++) {
    const order: CheckpointVariant[] = r % 2 === 0 ? ['without', 'with'] : ['with', 'without'];
    for (const variant of order) (variant === 'with' ? on : off).push(spawn(variant));
    alone.push(spawn('generator'));
  }
  const mid = <T>(xs: T[], f: (x: T) => number) => median(xs.map(f));
  const offCpu = mid(off, (x) => x.eventsPerCpuSec);
  const onCpu = mid(on, (x) => x.eventsPerCpuSec);
  const offWall = mid(off, (x) => x.eventsPerSec);
  const onWall = mid(on, (x) => x.eventsPerSec);
  const generatorEvPerCpuSec = mid(alone, (x) => x.eventsPerCpuSec);
  const c = best(on);
  const taken = c.checkpoints?.taken ?? [];
  const pct = (a: number, b: number) => +((1 - a / b) * 100).toFixed(1);
  return {
    intervalMs,
    events,
    runs: RUNS,
    without: { eventsPerSec: offWall, eventsPerCpuSec: offCpu },
    with: { eventsPerSec: onWall, eventsPerCpuSec: onCpu },
    overheadPct: pct(onWall, offWall),
    cpuOverheadPct: pct(onCpu, offCpu),
    checkpoints: c.checkpoints?.completed ?? 0,
    failed: c.checkpoints?.failed ?? 0,
    // Over the checkpoints of the median run with checkpoints (the last one may be taken at the end of the input).
    maxBytes: Math.max(0, ...taken.map((x) => x.bytes ?? 0)),
    meanPauseMs: +mean(taken.map((x) => x.pauseMs)).toFixed(2),
    maxPauseMs: +Math.max(0, ...taken.map((x) => x.pauseMs)).toFixed(2),
    meanDurationMs: +mean(taken.map((x) => x.durationMs)).toFixed(2),
    // The sources held at barriers, as a share of the run's wall time.
    pausePct: +((taken.reduce((n, x) => n + x.pauseMs, 0) * c.eventsPerSec) / events / 10).toFixed(3),
    filesLeft: c.files,
    results: c.results,
    resultsWithout: off[0]?.results ?? 0,
    generatorEvPerCpuSec,
    queryOnlyEvPerCpuSec: queryOnly(onCpu, generatorEvPerCpuSec),
    queryOnlyEvPerCpuSecWithout: queryOnly(offCpu, generatorEvPerCpuSec),
    // Each run's events per CPU-second, in the order taken (without, with, generator alone).
    perRun: {
      without: off.map((x) => x.eventsPerCpuSec),
      with: on.map((x) => x.eventsPerCpuSec),
      generator: alone.map((x) => x.eventsPerCpuSec),
    },
    peakRssMb: Math.max(...on.map((x) => x.peakRssMb)),
  };
}

async function fromLog(query: QueryName) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-nexmark-'));
  try {
    const log = await openLog({ dataDir: dir, fsync: { mode: 'none' } });
    const generator = new NexmarkGenerator();
    const t0 = performance.now();
    await produceToLog(log, 'nexmark', generator, N);
    const produceSec = (performance.now() - t0) / 1000;
    const source = () => logSource({ log, topic: 'nexmark', format: json<NexmarkEvent>() });
    const runs = [];
    for (let r = 0; r <= RUNS; r++) {
      const sink = countingSink<unknown>();
      const m = await measure(N, () => runPipeline(query, source(), sink));
      // The first run reads the log cold and compiles the code: a warm-up.
      if (r > 0) runs.push({ eventsPerSec: m.eventsPerSec, eventsPerCpuSec: m.eventsPerCpuSec, results: sink.count });
    }
    await log.close();
    return { ...best(runs), producedPerSec: Math.round(N / produceSec), peakRssMb: peakRssMb() };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function pregenerated(query: QueryName) {
  const generator = new NexmarkGenerator();
  const events = Array.from({ length: PREGEN }, (_, i) => generator.event(i));
  const loop = LOOPS[query];
  const engine = async () => {
    const sink = countingSink<unknown>();
    await runPipeline(query, fromArrays([events], { batchSize: 4096 }), sink);
    return sink.count;
  };
  await engine();
  loop(events);
  const engineRuns = [];
  const loopRuns = [];
  for (let r = 0; r < RUNS; r++) {
    engineRuns.push(await measure(PREGEN, engine));
    loopRuns.push(await measure(PREGEN, () => loop(events)));
  }
  const e = best(engineRuns);
  const l = best(loopRuns);
  return {
    events: PREGEN,
    eventsPerSec: e.eventsPerSec,
    eventsPerCpuSec: e.eventsPerCpuSec,
    results: e.result,
    loopEventsPerSec: l.eventsPerSec,
    loopResults: l.result,
    ratio: +(median(engineRuns.map((x) => x.eventsPerSec)) / median(loopRuns.map((x) => x.eventsPerSec))).toFixed(2),
    peakRssMb: peakRssMb(),
  };
}

/** Weighted percentiles over (latency, count) pairs. */
function percentiles(samples: [number, number][], qs: number[]): number[] {
  samples.sort((a, b) => a[0] - b[0]);
  const total = samples.reduce((n, s) => n + s[1], 0);
  return qs.map((q) => {
    let seen = 0;
    for (const [ms, n] of samples) {
      seen += n;
      if (seen >= q * total) return +ms.toFixed(2);
    }
    return Number.NaN;
  });
}

async function latency(query: QueryName, rate: number) {
  const generator = new NexmarkGenerator();
  // Processing-time windows of 10 s: run long enough for one to close after the warm-up.
  const seconds = query === 'q12' ? Math.max(12, Number(flags['latency-seconds'])) : Number(flags['latency-seconds']);
  await runPipeline(query, nexmarkSource(generator, Math.min(N, 200_000)), countingSink());
  const source = pacedSource(generator, rate, seconds);
  const samples: [number, number][] = [];
  let results = 0;
  const sink: Sink<unknown> = {
    name: 'latency',
    write(batch) {
      const now = performance.now();
      results += batch.values.length;
      if (query === 'q12') {
        // Processing-time windows: from the window's end (wall clock) to the result.
        const wall = Date.now();
        for (const row of batch.values) samples.push([wall - (row as { endtime: number }).endtime, 1]);
      } else samples.push([now - source.batchDue, batch.values.length]);
    },
  };
  const p = new Pipeline({ onError: 'fail', ...(query === 'q12' ? { tickMs: 10 } : {}) });
  const cleanUp = build(query, p, source, sink);
  // A streaming (unbounded) run: it ends when the paced source is exhausted; windows still open are not fired.
  try {
    await p.run();
  } finally {
    cleanUp();
  }
  const [p50, p99] = samples.length > 0 ? percentiles(samples, [0.5, 0.99]) : [null, null];
  return { ratePerSec: rate, seconds, events: source.produced, results, p50Ms: p50, p99Ms: p99 };
}

if (flags.sql) {
  // --sql: each query's SQL plan against its DataStream pipeline (bench/nexmark/sql-bench.ts).
  const { sqlBench } = await import('./nexmark/sql-bench.ts');
  const events = process.argv.includes('--events') ? N : 500_000;
  await sqlBench({ events, queries, runs: process.argv.includes('--runs') ? RUNS : 3 });
} else if (flags.parallelism !== undefined) {
  // On task threads, the events in a partitioned topic first (bench/nexmark/parallel.ts).
  await nexmarkParallel({
    queries,
    events: N,
    parallelism: flags.parallelism.split(',').map(Number),
    partitions: flags.partitions === undefined ? undefined : Number(flags.partitions),
    runs: RUNS,
    checkpointMs: CHECKPOINT_MS,
    child: flags.mode === 'parallel',
    argv: process.argv.slice(2),
  });
} else if (flags.mode !== undefined) {
  const query = queries[0]!;
  const out =
    flags.mode === 'throughput'
      ? await (flags.source === 'log' ? fromLog(query) : throughput(query))
      : flags.mode === 'pregen'
        ? await pregenerated(query)
        : flags.mode === 'checkpoint-run'
          ? await checkpointRun(
              query,
              Number(flags['checkpoint-events']),
              CHECKPOINT_MS,
              flags.variant as CheckpointVariant,
            )
          : await latency(query, Number(flags.rate));
  console.log(JSON.stringify(out));
} else {
  const child = (query: QueryName, mode: string, extra: string[] = []) => {
    const args = [import.meta.filename, '--mode', mode, '--queries', query, '--events', String(N)];
    args.push('--pregen-events', String(PREGEN), '--runs', String(RUNS), '--source', flags.source);
    args.push('--latency-seconds', flags['latency-seconds'], ...extra);
    const out = execFileSync(process.execPath, ['--max-old-space-size=8192', ...args], {
      encoding: 'utf8',
      env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return JSON.parse(out.trim().split('\n').at(-1)!);
  };
  const k = (x: number | null | undefined) =>
    x == null ? '-' : x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${Math.round(x / 1e3)}k`;
  console.error(
    `Nexmark, ${N.toLocaleString('en')} events (source: ${flags.source}), pre-generated ${PREGEN.toLocaleString('en')}, ` +
      `${RUNS} run(s) each, ${os.cpus()[0]?.model ?? 'cpu'}`,
  );
  console.error(
    'query  ev/s     ev/CPU-s  results     | pre-gen ev/s  ev/CPU-s  loop ev/s  ratio | latency at ev/s  p50 ms  p99 ms | RSS MB',
  );
  for (const query of queries) {
    const t = child(query, 'throughput');
    const pre = child(query, 'pregen');
    // Enough events for the run with checkpoints to last 4 intervals at the rate just measured (or as given).
    const ckEvents =
      flags['checkpoint-events'] === undefined
        ? Math.max(N, Math.round((t.eventsPerSec * CHECKPOINT_MS * 4) / 1000))
        : Number(flags['checkpoint-events']);
    const ck =
      CHECKPOINT_MS > 0
        ? checkpointed(ckEvents, CHECKPOINT_MS, (variant) =>
            child(query, 'checkpoint-run', [
              '--checkpoint-interval',
              String(CHECKPOINT_MS),
              '--checkpoint-events',
              String(ckEvents),
              '--variant',
              variant,
            ]),
          )
        : undefined;
    const rate = flags.rate === undefined ? Math.max(1000, Math.round(t.eventsPerSec / 2)) : Number(flags.rate);
    const lat = child(query, 'latency', ['--rate', String(rate)]);
    const row = {
      bench: 'nexmark',
      query,
      source: flags.source,
      events: N,
      eventsPerSec: t.eventsPerSec,
      eventsPerCpuSec: t.eventsPerCpuSec,
      generatorEvPerCpuSec: t.generatorEvPerCpuSec,
      queryOnlyEvPerCpuSec: t.queryOnlyEvPerCpuSec,
      results: t.results,
      peakRssMb: t.peakRssMb,
      ...(t.producedPerSec ? { logProducedPerSec: t.producedPerSec } : {}),
      pregenerated: pre,
      latency: lat,
      ...(ck ? { checkpointing: ck } : {}),
    };
    console.error(
      `${query.padEnd(6)} ${k(t.eventsPerSec).padEnd(8)} ${k(t.eventsPerCpuSec).padEnd(9)} ${String(t.results).padEnd(11)} | ` +
        `${k(pre.eventsPerSec).padEnd(13)} ${k(pre.eventsPerCpuSec).padEnd(9)} ${k(pre.loopEventsPerSec).padEnd(10)} ` +
        `${String(pre.ratio).padEnd(5)} | ${k(lat.ratePerSec).padEnd(15)} ${String(lat.p50Ms ?? '-').padEnd(7)} ` +
        `${String(lat.p99Ms ?? '-').padEnd(7)} | ${t.peakRssMb}`,
    );
    if (ck) {
      console.error(
        `  checkpoints every ${CHECKPOINT_MS} ms, ${ck.events.toLocaleString('en')} events: ` +
          `ev/s ${k(ck.without.eventsPerSec)} → ${k(ck.with.eventsPerSec)} (${ck.overheadPct}%), ` +
          `ev/CPU-s ${k(ck.without.eventsPerCpuSec)} → ${k(ck.with.eventsPerCpuSec)} (${ck.cpuOverheadPct}%); ` +
          `${ck.checkpoints} checkpoints, up to ${ck.maxBytes} B, pause mean ${ck.meanPauseMs} max ${ck.maxPauseMs} ms ` +
          `(${ck.pausePct}% of the run); generator alone ` +
          `${k(ck.generatorEvPerCpuSec)} ev/CPU-s, query only ${k(ck.queryOnlyEvPerCpuSecWithout)} → ` +
          `${k(ck.queryOnlyEvPerCpuSec)}`,
      );
      if (ck.results !== ck.resultsWithout) {
        console.error(`  ${query}: ${ck.resultsWithout} results without checkpoints, ${ck.results} with`);
      }
    }
    if (pre.results !== pre.loopResults && query !== 'q12') {
      console.error(`  ${query}: the pipeline gave ${pre.results} results, the loop ${pre.loopResults}`);
    }
    console.log(JSON.stringify(row));
  }
}
