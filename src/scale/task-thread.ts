// The entry point of a task thread (src/scale/threads.ts): builds the pipeline from its file against the owner's
// log (over this thread's port), runs its partition tasks until told to stop, and reports their metrics.
import { fileURLToPath } from 'node:url';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { type PipelineHistorySnapshot, type PipelineMetrics, type PipelineTopology, sleep } from '../engine/index.ts';
import { isSluiceError } from '../errors.ts';
import { createLogger } from '../logger.ts';
// The channel and the pipeline file alone: the orchestrator's index would load DuckDB, the HTTP stack and more into
// every thread.
import { RemoteLog, threadPort } from '../orchestrate/log-channel.ts';
import { buildPipeline, isStartupFailure, loadPipelineFile } from '../orchestrate/pipeline-file.ts';
import { TaskRunner } from './task-runner.ts';

export interface TaskThreadStart {
  fileUrl: string;
  dataDir: string;
  pipeline: string;
  checkpointRoot: string;
  partitions: number[];
  intervalMs: number;
  fromSavepoint?: string;
  allowNonRestoredState?: boolean;
}

/** What a task thread tells of one of its tasks, about once a second (for the owner's HTTP API and /metrics). */
export interface TaskReport {
  partition: number;
  metrics: PipelineMetrics;
  topology: PipelineTopology;
  positions: { operator: string; topic: string; offsets: number[] }[];
  history: PipelineHistorySnapshot;
}

/** What the owner tells a task thread: stop, or run exactly these tasks from now on (a task moved). */
export type OwnerMessage = { kind: 'stop' } | { kind: 'assign'; partitions: number[] };

export type TaskThreadMessage =
  | { kind: 'started' }
  /** The tasks asked for in the last 'assign' run here now; those taken away have stopped and let go. */
  | { kind: 'assigned'; partitions: number[] }
  | { kind: 'report'; tasks: TaskReport[] }
  /** `startup`: the file did not load or the pipeline did not build (final: the owner does not restart it). */
  | { kind: 'failed'; error: { code: string; message: string; startup?: boolean } };

const REPORT_MS = 1000;

async function main(): Promise<void> {
  if (!parentPort) throw new Error('task-thread.ts runs as a worker thread (src/scale/threads.ts starts it)');
  const owner = parentPort;
  const start = workerData as TaskThreadStart;
  const send = (message: TaskThreadMessage) => owner.postMessage(message);
  const port = threadPort(owner);
  const stop = new AbortController();
  let runner: TaskRunner | undefined;
  /** An 'assign' that came before the runner was there: its tasks are the ones to start with. */
  let wanted: number[] | undefined;
  port.listen((received) => {
    const message = received as OwnerMessage;
    if (message?.kind === 'stop') stop.abort();
    if (message?.kind === 'assign' && !stop.signal.aborted) {
      if (runner === undefined) wanted = message.partitions;
      else {
        // Answered even if the reconciling failed, so the owner is not left waiting to finish the move.
        const answer = () => send({ kind: 'assigned', partitions: runner!.partitions() });
        runner.assign(message.partitions).then(answer, answer);
      }
    }
  });
  const log = new RemoteLog(port);
  await log.refresh();
  const file = fileURLToPath(start.fileUrl);
  const define = await loadPipelineFile(file);
  runner = new TaskRunner({
    define: () => buildPipeline(file, define, { log, bounded: false, dataDir: start.dataDir }),
    pipeline: start.pipeline,
    checkpointRoot: start.checkpointRoot,
    intervalMs: start.intervalMs,
    fromSavepoint: start.fromSavepoint,
    allowNonRestoredState: start.allowNonRestoredState,
    logger: createLogger('run', { pipeline: start.pipeline, thread: threadId }),
  });
  await runner.assign(wanted ?? start.partitions);
  if (wanted !== undefined) send({ kind: 'assigned', partitions: runner.partitions() });
  send({ kind: 'started' });
  const report = setInterval(() => {
    const tasks = [...runner.pipelines()].map(([partition, pipeline]) => ({
      partition,
      metrics: pipeline.metrics(),
      topology: pipeline.topology(),
      positions: pipeline.sourcePositions(),
      history: pipeline.history.snapshot(),
    }));
    send({ kind: 'report', tasks });
  }, REPORT_MS);
  try {
    while (!stop.signal.aborted && runner.failed === undefined) await sleep(200, stop.signal);
  } finally {
    clearInterval(report);
    await runner.close();
  }
  if (runner.failed !== undefined) throw runner.failed;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const code = isSluiceError(error) ? error.code : 'PIPELINE_FAILED';
    parentPort?.postMessage({
      kind: 'failed',
      error: { code, message: (error as Error)?.message ?? String(error), startup: isStartupFailure(error) },
    } satisfies TaskThreadMessage);
    process.exit(1);
  },
);
