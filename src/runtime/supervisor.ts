// The one supervisor: runs a pipeline on a host (host.ts) through the lifecycle table (states.ts). It is the only
// place that decides what a failure means — a first start that cannot load or build is final, anything else is
// restarted after a jittered, growing delay from its latest checkpoint until the restart budget is spent — and the
// only place that changes a pipeline's state. `sluice run`, `sluice dev`, task threads, member processes, `sluice up`'s
// workers, the tasks inside them and the table loaders all run under it.
import type { PipelineView, RestartRecord } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { HostExit, Incarnation, PipelineHost } from './host.ts';
import { RestartBudget, type RestartPolicy } from './policy.ts';
import { type FailurePhase, isFinal, nextState, type SupervisorEvent, type SupervisorState } from './states.ts';
import { type RuntimeView, runtimeView } from './view.ts';

export interface SupervisorOptions {
  host: PipelineHost;
  /** What is supervised, in logs and errors: "pipeline", "pipeline windowed-counts", "thread 1", "member 0". */
  name: string;
  /** The restart policy; `false`: any failure is final (a batch run is retried as a job instead). */
  restart?: RestartPolicy | false;
  /** A budget shared with other supervisors (the threads or members of one run: a crash loop of them ends all). */
  budget?: RestartBudget;
  logger: Logger;
  /** The log line of a restart (default: "<name> failed; restarting it from its latest checkpoint"). */
  restartMessage?: string;
  /** Kill an incarnation that has not stopped this long after a stop was asked (default: wait). */
  stopTimeoutMs?: number;
  /** An incarnation up this long before it failed starts the backoff afresh (default 60 s). */
  recoveredAfterMs?: number;
  /** Shown as this name in views, instead of the pipeline's own. */
  viewName?: string;
  /** Told of every move (tests, status). */
  onTransition?(from: SupervisorState, event: SupervisorEvent, to: SupervisorState): void;
}

export class Supervisor {
  readonly name: string;
  /** Resolves once an incarnation is first up (built and running); rejects if the supervisor ends before. */
  readonly ready: Promise<void>;
  /** Resolves once the first incarnation is healthy (see HostEvents.healthy); rejects if it ends before. */
  readonly healthy: Promise<void>;
  /** Resolves when the pipeline finished or was stopped; rejects with why it failed for good. */
  readonly done: Promise<void>;
  private readonly options: SupervisorOptions;
  private readonly budget: RestartBudget;
  private current: SupervisorState = 'created';
  private incarnation: Incarnation | undefined;
  /** Counts incarnations; events of one that is not the latest are stale and dropped. */
  private generation = 0;
  private live = false;
  private upSince = 0;
  private restartCount = 0;
  private readonly restartLog: RestartRecord[] = [];
  private failure: string | undefined;
  /** How the stop asked for goes (with or without a last checkpoint). */
  private stopOptions: { checkpoint?: boolean } = {};
  private restartTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly settle = {
    ready: Promise.withResolvers<void>(),
    healthy: Promise.withResolvers<void>(),
    done: Promise.withResolvers<void>(),
  };

  constructor(options: SupervisorOptions) {
    this.options = options;
    this.name = options.name;
    this.budget = options.budget ?? new RestartBudget(options.restart || {});
    this.ready = this.settle.ready.promise;
    this.healthy = this.settle.healthy.promise;
    this.done = this.settle.done.promise;
    // Observed by whoever cares; never an unhandled rejection of its own.
    for (const promise of [this.ready, this.healthy, this.done]) promise.catch(() => {});
  }

  get state(): SupervisorState {
    return this.current;
  }

  /** Restarts made so far. */
  restarts(): number {
    return this.restartCount;
  }

  /** Every failure and what was done about it, oldest first. */
  restartRecords(): RestartRecord[] {
    return this.restartLog.map((r) => ({ ...r }));
  }

  /** The last failure's message. */
  get lastError(): string | undefined {
    return this.failure;
  }

  /** The process the current incarnation runs in, if not this one. */
  get pid(): number | undefined {
    return this.live ? this.incarnation?.pid : undefined;
  }

  /** Starts the first incarnation. */
  start(): this {
    this.fire({ type: 'start' });
    return this;
  }

  /**
   * Stops the pipeline (a last checkpoint; none with `checkpoint: false`, as when another process took it over) and
   * resolves once it has stopped.
   */
  stop(options: { checkpoint?: boolean } = {}): Promise<void> {
    if (!isFinal(this.current)) {
      if (this.current === 'stopping') {
        if (options.checkpoint === false) this.incarnation?.stop(options);
      } else {
        this.stopOptions = options;
        this.fire({ type: 'stop' });
      }
    }
    return this.done.then(
      () => {},
      () => {},
    );
  }

  /** Ends the running incarnation at once, as a crash would: the supervisor restarts it (tests use this). */
  kill(): boolean {
    return this.live ? (this.incarnation?.kill() ?? false) : false;
  }

  /** The pipelines the latest incarnation runs (or ran, while a restart is pending), with this supervisor's state. */
  views(): RuntimeView[] {
    const views: PipelineView[] = this.incarnation?.views() ?? [];
    const own = this.options.host.recordRestart !== undefined;
    return views.map((view) =>
      runtimeView(view, {
        state: this.current,
        host: this.options.host.kind,
        ...(own ? {} : { restarts: this.restartLog, restartCount: this.restartCount }),
        ...(this.options.viewName !== undefined && views.length === 1 ? { name: this.options.viewName } : {}),
      }),
    );
  }

