// The restart policy: a failed pipeline is rebuilt from its definition and run again, after an exponentially
// growing, jittered delay, resuming from its latest checkpoint. Repeated failure is reported, not hidden: each
// restart is logged with its cause, and too many failures within a window end supervision with the last error.
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
  /** Resolves when the pipeline finishes (bounded) or is stopped; rejects with PIPELINE_CRASH_LOOP. */
  done: Promise<void>;
  /** The pipeline currently running (a new instance after each restart). */
  current(): Pipeline | undefined;
  restarts(): number;
  stop(): void;
}

export function supervise(build: () => Promise<Pipeline>, policy: RestartPolicy, logger: Logger): SupervisedRun {
  const maxFailures = policy.maxFailures ?? 5;
  const windowMs = policy.windowMs ?? 10 * 60_000;
  const initialDelayMs = policy.initialDelayMs ?? 1000;
  const maxDelayMs = policy.maxDelayMs ?? 60_000;
  const stopping = new AbortController();
  let pipeline: Pipeline | undefined;
  let restarts = 0;
  /** The first instance's history, handed to every rebuilt one: failures and checkpoints survive restarts. */
  let history: PipelineHistory | undefined;

  const done = (async () => {
    const failures: number[] = [];
    let consecutive = 0;
    for (;;) {
      try {
        pipeline = await build();
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
        if (stopping.signal.aborted) throw error;
        const now = Date.now();
        failures.push(now);
        while (failures.length > 0 && failures[0]! < now - windowMs) failures.shift();
        consecutive++;
        const cause = {
          at: now,
          code: typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : null,
          message: error instanceof Error ? error.message : String(error),
          failures: failures.length,
        };
        if (failures.length > maxFailures) {
          history?.recordRestart({ ...cause, restartInMs: null });
          throw new SluiceError(
            'PIPELINE_CRASH_LOOP',
            `pipeline failed ${failures.length} times within ${Math.round(windowMs / 1000)} s; last error: ${(error as Error).message}`,
            { failures: failures.length },
            { cause: error },
          );
        }
        const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** (consecutive - 1)) * (0.8 + Math.random() * 0.4);
        history?.recordRestart({ ...cause, restartInMs: Math.round(delay) });
        logger.error(
          { err: error, failures: failures.length, maxFailures, restartInMs: Math.round(delay) },
          'pipeline failed; restarting from its latest checkpoint',
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          stopping.signal.addEventListener(
            'abort',
            () => {
              clearTimeout(timer);
              resolve();
            },
            { once: true },
          );
        });
        if (stopping.signal.aborted) return;
        restarts++;
      }
    }
  })();

  return { done, current: () => pipeline, restarts: () => restarts, stop: () => stopping.abort() };
}
