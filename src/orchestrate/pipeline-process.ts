// One pipeline in its own worker process, supervised: started with the orchestrator's log lent over IPC, restarted
// with jittered exponential backoff from its latest checkpoint when the process fails or dies (a crash, an OOM kill,
// `kill -9`), given up on after too many failures in a window, and stopped gracefully (a last checkpoint) on demand.
// A pipeline whose file does not load or whose definition throws before it was ever built fails at once instead:
// the same file would fail the same way each time.
import { type ChildProcess, fork } from 'node:child_process';
import { type PipelineMetrics, RestartBudget, type RestartPolicy, sleep } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { Log } from '../log/index.ts';
import type { Logger } from '../logger.ts';
import { siblingModule } from '../modules.ts';
import { childProcessPort, type LogChannelServer, serveLog } from './log-channel.ts';
import type { WorkerMessage, WorkerStart } from './worker-protocol.ts';

const WORKER = siblingModule(import.meta.url, 'worker');

export type ProcessState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'finished' | 'failed';

export interface PipelineProcessOptions {
  /** The name in status and logs. */
  name: string;
  log: Log;
  start: Omit<WorkerStart, 'kind'>;
  /** Output topics the worker writes under other names (a replay's versions, a batch run's scratch topics). */
  renames?: Record<string, string>;
  /** Restart policy; `false`: a failure is final (batch runs retry as jobs instead). */
  restart: RestartPolicy | false;
  logger: Logger;
  /** How long a graceful stop may take before the process is killed (default 30 s). */
  stopTimeoutMs?: number;
}

export interface RestartRecord {
  at: number;
  cause: string;
}

export class PipelineProcess {
  readonly name: string;
  state: ProcessState = 'starting';
  pid: number | undefined;
  metrics: PipelineMetrics | undefined;
  /** The worker's log sources' positions (next offset per partition, by topic), as last reported. */
  positions: Record<string, number[]> = {};
  lastError: string | undefined;
  readonly restarts: RestartRecord[] = [];
  /** Resolves when the pipeline is first healthy (its first checkpoint taken); rejects if it fails before. */
  readonly ready: Promise<void>;
  /** Resolves when it finished (bounded) or was stopped; rejects when it failed for good. */
  readonly done: Promise<void>;
  private child: ChildProcess | undefined;
  private channel: LogChannelServer | undefined;
  private readonly stopping = new AbortController();
  private readonly options: PipelineProcessOptions;
  /** Some worker built the pipeline: from then on a failure to build again is restarted like any other. */
  private built = false;
  private markReady!: () => void;
  private failReady!: (error: Error) => void;