  private fire(event: SupervisorEvent): void {
    const from = this.current;
    const to = nextState(from, event);
    this.current = to;
    this.options.onTransition?.(from, event, to);
    if (to === from) return;
    switch (to) {
      case 'starting':
      case 'recovering':
        this.launch();
        break;
      case 'running':
        this.upSince = Date.now();
        this.settle.ready.resolve();
        break;
      case 'restarting':
        if (event.type === 'failed') this.scheduleRestart(event.error, event.context);
        break;
      case 'stopping':
        this.incarnation?.stop(this.stopOptions);
        if (this.options.stopTimeoutMs !== undefined) {
          this.killTimer = setTimeout(() => this.incarnation?.kill(), this.options.stopTimeoutMs);
        }
        break;
      case 'stopped':
      case 'finished':
        this.end();
        this.settle.done.resolve();
        break;
      case 'failed': {
        const error = event.type === 'failed' || event.type === 'budget-exhausted' ? event.error : new Error(to);
        this.failure = error.message;
        this.end(error);
        this.settle.done.reject(error);
        break;
      }
    }
  }

  private end(error?: Error): void {
    clearTimeout(this.restartTimer);
    clearTimeout(this.killTimer);
    const never = error ?? new SluiceError('PIPELINE_STOPPED', `${this.name} ended before it was up`);
    this.settle.ready.reject(never);
    this.settle.healthy.reject(never);
  }

  private launch(): void {
    const generation = ++this.generation;
    const attempt = generation - 1;
    const current = () => generation === this.generation;
    let built = false;
    let healthy = false;
    this.live = true;
    try {
      this.incarnation = this.options.host.start(
        {
          built: () => {
            if (!current() || built) return;
            built = true;
            // Stopping already: the table keeps it stopping.
            this.fire({ type: 'built' });
          },
          healthy: () => {
            if (!current() || healthy) return;
            healthy = true;
            this.settle.healthy.resolve();
          },
        },
        attempt,
      );
    } catch (error) {
      this.incarnation = undefined;
      queueMicrotask(() => this.exited(generation, { kind: 'failed', phase: 'run', error: error as Error }));
      return;
    }
    this.incarnation.exited.then(
      (exit) => this.exited(generation, exit),
      (error: Error) => this.exited(generation, { kind: 'failed', phase: 'run', error }),
    );
  }

  private exited(generation: number, exit: HostExit): void {
    if (generation !== this.generation) return;
    this.live = false;
    if (exit.kind === 'finished') {
      this.fire({ type: 'finished' });
      return;
    }
    if (exit.kind === 'stopped' && this.current === 'stopping') {
      this.fire({ type: 'exited' });
      return;
    }
    const failed: { phase: FailurePhase; error: Error; context?: Record<string, unknown> } =
      exit.kind === 'failed'
        ? exit
        : { phase: 'run', error: new SluiceError('PIPELINE_FAILED', `${this.name} ended unasked`) };
    this.failure = failed.error.message;
    if (this.current === 'stopping') {
      // A first start that failed as it was being stopped (the others of a run that gave up) is no news.
      const level = failed.phase === 'run' ? 'warn' : 'debug';
      this.options.logger[level]({ err: failed.error, ...failed.context }, `${this.name} failed while stopping`);
    }
    const { context } = failed;
    this.fire({ type: 'failed', phase: failed.phase, error: failed.error, ...(context ? { context } : {}) });
  }

  /** On entering `restarting` after a failure: the delay before the next incarnation, or giving up. */
  private scheduleRestart(error: Error, context: Record<string, unknown> | undefined): void {
    const { options } = this;
    if (options.restart === false) {
      const final = new SluiceError('PIPELINE_FAILED', `${this.name} failed: ${error.message}`, {}, { cause: error });
      this.fire({ type: 'budget-exhausted', error: final });
      return;
    }
    if (this.upSince > 0 && Date.now() - this.upSince > (options.recoveredAfterMs ?? 60_000)) this.budget.recovered();
    this.upSince = 0;
    const cause = {
      at: Date.now(),
      code:
        typeof (error as Error & { code?: unknown }).code === 'string'
          ? (error as Error & { code: string }).code
          : null,
      message: error.message,
      failures: this.budget.recentFailures + 1,
    };
    let delay: number;
    try {
      delay = this.budget.failed(error, this.name);
    } catch (given) {
      this.record({ ...cause, restartInMs: null });
      this.fire({ type: 'budget-exhausted', error: given as Error });
      return;
    }
    this.record({ ...cause, restartInMs: Math.round(delay) });
    options.logger.error(
      {
        err: error,
        ...context,
        failures: this.budget.recentFailures,
        maxFailures: this.budget.limit,
        restartInMs: Math.round(delay),
      },
      options.restartMessage ?? `${this.name} failed; restarting it from its latest checkpoint`,
    );
    this.restartTimer = setTimeout(() => {
      this.restartCount++;
      this.fire({ type: 'restart-due' });
    }, delay);
  }

  private record(record: RestartRecord): void {
    this.restartLog.push(record);
    if (this.restartLog.length > 100) this.restartLog.shift();
    this.options.host.recordRestart?.(record);
  }
}
