// What a host learns from its worker's messages while an incarnation runs: the views it reports, whether it
// finished, and why it failed — the same for a worker thread and a worker process.
import type { HostEvents, WireFailure } from './host.ts';
import type { Endpoint, FromWorker, MessageHandlers, ToWorker } from './protocol.ts';
import type { PipelineReport } from './view.ts';

export interface WorkerOutcome {
  /** The pipelines as last reported (one, or one per partition task). */
  reports: PipelineReport[];
  /** The worker said its bounded run finished. */
  finished: boolean;
  /** The worker said why it failed (its last word). */
  failure: WireFailure | undefined;
}

/** Follows `worker`'s messages into an outcome and the supervisor's events; `more` handles other kinds too. */
export function followWorker(
  worker: Endpoint<ToWorker, FromWorker>,
  events: HostEvents,
  more: MessageHandlers<FromWorker> = {},
): WorkerOutcome {
  const outcome: WorkerOutcome = { reports: [], finished: false, failure: undefined };
  worker.on({
    ...more,
    built: () => events.built(),
    healthy: () => events.healthy(),
    report: (message) => {
      outcome.reports = message.pipelines;
    },
    finished: (message) => {
      outcome.reports = message.pipelines;
      outcome.finished = true;
    },
    failed: (message) => {
      outcome.failure = message.error;
    },
  });
  return outcome;
}
