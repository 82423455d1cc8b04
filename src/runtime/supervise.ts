// supervise(): a pipeline built and run in this process under the one supervisor (its lifecycle table, restart
// policy and backoff live there, for every host), for code and tests that build pipelines by hand.

import type { Pipeline } from '../engine/index.ts';
import type { Logger } from '../logger.ts';
import { InProcessHost } from './in-process.ts';
import type { RestartPolicy } from './policy.ts';
import { Supervisor } from './supervisor.ts';

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

export function supervise(build: () => Promise<Pipeline>, policy: RestartPolicy, logger: Logger): SupervisedRun {
  const host = new InProcessHost({ build: () => build() });
  const supervisor = new Supervisor({ host, name: 'pipeline', restart: policy, logger }).start();
  return {
    done: supervisor.done,
    current: () => host.current(),
    restarts: () => supervisor.restarts(),
    stop: () => void supervisor.stop(),
  };
}
