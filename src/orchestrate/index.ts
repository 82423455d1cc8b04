// Orchestration: deployment specs, `sluice up` (pipelines in supervised worker processes in dependency order, tables
// loaded from topics, scheduled jobs), Kappa replays and the Lambda batch layer. Running and supervising the
// pipelines themselves is the runtime's (src/runtime).
export { type BatchRunResult, type ReconciliationReport, reconcile } from './batch.ts';
export { controlApi } from './control-api.ts';
export { DeploymentRunner, deploymentDir } from './deployment.ts';
export type { DeploymentStatus, PipelineStatus } from './deployment-status.ts';
export { type JobRunRecord, Scheduler } from './jobs.ts';
export { Replay, type ReplayFrom, type ReplayStatus } from './replay.ts';
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
export { startTableLoader, type TableLoader, versionedTable } from './table-loader.ts';
export { versionedTopic } from './versions.ts';
export { startViewLoaders, type ViewLoaders, viewTableSpec } from './view-loaders.ts';
