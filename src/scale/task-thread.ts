// The entry of a task thread (src/scale/threads.ts starts it on a worker-thread host): builds the pipeline from its
// file against the owner's log (over this thread's port), runs its partition tasks until told to stop — taking and
// giving up tasks as the owner moves them (`assign`) — and reports their views over the worker protocol.
import { fileURLToPath } from 'node:url';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { createLogger } from '../logger.ts';
import {
  buildPipeline,
  loadPipelineFile,
  RemoteLog,
  reportOf,
  sleep,
  threadPort,
  toWireFailure,
  workerEndpoint,
} from '../runtime/index.ts';
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

const REPORT_MS = 1000;

if (!parentPort) throw new Error('task-thread.ts runs as a worker thread (src/scale/threads.ts starts it)');
const port = threadPort(parentPort);
const owner = workerEndpoint(port);

async function main(): Promise<void> {
  const start = workerData as TaskThreadStart;
  const stop = new AbortController();
  let runner: TaskRunner | undefined;
  /** An 'assign' that came before the runner was there: its tasks are the ones to start with. */
  let wanted: number[] | undefined;
  owner.on({
    stop: () => stop.abort(),
    assign: (message) => {
      if (stop.signal.aborted) return;
      if (runner === undefined) {
        wanted = message.partitions;
        return;
      }
      // Answered even if the reconciling failed, so the owner is not left waiting to finish the move.
      const answer = () => owner.send({ kind: 'assigned', partitions: runner!.partitions() });
      runner.assign(message.partitions).then(answer, answer);
    },
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
  const tasks = runner;
  await tasks.assign(wanted ?? start.partitions);
  if (wanted !== undefined) owner.send({ kind: 'assigned', partitions: tasks.partitions() });
  owner.send({ kind: 'started' });
  // Built once every task it started with was: a first start that cannot build fails before this, for good.
  void tasks.built().then(() => {
    if (tasks.failed === undefined) owner.send({ kind: 'built' });
  });
  const report = setInterval(() => {
    const pipelines = [...tasks.pipelines()].map(([partition, pipeline]) => reportOf(pipeline, partition));
    owner.send({ kind: 'report', pipelines });
  }, REPORT_MS);
  try {
    while (!stop.signal.aborted && tasks.failed === undefined) await sleep(200, stop.signal);
  } finally {
    clearInterval(report);
    await tasks.close();
  }
  if (tasks.failed !== undefined) throw tasks.failed;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    owner.send({ kind: 'failed', error: toWireFailure(error, 'run') });
    process.exit(1);
  },
);
