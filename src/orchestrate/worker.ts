// The entry point of a pipeline's worker process (`sluice up` forks one per pipeline, replay and batch run): builds
// the pipeline from its file against the orchestrator's log, checkpoints into the directory it is given, reports
// readiness and metrics over the IPC channel, and stops gracefully (a last checkpoint) when told to.
import { fileURLToPath } from 'node:url';
import { LogSource, type Pipeline, type StartPosition } from '../engine/index.ts';
import { isSluiceError } from '../errors.ts';
import { RemoteLog } from './log-channel.ts';
import { buildPipeline, isStartupFailure, loadPipelineFile } from './pipeline-file.ts';
import type { WorkerMessage, WorkerStart } from './worker-protocol.ts';

const send = (message: WorkerMessage) => {
  if (process.connected) process.send?.(message);
};

let pipeline: Pipeline | undefined;
let stopRequested = false;

process.on('message', (message: { kind?: string }) => {
  if (message?.kind === 'start') start(message as WorkerStart).catch(fail);
  if (message?.kind === 'stop') {
    stopRequested = true;
    pipeline?.stop();
  }
});
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
// Without its orchestrator a worker has no log: stop at once (the orchestrator restarts it from its checkpoint).
let finishing = false;
process.on('disconnect', () => process.exit(finishing ? 0 : 3));
// A worker's life is its orchestrator's to manage: Ctrl-C or a SIGTERM sent to the whole process group reaches the
// orchestrator too, which stops its workers in order (downstream first, each with a last checkpoint).
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});

function fail(error: unknown): void {
  const code = isSluiceError(error) ? error.code : 'PIPELINE_FAILED';
  // A pipeline that could not be loaded or built is not restarted (pipeline-process.ts): say which it was.
  const phase = isStartupFailure(error) ? (error as { details: { phase: 'load' | 'build' } }).details.phase : 'run';
  send({ kind: 'failed', error: { code, message: (error as Error)?.message ?? String(error), phase } });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 50).unref();
}

async function start(options: WorkerStart): Promise<void> {
  const log = new RemoteLog();
  await log.refresh();
  const define = await loadPipelineFile(options.fileUrl);
  pipeline = await buildPipeline(fileURLToPath(options.fileUrl), define, {
    log,
    bounded: options.bounded,
    dataDir: options.dataDir,
  });
  send({ kind: 'built' });
  if (options.position) {
    for (const source of pipeline.sourceConnectors()) {
      if (source instanceof LogSource)
        source.reposition(options.position.from as StartPosition, options.position.until);
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
  if (stopRequested) pipeline.stop();
  const live = pipeline;
  let ready = false;
  const report = setInterval(() => {
    const metrics = live.metrics();
    // Healthy: its first checkpoint is taken (sources opened, state restored), or, without checkpoints, running.
    if (!ready && metrics.running && (!options.checkpointDir || metrics.checkpoints.completed > 0)) {
      ready = true;
      send({ kind: 'ready' });
    }
    const positions: Record<string, number[]> = {};
    for (const source of live.sourceConnectors())
      if (source instanceof LogSource) positions[source.topic] = source.position();
    send({ kind: 'metrics', metrics, positions });
  }, options.reportMs ?? 250);
  try {
    await running;
  } finally {
    clearInterval(report);
  }
  finishing = true;
  // Disconnect once the last report is on its way (the orchestrator reads the exit code and this message).
  if (process.connected)
    process.send?.({ kind: 'finished', metrics: live.metrics() } satisfies WorkerMessage, () => process.disconnect());
  setTimeout(() => process.exit(0), 2000).unref();
}
