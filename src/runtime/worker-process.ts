// The worker-process host: each incarnation is a child process (worker.ts) that builds the pipeline from its file
// against this process's log, lent over its IPC channel (`sluice up`'s pipelines, replays and batch runs). A crash,
// an OOM kill or `kill -9` of the child is an exit like any other; the calls it made on the log land before the exit
// is reported, so a restarted worker never truncates under a dead one's append.
import { type ChildProcess, fork } from 'node:child_process';
import { SluiceError } from '../errors.ts';
import type { Log } from '../log/index.ts';
import { siblingModule } from '../modules.ts';
import { childProcessPort } from './channel/ports.ts';
import { serveLog } from './channel/serve-log.ts';
import { fromWireFailure, type HostEvents, type HostExit, type Incarnation, type PipelineHost } from './host.ts';
import { hostEndpoint, type WorkerStart } from './protocol.ts';
import { reportView } from './view.ts';
import { followWorker } from './worker-outcome.ts';

const WORKER = siblingModule(import.meta.url, 'worker');

export interface WorkerProcessHostOptions {
  /** The worker's name in its environment (SLUICE_WORKER) and in messages. */
  name: string;
  log: Log;
  start: WorkerStart;
  /** Output topics the worker writes under other names (a replay's versions, a batch run's scratch topics). */
  renames?: Record<string, string>;
  /** The workers' log level (default: this process's SLUICE_LOG_LEVEL, else `logLevel`). */
  logLevel?: string;
}

export class WorkerProcessHost implements PipelineHost {
  readonly kind = 'worker-process';
  private readonly options: WorkerProcessHostOptions;

  constructor(options: WorkerProcessHostOptions) {
    this.options = options;
  }

  start(events: HostEvents): Incarnation {
    const { options } = this;
    const child: ChildProcess = fork(WORKER, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // The worker's loggers log at this process's level (the CLI's --log-level), not at their default.
      env: {
        ...process.env,
        SLUICE_WORKER: options.name,
        SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? options.logLevel ?? 'warn',
      },
    });
    const port = childProcessPort(child);
    const channel = serveLog(port, options.log, options.renames);
    const worker = hostEndpoint(port);
    const outcome = followWorker(worker, events);
    let stopping: { checkpoint?: boolean } | undefined;
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
    });
    child.once('spawn', () => {
      worker.send({ kind: 'start', ...options.start });
      if (stopping) worker.send({ kind: 'stop', ...stopping });
    });
    const exited = (async (): Promise<HostExit> => {
      const { code, signal, error } = await ended;
      // Calls the dead worker started (an append) finish before a new worker may truncate what they wrote.
      await channel.drain();
      channel.close();
      // Only a bounded run may end by itself: a live pipeline that ends unasked is restarted like a crashed one.
      if (outcome.finished && code === 0 && options.start.bounded) return { kind: 'finished' };
      if (stopping && code === 0) return { kind: 'stopped' };
      const how = error
        ? error.message
        : signal
          ? `killed by ${signal}`
          : outcome.finished
            ? 'ended unasked'
            : `exited with code ${code}`;
      const context = { worker: options.name, pid: child.pid, exit: how };
      if (outcome.failure) {
        const thrown = fromWireFailure(outcome.failure);
        // A failure to load or build says it all; a running pipeline's failure also says how its process ended.
        if (outcome.failure.phase !== 'run')
          return { kind: 'failed', phase: outcome.failure.phase, error: thrown, context };
        const detailed = new SluiceError(thrown.code, `${thrown.message} (${how})`, thrown.details);
        return { kind: 'failed', phase: 'run', error: detailed, context };
      }
      return { kind: 'failed', phase: 'run', error: new SluiceError('PIPELINE_FAILED', how), context };
    })();
    return {
      exited,
      pid: child.pid,
      views: () => outcome.reports.map((report) => reportView(report)),
      stop(stopOptions = {}) {
        stopping = stopOptions;
        if (child.connected) worker.send({ kind: 'stop', ...stopOptions });
      },
      kill: () => child.kill('SIGKILL'),
    };
  }
}
