// `sluice run --parallelism N` on the embedded log: N worker threads in this process, each running a share of the
// pipeline's partition tasks, balanced by the records the partitions hold (the same TaskRunner, leases and per-task
// checkpoints as member processes).
// This thread keeps the log and only serves it — raw batches out, encoded batches in — so decoding, the pipeline's
// work and encoding happen on the workers' cores. A thread that dies is restarted with backoff from its tasks'
// checkpoints (its leases released first: its process lives on, so a lease could not tell it is gone) — unless its
// first start could not load the pipeline file or build the pipeline, which ends the run at once. While the
// threads catch up on a backlog, a thread that would finish well after another hands it a task (rebalance.ts).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type PipelineDefinition, type PipelineView, RestartBudget, sleep } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { Log } from '../log/index.ts';
import { createLogger, type Logger } from '../logger.ts';
import { siblingModule } from '../modules.ts';
import { buildPipeline, serveLog, threadPort } from '../orchestrate/index.ts';
import { inspectPipeline, type PipelineShape } from './inspect.ts';
import { releaseThreadLeases } from './lease.ts';
import { DEFAULT_MOVE_POLICY, type MovePolicy, planMove, ReadProgress, type TaskMove } from './rebalance.ts';
import { requireTaskSavepoints, taskDir } from './task-runner.ts';
import type { TaskReport, TaskThreadMessage, TaskThreadStart } from './task-thread.ts';

const ENTRY = siblingModule(import.meta.url, 'task-thread');

export interface TaskThreadsOptions {
  /** The pipeline file each thread imports (its default export builds the pipeline). */
  file: string;
  /** The same definition, loaded here to inspect the pipeline (and create its topics) before the threads start. */
  define: PipelineDefinition;
  log: Log;
  dataDir: string;
  parallelism: number;
  /** Period of the tasks' checkpoints in ms. */
  intervalMs: number;
  fromSavepoint?: string;
  allowNonRestoredState?: boolean;
  /** How long a stopping thread may take for its last checkpoints before it is terminated (default 60 s). */
  stopTimeoutMs?: number;
  /**
   * Move tasks from a thread that would finish its backlog well after another (default true); `policy` tunes
   * when a move pays (rebalance.ts).
   */
  rebalance?: boolean | { policy?: MovePolicy; everyMs?: number };
  logger?: Logger;
}

export interface TaskThreads {
  readonly shape: PipelineShape;
  /** The partitions each thread runs now, by thread index (tasks move between threads: see rebalance.ts). */
  readonly assignment: number[][];
  /** The tasks moved so far, oldest first, each with when it moved (epoch ms). */
  moves(): (TaskMove & { at: number })[];
  /** Resolves once every thread has its tasks started (they may still wait for a lease or restore state). */
  readonly started: Promise<void>;
  /** Settles when the threads have stopped: rejects if one crashed in a loop (the others are stopped then). */
  readonly done: Promise<void>;
  /**
   * The running tasks as the threads last reported them (about once a second), each named `<pipeline>#<partition>`:
   * for the HTTP API and /metrics.
   */
  views(): PipelineView[];
  /** Stops every task with a last checkpoint, then the threads. */
  stop(): Promise<void>;
}

