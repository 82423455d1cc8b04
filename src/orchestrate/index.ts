// Orchestration: deployment specs, `sluice up` (supervised pipeline processes in dependency order, tables loaded
// from topics, scheduled jobs), Kappa replays and the Lambda batch layer.
export { type BatchRunResult, type ReconciliationReport, reconcile } from './batch.ts';
export { controlApi } from './control-api.ts';
export { DeploymentRunner, type DeploymentStatus, deploymentDir, type ReplayFrom } from './deployment.ts';
export { type JobRunRecord, Scheduler } from './jobs.ts';
export { importUserFile, type LoadFileOptions } from './load-file.ts';
export {
  childProcessPort,
  type LogChannelServer,
  type LogPort,
  parentProcessPort,
  RemoteLog,
  serveLog,
  threadPort,
} from './log-channel.ts';
export { buildPipeline, isStartupFailure, loadPipelineFile } from './pipeline-file.ts';
export { PipelineProcess, type ProcessState } from './pipeline-process.ts';
export { Replay, type ReplayStatus, versionedTopic } from './replay.ts';
export {
  type Deployment,
  type DeploymentInput,
  defineDeployment,
  type JobContext,
  type JobFunction,
  loadDeployment,
  parseDeployment,
  type ServiceContext,
  type ServiceFunction,
} from './spec.ts';
export { versionedTable } from './table-loader.ts';
