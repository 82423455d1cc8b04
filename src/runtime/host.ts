// Where a pipeline runs: a PipelineHost starts one incarnation of it at a time — in this process, in a worker thread,
// in a worker process, or as a member process of a consumer group — reports what it does (built, healthy, how it
// ended) and shows it (views). Hosts decide nothing: restarts, backoff and giving up are the supervisor's.
import type { PipelineView, RestartRecord } from '../engine/index.ts';
import { errorFromWire, isSluiceError, type SluiceError } from '../errors.ts';
import type { FailurePhase } from './states.ts';

export type HostKind = 'in-process' | 'worker-thread' | 'worker-process' | 'group-member';

/** What an incarnation tells its supervisor while it runs; each at most once. */
export interface HostEvents {
  /** The pipeline is built and runs: from now on a failure is the running pipeline's, not its definition's. */
  built(): void;
  /** Healthy: sources open, state restored, and (where it checkpoints) its first checkpoint taken. */
  healthy(): void;
}

/** How an incarnation ended. */
export type HostExit =
  | { kind: 'finished' }
  | { kind: 'stopped' }
  /** `context`: what the host knows besides the error (an exit code, leases it released), for the log. */
  | { kind: 'failed'; phase: FailurePhase; error: Error; context?: Record<string, unknown> };

/** One run of the pipeline on a host, from its start to its exit. */
export interface Incarnation {
  /** Settles once it has ended and everything it started has landed (a crashed worker's appends). Never rejects. */
  readonly exited: Promise<HostExit>;
  /** The pipelines it runs, as last seen: one, or one per partition task. */
  views(): PipelineView[];
  /** Asks for a graceful stop: sinks flushed and a last checkpoint (unless `checkpoint: false`). */
  stop(options?: { checkpoint?: boolean }): void;
  /** Ends it at once, as a crash would (false: nothing to kill). */
  kill(): boolean;
  /** The process it runs in, where that is not this one. */
  readonly pid?: number;
}

export interface PipelineHost {
  readonly kind: HostKind;
  /** Starts an incarnation; `attempt` counts from 0, the first start. */
  start(events: HostEvents, attempt: number): Incarnation;
  /**
   * A host whose pipelines keep one history across incarnations (in process: the instances share it) records the
   * supervisor's restarts there; for other hosts the supervisor adds them to the views itself.
   */
  recordRestart?(record: RestartRecord): void;
}

/** A failure as it crosses a port: its stable code, message, details and phase. */
export interface WireFailure {
  code: string;
  message: string;
  phase: FailurePhase;
  details?: Record<string, unknown>;
}

/** The phase a failure happened in: a load or build failure says so (pipeline-file.ts), anything else is `fallback`. */
export function phaseOf(error: unknown, fallback: FailurePhase): FailurePhase {
  const phase = isSluiceError(error) ? error.details.phase : undefined;
  return phase === 'load' || phase === 'build' ? phase : fallback;
}

export function toWireFailure(error: unknown, fallback: FailurePhase): WireFailure {
  const phase = phaseOf(error, fallback);
  if (isSluiceError(error)) return { code: error.code, message: error.message, phase, details: error.details };
  return { code: 'PIPELINE_FAILED', message: (error as Error)?.message ?? String(error), phase };
}

export function fromWireFailure(failure: WireFailure): SluiceError {
  return errorFromWire({ ...failure, details: { ...failure.details, phase: failure.phase } });
}

/** An exit for an error thrown where the host itself failed (a fork that did not start, say). */
export function failedExit(error: unknown, phase: FailurePhase = 'run'): HostExit {
  return { kind: 'failed', phase, error: error instanceof Error ? error : new Error(String(error)) };
}
