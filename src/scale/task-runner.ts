// Runs the partition tasks a process owns. A scaled-out pipeline is one task per input partition (of every input
// topic; they are co-partitioned), as in Kafka Streams: each task is a whole instance of the pipeline reading one
// partition, with its own state and its own checkpoints in `<checkpoints>/<pipeline>/tasks/p<NNNN>/`. Moving a task
// is stopping it (a last checkpoint), releasing its lease, and starting it elsewhere from that checkpoint; a task
// whose process died resumes from its latest checkpoint and its sinks skip what it had already written. Rescaling
// is the same move done for many tasks at once, so results do not depend on how many processes run them. With
// `checkpointStore: 'log'` the checkpoints and the lease are records in the task's partition of the
// `<pipeline>-checkpoints` topic instead, so that processes on hosts without a shared directory can run the tasks.
import fs from 'node:fs';
import path from 'node:path';
import {
  checkpointTopic,
  KeyedPartition,
  LogCheckpointStore,
  type Pipeline,
  type PipelineLog,
} from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import { writeFileAtomicSync } from '../files.ts';
import type { Logger } from '../logger.ts';
import { InProcessHost, isStartupFailure, Supervisor, sleep } from '../runtime/index.ts';
import { TaskLease, type TaskLeaseLike } from './lease.ts';
import { LogTaskLease } from './log-lease.ts';

export interface TaskRunnerOptions {
  /** Builds a fresh instance of the pipeline (the runner makes it a task and turns its checkpoints on). */
  define: () => Promise<Pipeline>;
  pipeline: string;
  /** The checkpoint store's root (`<data dir>/checkpoints`); shared by every process running the pipeline. */
  checkpointRoot: string;
  /** Period of checkpoints in ms (0: only on stop and on request). */
  intervalMs: number;
  /** A savepoint name every task starts from, once (later starts resume from the task's newer checkpoints). */
  fromSavepoint?: string;
  allowNonRestoredState?: boolean;
  /** A lease not renewed for this long is taken over (default 10 s; on one host a dead owner at once). */
  leaseMs?: number;
  /**
   * Where tasks keep their checkpoints and leases: `dir`, the task directories under `checkpointRoot` (shared by
   * every process: one host, or a shared filesystem), or `log`, the `<pipeline>-checkpoints` topic of `log` (one
   * partition per task), which members on any host reach through the cluster alone.
   */
  checkpointStore?: 'dir' | 'log';
  /** The log the checkpoint topic is in (`checkpointStore: 'log'`). */
  log?: PipelineLog;
  /** The pipeline's partition tasks: the checkpoint topic is created with one partition each. */
  partitions?: number;
  logger: Logger;
}

interface RunningTask {
  partition: number;
  host: InProcessHost | undefined;
  run: Supervisor | undefined;
  /** Settles once the task has been built (it runs), or has ended without. */
  built: Promise<void>;
  /** Settles once the task has stopped and let go of its lease. */
  stopped: Promise<void>;
  stop(): Promise<void>;
}

export function taskDir(checkpointRoot: string, pipeline: string, partition: number): string {
  return path.join(checkpointRoot, pipeline, 'tasks', `p${String(partition).padStart(4, '0')}`);
}

/** The task directories of a pipeline that has run scaled out (for `sluice savepoint`), by partition. */
export function taskDirs(checkpointRoot: string, pipeline: string): Map<number, string> {
  const root = path.join(checkpointRoot, pipeline, 'tasks');
  const dirs = new Map<number, string>();
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return dirs;
  }
  for (const name of names) {
    const match = /^p(\d{4,})$/.exec(name);
    if (match) dirs.set(Number(match[1]), path.join(root, name));
  }
  return dirs;
}

