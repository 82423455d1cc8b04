// `sluice run --parallelism N` on the embedded log: N worker threads in this process, each running a share of the
// pipeline's partition tasks, balanced by the records the partitions hold (the same TaskRunner, leases and per-task
// checkpoints as member processes). Each thread runs on a worker-thread host under its own supervisor (src/runtime),
// all sharing one restart budget: a thread that dies is restarted with backoff from its tasks' checkpoints (its leases
// released first: its process lives on, so a lease could not tell it is gone), a thread whose first start cannot load
// the file or build the pipeline ends the run. This thread keeps the log and only serves it — raw batches out, encoded
// batches in — so decoding, the pipeline's work and encoding happen on the workers' cores. While the threads catch up
// on a backlog, a thread that would finish well after another hands it a task (rebalance.ts).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PipelineDefinition, PipelineView } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { Log } from '../log/index.ts';
import { createLogger, type Logger } from '../logger.ts';
import { siblingModule } from '../modules.ts';
import { buildPipeline, RestartBudget, Supervisor, WorkerThreadHost } from '../runtime/index.ts';
import { inspectPipeline, type PipelineShape } from './inspect.ts';
import { releaseThreadLeases } from './lease.ts';
import { DEFAULT_MOVE_POLICY, type MovePolicy, planMove, ReadProgress, type TaskMove } from './rebalance.ts';
import { requireTaskSavepoints, taskDir } from './task-runner.ts';
import type { TaskThreadStart } from './task-thread.ts';

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
  /** Per thread: started and able to take a task (cleared when it exits). */
  const ready: boolean[] = assignment.map(() => false);
  /** Replies to 'assign' by thread: resolved by its 'assigned' message or its exit. */
  const assigned: ((() => void) | undefined)[] = assignment.map(() => undefined);
  const progress = new ReadProgress(count);
  const startedOnce = assignment.map(() => Promise.withResolvers<void>());
  const taskDirs = Array.from({ length: shape.partitions }, (_, p) => taskDir(checkpointRoot, shape.name, p));
  const budget = new RestartBudget({ maxFailures: 5 * count });
  let failure: unknown;

  const hosts = assignment.map((_, index) => {
    /** The tasks the thread was started with: with those it holds now, what it may have held leases of. */
    let startedWith: number[] = [];
    return new WorkerThreadHost({
      name: `${shape.name}#${index}`,
      log: options.log,
      entry: ENTRY,
      workerData: () => {
        startedWith = assignment[index]!;
        return {
          fileUrl: pathToFileURL(path.resolve(options.file)).href,
          dataDir: options.dataDir,
          pipeline: shape.name,
          checkpointRoot,
          partitions: startedWith,
          intervalMs: options.intervalMs,
          fromSavepoint: options.fromSavepoint,
          allowNonRestoredState: options.allowNonRestoredState,
        } satisfies TaskThreadStart;
      },
      onRead: (topic, partition, offset) => progress.reading(index, topic, partition, offset),
      on: {
        started: () => {
          ready[index] = true;
          startedOnce[index]!.resolve();
        },
        assigned: () => assigned[index]?.(),
      },
      onExit: (thread, failed) => {
        ready[index] = false;
        assigned[index]?.();
        // Tasks may have moved to or from the thread since it started: whatever it held, it held under its id.
        const tasks = [...new Set([...startedWith, ...assignment[index]!])].join(',');
        return failed ? { tasks, released: releaseThreadLeases(taskDirs, thread) } : { tasks };
      },
      logLevel: logger.level,
    });
  });
  const supervisors = hosts.map(
    (host, index) =>
      new Supervisor({
        host,
        name: `thread ${index}`,
        budget,
        logger,
        restartMessage: 'task thread died; restarting it',
        stopTimeoutMs: options.stopTimeoutMs ?? 60_000,
      }),
  );
  const stopping = new AbortController();
  const stopAll = () => {
    stopping.abort();
    return Promise.all(supervisors.map((s) => s.stop()));
  };
  for (const supervisor of supervisors) {
    // A thread that cannot start at all, or crashes in a loop, ends the run: the others stop (last checkpoints).
    supervisor.done.catch((error: unknown) => {
      failure ??= error;
      void stopAll();
    });
    supervisor.start();
  }

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
                if (!hosts[thread]!.send({ kind: 'assign', partitions: assignment[thread]! })) resolve();
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

  const threads = Promise.allSettled(supervisors.map((s) => s.done)).finally(stopRebalancing);
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
    views: () => supervisors.flatMap((s) => s.views()).sort((a, b) => taskOf(a.name) - taskOf(b.name)),
    async stop() {
      await stopAll();
      await threads;
    },
  };
}

/** The partition of a task's view, named `<pipeline>#<partition>`. */
function taskOf(name: string): number {
  return Number(/#(\d+)$/.exec(name)?.[1] ?? -1);
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
    loop
      .move(move)
      .catch(() => {}) // a thread that died mid-move restarts with its tasks as they now stand
      .finally(() => {
        moving = false;
        // Settled from when the move is done, not when it was planned: a last checkpoint taken behind another
        // task's long batches can take seconds, and a task restarting elsewhere reads nothing until it has
        // restored, so its new thread's pace is not yet its own.
        const done = performance.now();
        for (const p of move.partitions) movableAt.set(p, done + policy.movedSettleSeconds * 1000);
      });
  };
  const timer = setInterval(tick, loop.everyMs);
  timer.unref();
  return () => clearInterval(timer);
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
