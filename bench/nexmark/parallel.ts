// Nexmark on N task threads (`npm run bench -- nexmark --parallelism 1,2`), as Flink's harness runs it at a
// parallelism: the events are written first to a topic of the embedded log with P partitions, then the query runs as
// P partition tasks on N worker threads (src/scale/threads.ts, as `sluice run --parallelism N`), every keyBy through a
// repartition topic, its results into a topic through the exactly-once log sink (a transaction per checkpoint). This
// file is also the pipeline file the threads import: its default export builds the query named in the environment.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import { DataStream, definePipeline, json, logSink, logSource, Pipeline, type Sink } from '../../src/engine/index.ts';
import type { Log } from '../../src/log/index.ts';
import { startTaskThreads } from '../../src/scale/index.ts';
import type { NexmarkEvent } from './model.ts';
import { nexmarkEvents, QUERIES, type QueryName, type QueryOptions } from './queries.ts';

/** What the threads build, passed in the environment (a worker thread starts with a copy of the owner's). */
interface ParallelConfig {
  /** A query, or 'source': the events read and decoded, nothing done with them (the input's own cost). */
  query: QueryName | 'source';
  /** The pipeline's name: unique per run, so each run has its own repartition topics and checkpoints. */
  name: string;
  input: string;
  output: string;
  /** The BroadcastChannel on which each task says it has finished. */
  channel: string;
}
const CONFIG_ENV = 'SLUICE_NEXMARK_PARALLEL';

type Build = (events: DataStream<NexmarkEvent>, options: QueryOptions) => DataStream<unknown>;

/**
 * Builds `query` with a repartition step before each of its keyBys (named k1, k2, … in build order, the same in every
 * task): the queries are written for one process, where a keyBy needs none; a task sees only its partition's events.
 */
export function withRepartitions<T>(build: () => T): T {
  const keyBy = DataStream.prototype.keyBy;
  let step = 0;
  DataStream.prototype.keyBy = function (this: DataStream<unknown>, key, options = {}) {
    return keyBy.call(this, key, options.repartition === undefined ? { repartition: `k${++step}` } : options);
  } as typeof keyBy;
  try {
    return build();
  } finally {
    DataStream.prototype.keyBy = keyBy;
  }
}