/** Every task of the pipeline must have the savepoint, or the rescaled run would start some tasks from scratch. */
export function requireTaskSavepoints(root: string, pipeline: string, partitions: number, name: string): void {
  const dirs = taskDirs(root, pipeline);
  const missing: number[] = [];
  for (let p = 0; p < partitions; p++) {
    const dir = dirs.get(p);
    if (!dir || !isFile(path.join(dir, 'savepoints', `${name}.ckpt`))) missing.push(p);
  }
  if (missing.length > 0) {
    throw new SluiceError(
      'SAVEPOINT_NOT_FOUND',
      `savepoint "${name}" of pipeline ${pipeline} is missing for task(s) ${missing.join(', ')} under ${root}`,
      { missing },
    );
  }
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export class TaskRunner {
  private readonly options: TaskRunnerOptions;
  private readonly tasks = new Map<number, RunningTask>();
  private reconciling: Promise<void> = Promise.resolve();
  private failure: unknown;
  private closed = false;

  constructor(options: TaskRunnerOptions) {
    this.options = options;
  }

  /** The partitions whose tasks run here (or are starting). */
  partitions(): number[] {
    return [...this.tasks.keys()].sort((a, b) => a - b);
  }

  /** The task pipelines running now, by partition. */
  pipelines(): Map<number, Pipeline> {
    const running = new Map<number, Pipeline>();
    for (const [partition, task] of this.tasks) {
      const pipeline = task.host?.current();
      if (pipeline) running.set(partition, pipeline);
    }
    return running;
  }

  /**
   * Resolves once every task assigned so far has been built (or has ended without): a failure after that is a
   * running task's, not a definition that cannot build (the worker protocol's `built`).
   */
  async built(): Promise<void> {
    await this.reconciling;
    await Promise.all([...this.tasks.values()].map((t) => t.built));
  }

  /** A task that gave up (crash loop): the process should exit so that its partitions move elsewhere. */
  get failed(): unknown {
    return this.failure;
  }

  /**
   * Makes the running tasks exactly `partitions`: stops those no longer owned (each with a last checkpoint, then
   * its lease released) before starting the new ones, which wait for their previous owners to let go.
   */
  assign(partitions: readonly number[]): Promise<void> {
    const wanted = new Set(partitions);
    this.reconciling = this.reconciling.then(async () => {
      if (this.closed) return;
      const leaving = [...this.tasks.values()].filter((t) => !wanted.has(t.partition));
      await Promise.all(leaving.map((t) => t.stop()));
      for (const partition of [...wanted].sort((a, b) => a - b)) {
        if (!this.tasks.has(partition)) this.tasks.set(partition, this.start(partition));
      }
      this.options.logger.info({ partitions: this.partitions() }, 'tasks assigned');
    });
    return this.reconciling;
  }

  /** Stops every task with a last checkpoint and releases the leases. */
  async close(): Promise<void> {
    await this.assign([]);
    this.closed = true;
  }

  private start(partition: number): RunningTask {
    const { options } = this;
    const dir = taskDir(options.checkpointRoot, options.pipeline, partition);
    let lease: TaskLeaseLike | undefined;
    const starting = new AbortController();
    const logger = options.logger.child({ task: partition });
    const built = Promise.withResolvers<void>();
    const task: RunningTask = {
      partition,
      host: undefined,
      run: undefined,
      built: built.promise,
      stopped: Promise.resolve(),
      stop: async () => {
        starting.abort();
        void task.run?.stop();
        await task.stopped;
      },
    };
    task.stopped = (async () => {
      // Whichever way the task ends — unassigned while it waited for the lease included — it leaves the runner:
      // one left behind would still count as running here, and assigning its partition back would not start it.
      try {
        let storage: LogCheckpointStore | undefined;
        // The checkpoint topic may be out of reach for a while (a broker restarting): the task waits for it.
        for (let tries = 0; lease === undefined; tries++) {
          if (starting.signal.aborted) return;
          try {
            ({ lease, storage } = await this.place(partition, dir, logger));
          } catch (error) {
            if (tries === 0) logger.warn({ err: error }, 'cannot reach the task checkpoint store; retrying');
            await sleep(Math.min(5000, 250 * 2 ** tries), starting.signal);
          }
        }
        try {
          await lease.acquire(starting.signal, () => {
            logger.error('another process took this task over (lease lost); stopping it without a checkpoint');
            void task.run?.stop({ checkpoint: false });
          });
        } catch {
          return; // unassigned before the previous owner let go
        }
        task.host = new InProcessHost({
          build: async (attempt) => {
            const pipeline = (await options.define()).runAsTask(partition);
            pipeline.enableCheckpoints({
              ...(storage ? { storage } : { dir }),
              intervalMs: options.intervalMs,
              restoreFrom:
                attempt > 0
                  ? 'latest'
                  : storage
                    ? this.logSavepointToApply(storage, pipeline, logger)
                    : this.savepointToApply(dir, pipeline, logger),
              allowNonRestoredState: options.allowNonRestoredState ?? false,
            });
            return pipeline;
          },
        });
        task.run = new Supervisor({ host: task.host, name: `task ${partition}`, logger });
        task.run.ready.then(built.resolve, built.resolve);
        task.run.start();
        if (starting.signal.aborted) void task.run.stop();
        await task.run.done;
      } catch (error) {
        this.failure ??= error;
        // The process reports a pipeline that would not load or build, once, as its own failure; a crash loop is news.
        if (isStartupFailure(error)) logger.debug({ err: error }, 'task could not start');
        else logger.error({ err: error }, 'task failed for good');
      } finally {
        built.resolve();
        await lease?.release();
        if (this.tasks.get(partition) === task) this.tasks.delete(partition);
      }
    })();
    return task;
  }

  /** The task's lease and, in the log, its checkpoint store (sharing one reader of the task's partition). */
  private async place(
    partition: number,
    dir: string,
    logger: Logger,
  ): Promise<{ lease: TaskLeaseLike; storage?: LogCheckpointStore }> {
    const { options } = this;
    if (options.checkpointStore !== 'log') {
      fs.mkdirSync(dir, { recursive: true });
      return { lease: new TaskLease(dir, { leaseMs: options.leaseMs }) };
    }
    const log = options.log;
    if (!log) throw new SluiceError('INVALID_CONFIG', 'checkpointStore "log" needs the log');
    const topic = checkpointTopic(options.pipeline);
    // The store's topic settings (no time or size retention, segments small enough for purging to free space).
    await LogCheckpointStore.ensureTopic(log, topic, Math.max(1, options.partitions ?? 1));
    await log.refresh?.(topic);
    const count = log.describeTopic(topic).partitions.length;
    const keyed = new KeyedPartition(log, topic, partition % count);
    const scope = `p${String(partition).padStart(4, '0')}`;
    const lease = new LogTaskLease(keyed, scope, { leaseMs: options.leaseMs });
    const storage = new LogCheckpointStore({
      log,
      topic,
      scope,
      partition: keyed.partition,
      retain: 3,
      logger,
      keyed,
      beforeCommit: () => lease.verify(),
    });
    return { lease, storage };
  }

  /**
   * `--from-savepoint` applies to each task once: a process that takes a task over later, started with the same
   * flags, must resume from the task's newer checkpoints rather than rewind it. The marker is written once the
   * restored task has checkpointed (its first checkpoint follows the restore at once).
   */
  /** As savepointToApply(), in the log: the marker is a record `<task>/savepoint-applied` beside the savepoint. */
  private logSavepointToApply(
    storage: LogCheckpointStore,
    pipeline: Pipeline,
    logger: Logger,
  ): 'latest' | { savepoint: string } {
    const name = this.options.fromSavepoint;
    if (name === undefined) return 'latest';
    const stamp = storage.savepointStamp(name);
    if (stamp === undefined) {
      throw new SluiceError('SAVEPOINT_NOT_FOUND', `no savepoint "${name}" in ${storage.location}`, { name });
    }
    if (storage.appliedSavepoint() === stamp) return 'latest';
    const watch = setInterval(() => {
      const { running, error, checkpoints } = pipeline.metrics();
      if (!running && error) return clearInterval(watch);
      if (checkpoints.completed === 0) return;
      clearInterval(watch);
      storage.markSavepointApplied(stamp).then(
        () => logger.info({ savepoint: name }, 'started from the savepoint'),
        (error: unknown) => logger.warn({ err: error }, 'could not mark the savepoint applied'),
      );
    }, 50);
    watch.unref();
    return { savepoint: name };
  }

  private savepointToApply(dir: string, pipeline: Pipeline, logger: Logger): 'latest' | { file: string } {
    const name = this.options.fromSavepoint;
    if (name === undefined) return 'latest';
    const file = path.join(dir, 'savepoints', `${name}.ckpt`);
    let stamp: string;
    try {
      stamp = `${name}@${fs.statSync(file).mtimeMs}`;
    } catch {
      throw new SluiceError('SAVEPOINT_NOT_FOUND', `task ${dir} has no savepoint "${name}" (${file})`, { file });
    }
    const marker = path.join(dir, 'SAVEPOINT-APPLIED');
    const applied = fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : '';
    if (applied === stamp) return 'latest';
    const watch = setInterval(() => {
      const { running, error, checkpoints } = pipeline.metrics();
      if (!running && error) return clearInterval(watch);
      if (checkpoints.completed === 0) return;
      clearInterval(watch);
      writeFileAtomicSync(marker, stamp);
      logger.info({ savepoint: file }, 'started from the savepoint');
    }, 50);
    watch.unref();
    return { file };
  }
}
