// The entry of a pipeline run by a worker host: a worker process (`sluice up`'s pipelines, replays and batch runs)
// or a worker thread. Builds the pipeline from its file against the host's log (lent over the port), checkpoints into
// the directory it is given, tells the host when it is built and healthy, reports its view, and stops gracefully
// (a last checkpoint) when told to.
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort } from 'node:worker_threads';
import { LogSource, type Pipeline, type StartPosition } from '../engine/index.ts';
import { parentProcessPort, threadPort } from './channel/ports.ts';
import { RemoteLog } from './channel/remote-log.ts';
import { toWireFailure } from './host.ts';
import { buildPipeline, loadPipelineFile } from './pipeline-file.ts';
import { type FromWorkerMessage, type WorkerStart, workerEndpoint } from './protocol.ts';
import { reportOf } from './view.ts';

const port = isMainThread ? parentProcessPort() : threadPort(parentPort!);
const host = workerEndpoint(port);

let pipeline: Pipeline | undefined;
let stopRequested: { checkpoint?: boolean } | undefined;
let finishing = false;

host.on({
  start: (message) => start(message).catch(fail),
  stop: (message) => {
    stopRequested = { ...(message.checkpoint === undefined ? {} : { checkpoint: message.checkpoint }) };
    pipeline?.stop(stopRequested);
  },
});

if (isMainThread) {
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  // Without its host a worker has no log: stop at once (the host restarts it from its checkpoint).
  process.on('disconnect', () => process.exit(finishing ? 0 : 3));
  // A worker's life is its host's to manage: Ctrl-C or a SIGTERM sent to the whole process group reaches the host
  // too, which stops its workers in order (downstream first, each with a last checkpoint).
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
}

function fail(error: unknown): void {
  // A pipeline that could not be loaded or built is not restarted on its first start (states.ts): say which it was.
  host.send({ kind: 'failed', error: toWireFailure(error, 'run') });
  process.exitCode = 1;
  if (isMainThread) setTimeout(() => process.exit(1), 50).unref();
  else process.exit(1);
}

async function start(options: WorkerStart): Promise<void> {
  const log = new RemoteLog(port);
  await log.refresh();
  const define = await loadPipelineFile(options.fileUrl);
  pipeline = await buildPipeline(fileURLToPath(options.fileUrl), define, {
    log,
    bounded: options.bounded,
    dataDir: options.dataDir,
  });
  if (options.position) {
    for (const source of pipeline.sourceConnectors()) {
      if (source instanceof LogSource) {
        source.reposition(options.position.from as StartPosition, options.position.until);
      }
    }
  }
  if (options.checkpointDir) {
    pipeline.enableCheckpoints({
      dir: options.checkpointDir,
      intervalMs: options.checkpointIntervalMs,
      restoreFrom: 'latest',
    });
  }
  const running = pipeline.run();
  if (stopRequested) pipeline.stop(stopRequested);
  host.send({ kind: 'built' });
  const live = pipeline;
  let healthy = false;
  const report = setInterval(() => {
    const metrics = live.metrics();
    // Healthy: its first checkpoint is taken (sources opened, state restored), or, without checkpoints, running.
    if (!healthy && metrics.running && (!options.checkpointDir || metrics.checkpoints.completed > 0)) {
      healthy = true;
      host.send({ kind: 'healthy' });
    }
    host.send({ kind: 'report', pipelines: [reportOf(live)] });
  }, options.reportMs ?? 250);
  try {
    await running;
  } finally {
    clearInterval(report);
  }
  finishing = true;
  const last: FromWorkerMessage = { kind: 'finished', pipelines: [reportOf(live)] };
  if (!isMainThread) {
    host.send(last);
    process.exit(0);
  }
  // Disconnect once the last report is on its way (the host reads the exit code and this message).
  if (process.connected) process.send?.(last, () => process.disconnect());
  setTimeout(() => process.exit(0), 2000).unref();
}
