// The worker protocol: the messages between a host and the pipeline it runs elsewhere — a worker process, a worker
// thread, a member process — in both directions, declared once for both ends. Each table maps a message's `kind` to
// its fields; an endpoint sends the one table's messages and dispatches the other's by kind, so a message a side
// does not know, or a field it lacks, does not compile. The log channel's calls share the same port (channel/).
import type { StartPosition } from '../engine/index.ts';
import type { Port } from './channel/ports.ts';
import type { WireFailure } from './host.ts';
import type { PipelineReport } from './view.ts';

/** How a worker runs one pipeline (a worker process or thread): what `start` carries. */
export interface WorkerStart {
  /** The pipeline file, as a file: URL. */
  fileUrl: string;
  dataDir: string;
  bounded: boolean;
  /** Checkpoints (and restore from the latest) in this directory; none for a batch run. */
  checkpointDir?: string;
  checkpointIntervalMs: number;
  /** Where the log sources start (and, bounded, stop) when no checkpoint says otherwise. */
  position?: { from: StartPosition; until?: Record<number, number> | { timestamp: number } };
  /** How often the worker reports its view (default 250 ms). */
  reportMs?: number;
}

type Fields = Record<never, never>;

/** What a host tells the pipeline it runs elsewhere. */
export interface ToWorker {
  /** Run this pipeline (worker processes and threads that run one pipeline). */
  start: WorkerStart;
  /** Stop gracefully: sinks flushed, a last checkpoint (none with `checkpoint: false`). */
  stop: { checkpoint?: boolean };
  /** Task threads: run exactly these partition tasks from now on (a task moved). */
  assign: { partitions: number[] };
}

/** What a pipeline running elsewhere tells its host. */
export interface FromWorker {
  /** Built and running (every task it was given, for tasks): a failure from now on is the running pipeline's. */
  built: Fields;
  /** Healthy: its first checkpoint taken (or, without checkpoints, running). */
  healthy: Fields;
  /** Task threads: the tasks it was started with have started (they may still wait for a lease). */
  started: Fields;
  /** Task threads: the tasks of the last `assign` run here now; those taken away have stopped and let go. */
  assigned: { partitions: number[] };
  /** Its pipelines (one, or one per task) as they are now: about once a second, or every `reportMs`. */
  report: { pipelines: PipelineReport[] };
  /** A bounded run reached the end of its input: the last report. */
  finished: { pipelines: PipelineReport[] };
  /** Why it is about to exit: loading its file, building the pipeline, or running it failed. */
  failed: { error: WireFailure };
}

/** The messages of a table: `{ kind, ...fields }` for each kind. */
export type Message<Table> = { [K in keyof Table & string]: { kind: K } & Table[K] }[keyof Table & string];

export type ToWorkerMessage = Message<ToWorker>;
export type FromWorkerMessage = Message<FromWorker>;

export type MessageHandlers<Table> = {
  [K in keyof Table & string]?: (message: { kind: K } & Table[K]) => void;
};

/** One side of the protocol over a port: sends `Out` messages, hands `In` ones to a handler per kind. */
export interface Endpoint<Out, In> {
  send(message: Message<Out>): void;
  /** Listens for the kinds `handlers` has (others, the log channel's included, pass by); returns the undo. */
  on(handlers: MessageHandlers<In>): () => void;
  readonly open: boolean;
}

export function endpoint<Out, In>(port: Port): Endpoint<Out, In> {
  return {
    send: (message) => port.post(message),
    on: (handlers) =>
      port.listen((received) => {
        const kind = (received as { kind?: unknown } | null)?.kind;
        if (typeof kind !== 'string' || !Object.hasOwn(handlers, kind)) return;
        (handlers as Record<string, (message: unknown) => void>)[kind]!(received);
      }),
    get open() {
      return port.open;
    },
  };
}

/** The host's end: tells the worker, hears from it. */
export function hostEndpoint(port: Port): Endpoint<ToWorker, FromWorker> {
  return endpoint<ToWorker, FromWorker>(port);
}

/** The worker's end: tells its host, hears from it. */
export function workerEndpoint(port: Port): Endpoint<FromWorker, ToWorker> {
  return endpoint<FromWorker, ToWorker>(port);
}