  constructor(options: PipelineProcessOptions) {
    this.options = options;
    this.name = options.name;
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.failReady = reject;
    });
    this.ready.catch(() => {});
    this.done = this.supervise();
    this.done.catch(() => {});
  }

  private async supervise(): Promise<void> {
    const budget = new RestartBudget(this.options.restart || {});
    for (;;) {
      const outcome = await this.runOnce();
      if (outcome.kind === 'finished' || this.stopping.signal.aborted) {
        this.state = outcome.kind === 'finished' ? 'finished' : 'stopped';
        this.failReady(new SluiceError('PIPELINE_STOPPED', `${this.name} stopped before it was healthy`));
        return;
      }
      this.lastError = outcome.cause;
      let delay: number;
      try {
        if (outcome.startup && !this.built) {
          throw new SluiceError(
            outcome.startup.code,
            `pipeline ${this.name} failed before it started (not restarted): ${outcome.startup.message}`,
            { pipeline: this.name, phase: outcome.startup.phase },
          );
        }
        if (this.options.restart === false) {
          throw new SluiceError('PIPELINE_FAILED', `${this.name} failed: ${outcome.cause}`);
        }
        delay = budget.failed(new Error(outcome.cause), `pipeline ${this.name}`);
      } catch (error) {
        this.state = 'failed';
        this.lastError = (error as Error).message;
        // A pipeline that could not start has nothing in its stack worth a screenful: its message says it all.
        if (outcome.startup && !this.built) {
          this.options.logger.error(
            { pipeline: this.name, code: outcome.startup.code, reason: outcome.startup.message },
            'pipeline could not start; not restarting it',
          );
        } else this.options.logger.error({ pipeline: this.name, err: error }, 'pipeline given up on');
        this.failReady(error as Error);
        throw error;
      }
      if (outcome.healthyForMs > 60_000) budget.recovered();
      this.state = 'restarting';
      this.restarts.push({ at: Date.now(), cause: outcome.cause });
      this.options.logger.warn(
        { pipeline: this.name, cause: outcome.cause, restartInMs: Math.round(delay) },
        'pipeline process failed; restarting it from its latest checkpoint',
      );
      await sleep(delay, this.stopping.signal);
      if (this.stopping.signal.aborted) {
        this.state = 'stopped';
        return;
      }
    }
  }

  /** One process lifetime: how it ended. */
  private async runOnce(): Promise<{
    kind: 'finished' | 'exited';
    cause: string;
    healthyForMs: number;
    /** The worker could not load the file or build the pipeline. */
    startup?: { code: string; message: string; phase: 'load' | 'build' };
  }> {
    this.state = 'starting';
    const child = fork(WORKER, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // The worker's loggers log at this process's level (the CLI's --log-level), not at their default.
      env: {
        ...process.env,
        SLUICE_WORKER: this.name,
        SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? this.options.logger.level,
      },
    });
    this.child = child;
    this.pid = child.pid;
    this.channel = serveLog(childProcessPort(child), this.options.log, this.options.renames);
    let finished = false;
    let failure: string | undefined;
    let startup: { code: string; message: string; phase: 'load' | 'build' } | undefined;
    let healthySince = 0;
    child.on('message', (message: WorkerMessage) => {
      switch (message?.kind) {
        case 'built':
          this.built = true;
          break;
        case 'ready':
          this.state = 'running';
          healthySince = Date.now();
          this.markReady();
          break;
        case 'metrics':
          this.metrics = message.metrics;
          this.positions = message.positions;
          break;
        case 'finished':
          this.metrics = message.metrics;
          finished = true;
          break;
        case 'failed': {
          const { code, message: text, phase } = message.error;
          failure = `${code}: ${text}`;
          if (phase === 'load' || phase === 'build') startup = { code, message: text, phase };
          break;
        }
      }
    });
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => {
        failure ??= error.message;
        resolve({ code: null, signal: null });
      });
    });
    child.once('spawn', () => {
      if (child.connected) child.send({ kind: 'start', ...this.options.start } satisfies WorkerStart);
      if (this.stopping.signal.aborted) child.send({ kind: 'stop' });
    });
    const { code, signal } = await exit;
    // Calls the dead worker started (an append) finish before a new worker may truncate what they wrote.
    await this.channel.drain();
    this.channel.close();
    this.child = undefined;
    const healthyForMs = healthySince ? Date.now() - healthySince : 0;
    // Only a bounded run may end by itself: a live pipeline that ends unasked is restarted like a crashed one.
    if (finished && code === 0 && this.options.start.bounded) return { kind: 'finished', cause: '', healthyForMs };
    if (this.stopping.signal.aborted && code === 0) return { kind: 'exited', cause: 'stopped', healthyForMs };
    const how = signal ? `killed by ${signal}` : finished ? 'ended unasked' : `exited with code ${code}`;
    return {
      kind: 'exited',
      cause: failure ? `${failure} (${how})` : how,
      healthyForMs,
      ...(startup ? { startup } : {}),
    };
  }

  /** Asks the worker to stop (a last checkpoint, sinks flushed); kills it if that takes too long. */
  async stop(): Promise<void> {
    this.state = 'stopping';
    this.stopping.abort();
    const child = this.child;
    if (child?.connected) child.send({ kind: 'stop' });
    const timeout = setTimeout(() => child?.kill('SIGKILL'), this.options.stopTimeoutMs ?? 30_000);
    await this.done.catch(() => {});
    clearTimeout(timeout);
  }

  /** Sends a signal to the worker process (tests use it to crash a pipeline). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): boolean {
    return this.child?.kill(signal) ?? false;
  }
}
