// The restart policy: a failed pipeline is rebuilt from its definition and run again, after an exponentially
// growing, jittered delay, resuming from its latest checkpoint. Repeated failure is reported, not hidden: each
// restart is logged with its cause, and too many failures within a window end supervision with the last error.
// The first build is the exception: a definition that cannot build its pipeline even once (a typo, a refused
// argument, a topic it insists on) fails supervision at once, as no restart would mend it.
import { SluiceError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { PipelineHistory } from './history.ts';
import type { Pipeline } from './pipeline.ts';

export interface RestartPolicy {
  /** Give up after this many failures within `windowMs` (default 5 in 10 minutes). */
  maxFailures?: number;
  windowMs?: number;
  /** First delay before a restart (default 1 s), doubled per consecutive failure up to `maxDelayMs` (60 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export interface SupervisedRun {
  /**
   * Resolves when the pipeline finishes (bounded) or is stopped; rejects with PIPELINE_CRASH_LOOP, or at once with
   * the error of the first build when that fails.
   */
  done: Promise<void>;
  /** The pipeline currently running (a new instance after each restart). */
  current(): Pipeline | undefined;
  restarts(): number;
  stop(): void;
}

/**
 * Counts failures against a restart policy: each failure gives the delay before the next attempt, or throws
 * PIPELINE_CRASH_LOOP (with the last error as cause) once too many fell within the window.
 */
export class RestartBudget {
  private readonly failures: number[] = [];
  private consecutive = 0;
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(policy: RestartPolicy = {}) {
    this.maxFailures = policy.maxFailures ?? 5;
    this.windowMs = policy.windowMs ?? 10 * 60_000;
    this.initialDelayMs = policy.initialDelayMs ?? 1000;
    this.maxDelayMs = policy.maxDelayMs ?? 60_000;
  }

  /** Records a failure; returns the jittered, exponentially growing delay before the restart. */
  failed(error: unknown, what = 'pipeline'): number {
    const now = Date.now();
    this.failures.push(now);
    while (this.failures.length > 0 && this.failures[0]! < now - this.windowMs) this.failures.shift();
    this.consecutive++;
    if (this.failures.length > this.maxFailures) {
      throw new SluiceError(
        'PIPELINE_CRASH_LOOP',
        `${what} failed ${this.failures.length} times within ${Math.round(this.windowMs / 1000)} s; last error: ${(error as Error)?.message ?? String(error)}`,
        { failures: this.failures.length },
        { cause: error },
      );
    }
    const delay = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** (this.consecutive - 1));
    return delay * (0.8 + Math.random() * 0.4);
  }

  /** A run that stayed healthy: the next failure starts the backoff afresh. */
  recovered(): void {
    this.consecutive = 0;
  }

  get recentFailures(): number {
    return this.failures.length;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function supervise(build: () => Promise<Pipeline>, policy: RestartPolicy, logger: Logger): SupervisedRun {
  const stopping = new AbortController();
  let pipeline: Pipeline | undefined;
  let restarts = 0;
  /** The first instance's history, handed to every rebuilt one: failures and checkpoints survive restarts. */
  let history: PipelineHistory | undefined;

  const done = (async () => {
    const budget = new RestartBudget(policy);
    let built = false;
    for (;;) {
      try {
        pipeline = await build();
        built = true;
        if (history) pipeline.adoptHistory(history);
        else history = pipeline.history;
        if (stopping.signal.aborted) return;
        const running = pipeline.run();
        const stop = () => pipeline?.stop();
        stopping.signal.addEventListener('abort', stop, { once: true });
        try {
          await running;
        } finally {
          stopping.signal.removeEventListener('abort', stop);
        }
        return;
      } catch (error) {
        // Never built: nothing ran, nothing to resume, and the same definition would fail the same way. A rebuild
        // after a failure keeps the policy: what it meets then (a broker restarting) may well pass.
        if (!built) throw error;
        if (stopping.signal.aborted) throw error;
        const cause = {
          at: Date.now(),
          code: typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : null,
          message: error instanceof Error ? error.message : String(error),
          failures: budget.recentFailures + 1,
        };
        let delay: number;
        try {
          delay = budget.failed(error);
        } catch (given) {
          history?.recordRestart({ ...cause, restartInMs: null });
          throw given;
        }
        history?.recordRestart({ ...cause, restartInMs: Math.round(delay) });
        logger.error(
          {
            err: error,
            failures: budget.recentFailures,
            maxFailures: policy.maxFailures ?? 5,
            restartInMs: Math.round(delay),
          },
          'pipeline failed; restarting from its latest checkpoint',
        );
        await sleep(delay, stopping.signal);
        if (stopping.signal.aborted) return;
        restarts++;
      }
    }
  })();

  return { done, current: () => pipeline, restarts: () => restarts, stop: () => stopping.abort() };
}