export async function startTaskThreads(options: TaskThreadsOptions): Promise<TaskThreads> {
  const logger = options.logger ?? createLogger('run');
  const shape = await inspectPipeline(
    () => buildPipeline(options.file, options.define, { log: options.log, bounded: false, dataDir: options.dataDir }),
    options.log,
  );
  if (shape.partitions === 0) {
    throw new SluiceError('TASKS_UNSUPPORTED', `pipeline ${shape.name} reads no log topic, so it has no tasks`);
  }
  const checkpointRoot = path.join(options.dataDir, 'checkpoints');
  if (options.fromSavepoint !== undefined) {
    requireTaskSavepoints(checkpointRoot, shape.name, shape.partitions, options.fromSavepoint);
  }
  const count = Math.min(options.parallelism, shape.partitions);
  if (count < options.parallelism) {
    logger.warn({ parallelism: options.parallelism, partitions: shape.partitions }, 'more threads than tasks');
  }
  const inputs = shape.topics.map((topic) => options.log.describeTopic(topic).partitions);
  const sizes = Array.from({ length: shape.partitions }, (_, p) =>
    inputs.reduce((n, partitions) => n + partitions[p]!.logEndOffset - partitions[p]!.logStartOffset, 0),
  );
  const assignment = balanceTasks(sizes, count);
  const workers: (Worker | undefined)[] = assignment.map(() => undefined);
  /** Per thread: started and able to take a task (cleared when it exits). */
  const ready: boolean[] = assignment.map(() => false);
  /** Replies to 'assign' by thread: resolved by its 'assigned' message or its exit. */
  const assigned: ((() => void) | undefined)[] = assignment.map(() => undefined);
  const progress = new ReadProgress(count);
  const stopping = new AbortController();
  const budget = new RestartBudget({ maxFailures: 5 * count });
  const live = new Set<Worker>();
  const reported = new Map<number, TaskReport>();
  const startedOnce = assignment.map(() => Promise.withResolvers<void>());
  let failure: unknown;

  const runThread = async (index: number) => {
    for (let incarnation = 0; !stopping.signal.aborted; incarnation++) {
      const partitions = assignment[index]!;
      const start: TaskThreadStart = {
        fileUrl: pathToFileURL(path.resolve(options.file)).href,
        dataDir: options.dataDir,
        pipeline: shape.name,
        checkpointRoot,
        partitions,
        intervalMs: options.intervalMs,
        fromSavepoint: options.fromSavepoint,
        allowNonRestoredState: options.allowNonRestoredState,
      };
      const worker = new Worker(ENTRY, {
        workerData: start,
        name: `${shape.name}#${index}`,
        // The thread's loggers log at this one's level (the CLI's --log-level), not at their default.
        env: { ...process.env, SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? logger.level },
      });
      const thread = worker.threadId;
      live.add(worker);
      workers[index] = worker;
      const channel = serveLog(
        threadPort(worker),
        options.log,
        {},
        {
          onRead: (topic, partition, offset) => progress.reading(index, topic, partition, offset),
        },
      );
      let lastError: { code: string; message: string; startup?: boolean } | undefined;
      worker.on('message', (message: TaskThreadMessage) => {
        if (message.kind === 'started') {
          ready[index] = true;
          startedOnce[index]!.resolve();
        }
        if (message.kind === 'assigned') assigned[index]?.();
        if (message.kind === 'report') for (const t of message.tasks) reported.set(t.partition, t);
        if (message.kind === 'failed') lastError = message.error;
      });
      worker.on('error', (error) => {
        lastError = { code: (error as SluiceError).code ?? 'THREAD_FAILED', message: error.message };
      });
      if (stopping.signal.aborted) worker.postMessage({ kind: 'stop' });
      const code = await new Promise<number>((resolve) => worker.once('exit', resolve));
      live.delete(worker);
      ready[index] = false;
      workers[index] = undefined;
      assigned[index]?.();
      // Calls the thread made may still be running (an append): let them land before its successor starts.
      await channel.drain();
      channel.close();
      // Tasks may have moved to or from the thread since it started: whatever it held, it held under its id.
      const held = [...new Set([...partitions, ...assignment[index]!])];
      for (const p of held) reported.delete(p);
      if (stopping.signal.aborted && code === 0) return;
      const every = Array.from({ length: shape.partitions }, (_, p) => taskDir(checkpointRoot, shape.name, p));
      const released = releaseThreadLeases(every, thread);
      const error = new SluiceError(
        lastError?.code ?? 'THREAD_EXITED',
        `thread ${index} (tasks ${held.join(',')}) exited with code ${code}` +
          (lastError ? `: ${lastError.message}` : ''),
      );
      // The thread's first start could not load the file or build the pipeline: every restart would fail alike.
      // (Later, rebuilding after a crash may meet a passing trouble, and is restarted.)
      if (lastError?.startup && incarnation === 0) {
        failure ??= new SluiceError(lastError.code, lastError.message, { phase: 'build', thread: index });
        stopping.abort();
        for (const other of live) other.postMessage({ kind: 'stop' });
        return;
      }
      if (stopping.signal.aborted) {
        logger.error({ err: error }, 'thread stopped abnormally');
        return;
      }
      let delay: number;
      try {
        delay = budget.failed(error, `thread ${index}`);
      } catch (given) {
        failure ??= given;
        stopping.abort();
        for (const other of live) other.postMessage({ kind: 'stop' });
        return;
      }
      logger.error({ err: error, released, restartInMs: Math.round(delay) }, 'task thread died; restarting it');
      await sleep(delay, stopping.signal);
    }
  };

  const moves: (TaskMove & { at: number })[] = [];
  const rebalancing = options.rebalance ?? true;
  const stopRebalancing =
    rebalancing !== false && count > 1
      ? rebalanceThreads({
          shape,
          log: options.log,
          assignment,
          progress,
          ready,
          policy: (typeof rebalancing === 'object' && rebalancing.policy) || DEFAULT_MOVE_POLICY,
          everyMs: (typeof rebalancing === 'object' && rebalancing.everyMs) || 250,
          signal: stopping.signal,
          // The task stops in its thread (a last checkpoint, its lease released) before the other starts it.
          async move(move) {
            const reply = (thread: number) =>
              new Promise<void>((resolve) => {
                assigned[thread] = resolve;
                workers[thread]?.postMessage({ kind: 'assign', partitions: assignment[thread] });
                if (!workers[thread]) resolve();
              });
            assignment[move.from] = assignment[move.from]!.filter((p) => !move.partitions.includes(p));
            await reply(move.from);
            assignment[move.to] = [...assignment[move.to]!, ...move.partitions].sort((a, b) => a - b);
            await reply(move.to);
            moves.push({ ...move, at: Date.now() });
            logger.info(move, 'task moved to a thread with less backlog');
          },
        })
      : () => {};

  const threads = Promise.all(assignment.map((_, i) => runThread(i))).finally(stopRebalancing);
  const done = threads.then(() => {
    if (failure !== undefined) throw failure;
  });
  const started = Promise.race([
    Promise.all(startedOnce.map((s) => s.promise)).then(() => {}),
    // A thread that cannot start at all ends the run: do not leave a caller waiting for it.
    done,
  ]);
  return {
    shape,
    assignment,
    moves: () => [...moves],
    started,
    done,
    views: () => [...reported.values()].sort((a, b) => a.partition - b.partition).map(viewOf),
    async stop() {
      stopping.abort();
      for (const worker of live) worker.postMessage({ kind: 'stop' });
      const deadline = setTimeout(() => {
        for (const worker of live) void worker.terminate();
      }, options.stopTimeoutMs ?? 60_000);
      try {
        await threads;
      } finally {
        clearTimeout(deadline);
      }
    },
  };
}

