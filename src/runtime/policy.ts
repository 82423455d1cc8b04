// The restart policy's arithmetic: how long to wait before the next attempt (jittered, doubling per consecutive
// failure up to a ceiling) and when to give up (too many failures within a window). The supervisor (supervisor.ts)
// is the only caller that decides anything with it.
import { SluiceError } from '../errors.ts';

export interface RestartPolicy {
  /** Give up after this many failures within `windowMs` (default 5 in 10 minutes). */
  maxFailures?: number;
  windowMs?: number;
  /** First delay before a restart (default 1 s), doubled per consecutive failure up to `maxDelayMs` (60 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
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

  get limit(): number {
    return this.maxFailures;
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
