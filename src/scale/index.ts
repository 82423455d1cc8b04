// Scale-out: a pipeline split into one task per input partition, run by worker threads of one process over its
// embedded log, or by as many processes as wanted, which find each other through a Kafka consumer group and hand
// tasks over through a shared checkpoint store: a directory, or the cluster's own `<pipeline>-checkpoints` topic.
export { assignByPartitionIndex, joinTaskGroup, type TaskGroup, type TaskGroupOptions } from './group.ts';
export { inspectPipeline, type PipelineShape } from './inspect.ts';
export { type LeaseHolder, releaseThreadLeases, TaskLease, type TaskLeaseLike } from './lease.ts';
export { LogTaskLease } from './log-lease.ts';
export { requireTaskSavepoints, TaskRunner, type TaskRunnerOptions, taskDir, taskDirs } from './task-runner.ts';
export { startTaskThreads, type TaskThreads, type TaskThreadsOptions } from './threads.ts';