/** The sink, telling the owner (by `channel`) when its task has finished: closed after the last checkpoint. */
function reportingSink<T>(sink: Sink<T>, channel: string): Sink<T> {
  let writer = '';
  let records = 0;
  return new Proxy(sink, {
    get(target, property) {
      if (property === 'setWriter') {
        return (name: string, options: { shared: boolean }) => {
          writer = name;
          target.setWriter?.(name, options);
        };
      }
      if (property === 'write') {
        return (batch: Parameters<Sink<T>['write']>[0]) => {
          records += batch.values.length;
          return target.write(batch);
        };
      }
      if (property === 'close') {
        return async () => {
          await target.close?.();
          const done = new BroadcastChannel(channel);
          done.postMessage({ writer, records });
          done.close();
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const definition = definePipeline(({ log }) => {
  const config = JSON.parse(process.env[CONFIG_ENV] ?? 'null') as ParallelConfig | null;
  if (config === null)
    throw new Error(`${CONFIG_ENV} is not set: bench/nexmark/parallel.ts runs from bench/nexmark.ts`);
  // Bounded: each task reads its partition to the end, fires what is left and finishes with a last checkpoint.
  const p = new Pipeline({ name: config.name, bounded: true, onError: 'fail' });
  const events = nexmarkEvents(p, logSource({ log, topic: config.input, format: json<NexmarkEvent>() }));
  const results =
    config.query === 'source'
      ? events.filter(() => false)
      : withRepartitions(() => (QUERIES[config.query as QueryName] as unknown as Build)(events, {}));
  results.sinkTo(reportingSink(logSink({ log, topic: config.output, format: json() }), config.channel));
  return p;
});
export default definition;

export interface ParallelRun {
  log: Log;
  /** The topic holding the events (its partitions are the tasks). */
  input: string;
  query: QueryName | 'source';
  parallelism: number;
  /** Checkpoints every this many ms (0: only the first and the last of each task). */
  intervalMs: number;
  /** Keep the output's values (tests); by default only counted. */
  keepValues?: boolean;
}

let runs = 0;

/**
 * Runs `query` over the whole input topic on `parallelism` task threads: wall and process CPU time (every thread:
 * the tasks', the log owner's, GC) from when the threads have their tasks to when the last task has finished, and
 * the results committed to the output topic. The run's topics and checkpoints are removed after it.
 */
export async function runParallel(run: ParallelRun) {
  const { log } = run;
  const id = `${process.pid}-${++runs}`;
  const name = `nexmark-${run.query}-${id}`;
  const config: ParallelConfig = {
    query: run.query,
    name,
    input: run.input,
    output: `${name}-out`,
    channel: `sluice-nexmark-${id}`,
  };
  const partitions = log.describeTopic(run.input).partitions.length;
  await log.createTopic(config.output, { partitions });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-nexmark-threads-'));
  const finished = new Set<string>();
  const allDone = Promise.withResolvers<void>();
  const channel = new BroadcastChannel(config.channel);
  channel.onmessage = (message) => {
    finished.add((message as { data: { writer: string } }).data.writer);
    if (finished.size === partitions) allDone.resolve();
  };
  process.env[CONFIG_ENV] = JSON.stringify(config);
  try {
    const threads = await startTaskThreads({
      file: import.meta.filename,
      define: definition,
      log,
      dataDir,
      parallelism: run.parallelism,
      intervalMs: run.intervalMs,
      // Tasks stay where they started: a moved task stops and closes its sink, which would count as finished.
      rebalance: false,
    });
    threads.done.catch(allDone.reject);
    await threads.started;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await allDone.promise;
    const wall = (performance.now() - t0) / 1000;
    const used = process.cpuUsage(cpu0);
    const cpu = (used.user + used.system) / 1e6;
    await threads.stop();
    await threads.done;
    const checkpoints = checkpointsTaken(path.join(dataDir, 'checkpoints', name, 'tasks'));
    const output = readCommitted(log, config.output, run.keepValues === true);
    const events = log.describeTopic(run.input).partitions.reduce((n, p) => n + p.logEndOffset - p.logStartOffset, 0);
    return {
      threads: threads.assignment.length,
      partitions,
      wallSeconds: wall,
      cpuSeconds: cpu,
      eventsPerSec: Math.round(events / wall),
      eventsPerCpuSec: Math.round(events / cpu),
      // The process's CPU in cores over the run (the log owner's thread included).
      cores: +(cpu / wall).toFixed(2),
      checkpoints,
      results: output.count,
      values: output.values,
    };
  } finally {
    channel.close();
    delete process.env[CONFIG_ENV];
    for (const { name: topic } of log.listTopics()) {
      if (topic.startsWith(name)) await log.deleteTopic(topic);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Checkpoints the tasks took (ids count from 1 in each task: the latest file's id is how many it took). */
function checkpointsTaken(tasks: string): number {
  let n = 0;
  for (const task of fs.readdirSync(tasks)) {
    const ids = fs.readdirSync(path.join(tasks, task)).map((f) => Number(/^chk-(\d+)\.ckpt$/.exec(f)?.[1] ?? 0));
    n += Math.max(0, ...ids);
  }
  return n;
}

/** The committed records of `topic` (a read_committed reader's view): how many, and their values if asked. */
function readCommitted(log: Log, topic: string, keep: boolean): { count: number; values: string[] } {
  const values: string[] = [];
  let count = 0;
  for (const { partition, logStartOffset } of log.describeTopic(topic).partitions) {
    for (let offset = logStartOffset; ; ) {
      const page = log.readRecords(topic, partition, offset, { isolation: 'read_committed' });
      for (const r of page.records) {
        if (r.value === null) continue;
        count++;
        if (keep) values.push(r.value.toString());
      }
      if (page.nextOffset === offset) break;
      offset = page.nextOffset;
    }
  }
  return { count, values };
}

export interface ParallelBenchOptions {
  queries: QueryName[];
  events: number;
  /** The thread counts to run each query at. */
  parallelism: number[];
  /** Partitions of the input topic (the tasks); default twice the largest parallelism. */
  partitions?: number;
  runs: number;
  checkpointMs: number;
  /** Set in the child process that measures one query (bench/nexmark.ts's --mode parallel). */
  child: boolean;
  /** The arguments bench/nexmark.ts was started with, for its children. */
  argv: string[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * `--parallelism 1,2`: per query, a child process writes the events into a topic of `partitions` partitions, then
 * at each parallelism runs the query and the input alone ('source': read and decode, nothing else), alternated
 * `runs` times; the medians, and the query's own cost (its CPU time per event less the input alone's).
 */
export async function nexmarkParallel(options: ParallelBenchOptions): Promise<void> {
  const partitions = options.partitions ?? 2 * Math.max(...options.parallelism);
  if (options.child) {
    console.log(JSON.stringify(await measureQuery(options.queries[0]!, { ...options, partitions })));
    return;
  }
  const { execFileSync } = await import('node:child_process');
  console.error(
    `Nexmark on task threads: ${options.events.toLocaleString('en')} events in ${partitions} partitions of the ` +
      `embedded log, checkpoints every ${options.checkpointMs || '-'} ms, exactly-once log sink, ${options.runs} ` +
      `run(s) each, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'})`,
  );
  console.error(
    'query  threads  ev/s     ev/CPU-s  cores  input alone ev/CPU-s  query only ev/CPU-s  checkpoints  results',
  );
  const k = (x: number | null) =>
    x === null ? '-' : x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${Math.round(x / 1e3)}k`;
  for (const query of options.queries) {
    const args = [new URL('../nexmark.ts', import.meta.url).pathname, ...options.argv, '--mode', 'parallel'];
    args.push('--queries', query, '--partitions', String(partitions));
    const out = execFileSync(process.execPath, ['--max-old-space-size=8192', ...args], {
      encoding: 'utf8',
      env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const row = JSON.parse(out.trim().split('\n').at(-1)!) as Awaited<ReturnType<typeof measureQuery>>;
    for (const r of row.byParallelism) {
      console.error(
        `${query.padEnd(6)} ${String(r.parallelism).padEnd(8)} ${k(r.eventsPerSec).padEnd(8)} ${k(r.eventsPerCpuSec).padEnd(9)} ` +
          `${String(r.cores).padEnd(6)} ${k(r.inputEvPerCpuSec).padEnd(21)} ${k(r.queryOnlyEvPerCpuSec).padEnd(20)} ` +
          `${String(r.checkpoints).padEnd(12)} ${r.results}`,
      );
    }
    console.log(JSON.stringify(row));
  }
}

async function measureQuery(query: QueryName, options: ParallelBenchOptions & { partitions: number }) {
  const { openLog } = await import('../../src/log/index.ts');
  const { NexmarkGenerator } = await import('./generator.ts');
  const { produceToLog } = await import('./sources.ts');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-nexmark-parallel-'));
  try {
    const log = await openLog({ dataDir: dir, fsync: { mode: 'none' } });
    const t0 = performance.now();
    await produceToLog(log, 'nexmark', new NexmarkGenerator(), options.events, { partitions: options.partitions });
    const producedPerSec = Math.round(options.events / ((performance.now() - t0) / 1000));
    const byParallelism = [];
    for (const parallelism of options.parallelism) {
      const run = (q: QueryName | 'source') =>
        runParallel({ log, input: 'nexmark', query: q, parallelism, intervalMs: options.checkpointMs });
      // A warm-up of each (the owner's code compiles; the threads compile theirs afresh every run).
      await run('source');
      await run(query);
      const runs: Awaited<ReturnType<typeof run>>[] = [];
      const alone: Awaited<ReturnType<typeof run>>[] = [];
      for (let r = 0; r < options.runs; r++) {
        // Alternated, in turn order, so that neither gains from coming later.
        if (r % 2 === 0) {
          runs.push(await run(query));
          alone.push(await run('source'));
        } else {
          alone.push(await run('source'));
          runs.push(await run(query));
        }
      }
      const eventsPerCpuSec = median(runs.map((x) => x.eventsPerCpuSec));
      const inputEvPerCpuSec = median(alone.map((x) => x.eventsPerCpuSec));
      const perEvent = 1 / eventsPerCpuSec - 1 / inputEvPerCpuSec;
      byParallelism.push({
        parallelism,
        threads: runs[0]!.threads,
        eventsPerSec: median(runs.map((x) => x.eventsPerSec)),
        eventsPerCpuSec,
        cores: median(runs.map((x) => x.cores)),
        inputEventsPerSec: median(alone.map((x) => x.eventsPerSec)),
        inputEvPerCpuSec,
        queryOnlyEvPerCpuSec: perEvent > 0 ? Math.round(1 / perEvent) : null,
        checkpoints: median(runs.map((x) => x.checkpoints)),
        results: runs[0]!.results,
        sameResults: runs.every((x) => x.results === runs[0]!.results),
      });
    }
    await log.close();
    return {
      bench: 'nexmark',
      mode: 'parallel',
      query,
      events: options.events,
      partitions: options.partitions,
      checkpointIntervalMs: options.checkpointMs,
      runs: options.runs,
      cpus: os.cpus().length,
      logProducedPerSec: producedPerSec,
      byParallelism,
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
