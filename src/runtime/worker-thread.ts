// The worker-thread host: each incarnation is a worker thread of this process, reading and writing this process's
// embedded log over its message port (pages lent in shared memory, batches moved rather than copied). It runs one
// pipeline (worker.ts, given `start`) or any entry that speaks the worker protocol — `sluice run --parallelism`'s task
// threads (src/scale/task-thread.ts), which take `assign` messages as tasks move between threads.
import { Worker } from 'node:worker_threads';
import { SluiceError } from '../errors.ts';
import type { Log } from '../log/index.ts';
import { siblingModule } from '../modules.ts';
import { threadPort } from './channel/ports.ts';
import { type ServeLogHooks, serveLog } from './channel/serve-log.ts';
import { fromWireFailure, type HostEvents, type HostExit, type Incarnation, type PipelineHost } from './host.ts';
import {
  type Endpoint,
  type FromWorker,
  hostEndpoint,
  type MessageHandlers,
  type ToWorker,
  type ToWorkerMessage,
  type WorkerStart,
} from './protocol.ts';
import { reportView } from './view.ts';
import { followWorker } from './worker-outcome.ts';

const WORKER = siblingModule(import.meta.url, 'worker');

export interface WorkerThreadHostOptions {
  /** The thread's name (in stack traces and profiles). */
  name: string;
  log: Log;
  /** One pipeline: worker.ts runs it. */
  start?: WorkerStart;
  /** Another entry speaking the worker protocol, and the data each incarnation starts with (task threads). */
  entry?: URL;
  workerData?: () => unknown;
  /** Told of every page the thread asks for (task threads: the owner's view of their progress). */
  onRead?: ServeLogHooks['onRead'];
  /** More of the protocol's messages this host's callers care about (task threads: started, assigned). */
  on?: MessageHandlers<FromWorker>;
  /**
   * Runs once a thread has ended, before its exit is reported, with its thread id (task threads release the task
   * leases it held: its process lives on, so a lease could not tell it is gone); what it returns goes to the log.
   */
  onExit?(threadId: number, failed: boolean): Record<string, unknown> | undefined;
  /** The threads' log level (default: this process's SLUICE_LOG_LEVEL, else `logLevel`). */
  logLevel?: string;
}

export class WorkerThreadHost implements PipelineHost {
  readonly kind = 'worker-thread';
  private readonly options: WorkerThreadHostOptions;
  /** The running thread's end of the protocol, if one runs. */
  private live: Endpoint<ToWorker, FromWorker> | undefined;

  constructor(options: WorkerThreadHostOptions) {
    this.options = options;
  }

  /** Sends `message` to the running thread; false when none runs. */
  send(message: ToWorkerMessage): boolean {
    if (!this.live?.open) return false;
    this.live.send(message);
    return true;
  }

  start(events: HostEvents): Incarnation {
    const { options } = this;
    const worker = new Worker(options.entry ?? WORKER, {
      workerData: options.workerData?.(),
      name: options.name,
      // The thread's loggers log at this one's level (the CLI's --log-level), not at their default.
      env: { ...process.env, SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? options.logLevel ?? 'warn' },
    });
    const thread = worker.threadId;
    const port = threadPort(worker);
    const channel = serveLog(port, options.log, {}, options.onRead ? { onRead: options.onRead } : {});
    const endpoint = hostEndpoint(port);
    this.live = endpoint;
    const outcome = followWorker(endpoint, events, options.on);
    let stopping = false;
    worker.on('error', (error) => {
      outcome.failure ??= {
        code: (error as SluiceError).code ?? 'PIPELINE_FAILED',
        message: error.message,
        phase: 'run',
      };
    });
    if (options.start) endpoint.send({ kind: 'start', ...options.start });
    const exited = (async (): Promise<HostExit> => {
      const code = await new Promise<number>((resolve) => worker.once('exit', resolve));
      if (this.live === endpoint) this.live = undefined;
      // Calls the thread made may still be running (an append): let them land before its successor starts.
      await channel.drain();
      channel.close();
      const failed = !(code === 0 && (stopping || outcome.finished));
      const context = { thread: options.name, exit: `exited with code ${code}`, ...options.onExit?.(thread, failed) };
      if (outcome.finished && code === 0 && (options.start?.bounded ?? false)) return { kind: 'finished' };
      if (stopping && code === 0) return { kind: 'stopped' };
      if (outcome.failure) {
        return { kind: 'failed', phase: outcome.failure.phase, error: fromWireFailure(outcome.failure), context };
      }
      const how = outcome.finished ? 'ended unasked' : `exited with code ${code}`;
      return {
        kind: 'failed',
        phase: 'run',
        error: new SluiceError('PIPELINE_FAILED', `${options.name} ${how}`),
        context,
      };
    })();
    return {
      exited,
      views: () => outcome.reports.map((report) => reportView(report)),
      stop(stopOptions = {}) {
        stopping = true;
        endpoint.send({ kind: 'stop', ...stopOptions });
      },
      kill() {
        void worker.terminate();
        return true;
      },
    };
  }
}