interface RebalanceLoop {
  shape: PipelineShape;
  log: Log;
  /** The threads' tasks now (the loop reads it; `move` changes it). */
  assignment: number[][];
  progress: ReadProgress;
  /** Per thread: started and able to take tasks. */
  ready: boolean[];
  policy: MovePolicy;
  everyMs: number;
  signal: AbortSignal;
  move(move: TaskMove): Promise<void>;
}

/**
 * Every `everyMs`: each thread's backlog (the input topics' end minus where its reads have got to) and pace, and
 * the move planMove finds, one at a time. Returns a function that stops the loop.
 */
function rebalanceThreads(loop: RebalanceLoop): () => void {
  const { shape, log, assignment, progress } = loop;
  /** When each task that moved may move again. */
  const movableAt = new Map<number, number>();
  const begun = performance.now();
  const { policy } = loop;
  let moving = false;
  /** The threads the last plans asked to move tasks between, and since when (see policy.confirmSeconds). */
  let calledFor: { from: number; to: number; since: number } | undefined;
  const lags = (): number[] => {
    const lag = new Array<number>(shape.partitions).fill(0);
    for (const topic of shape.topics) {
      for (const { partition, logStartOffset, logEndOffset } of log.describeTopic(topic).partitions) {
        if (partition >= shape.partitions) continue;
        const at = Math.max(progress.position(topic, partition) ?? logStartOffset, logStartOffset);
        lag[partition]! += Math.max(0, logEndOffset - at);
      }
    }
    return lag;
  };
  const tick = () => {
    if (moving || loop.signal.aborted || !loop.ready.every(Boolean)) return;
    const now = performance.now();
    const lag = lags();
    progress.sample(
      now,
      assignment.map((partitions) => partitions.reduce((n, p) => n + lag[p]!, 0)),
    );
    const move = planMove(
      assignment.map((partitions, i) => ({ partitions, capacity: progress.capacity(i) })),
      (p) => lag[p]!,
      (p) => now >= (movableAt.get(p) ?? begun + policy.settleSeconds * 1000),
      policy,
    );
    if (move?.from !== calledFor?.from || move?.to !== calledFor?.to) {
      calledFor = move && { from: move.from, to: move.to, since: now };
    }
    if (move === undefined || now - calledFor!.since < policy.confirmSeconds * 1000) return;
    calledFor = undefined;
    moving = true;
    for (const p of move.partitions) movableAt.set(p, now + policy.movedSettleSeconds * 1000);
    loop
      .move(move)
      .catch(() => {}) // a thread that died mid-move restarts with its tasks as they now stand
      .finally(() => {
        moving = false;
      });
  };
  const timer = setInterval(tick, loop.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

function viewOf(report: TaskReport): PipelineView {
  const name = `${report.metrics.name}#${report.partition}`;
  return {
    name,
    metrics: () => ({ ...report.metrics, name }),
    topology: () => report.topology,
    sourcePositions: () => report.positions,
    history: { snapshot: () => report.history },
  };
}

/**
 * Shares partition tasks among `count` threads so that each gets about as many records: the largest partition
 * first, each to the thread with the fewest records so far (then the fewest tasks, then the first), so equal
 * partitions go round robin (p ≡ i mod count). The last thread to finish sets the pace of catching up, so an even share matters more
 * than which partitions a thread has; a thread's own list is in partition order.
 */
export function balanceTasks(sizes: readonly number[], count: number): number[][] {
  const shares = Array.from({ length: count }, () => ({ partitions: [] as number[], records: 0 }));
  const order = sizes.map((_, p) => p).sort((a, b) => sizes[b]! - sizes[a]! || a - b);
  for (const p of order) {
    let least = shares[0]!;
    for (const share of shares) {
      const fewer = share.records - least.records || share.partitions.length - least.partitions.length;
      if (fewer < 0) least = share;
    }
    least.partitions.push(p);
    least.records += sizes[p]!;
  }
  return shares.map((share) => share.partitions.sort((a, b) => a - b));
}
