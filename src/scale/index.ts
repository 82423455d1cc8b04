// Scale-out: a pipeline split into one task per input partition, run by as many processes as wanted, which find
// each other through a Kafka consumer group and hand tasks over through a shared checkpoint store.
export { assignByPartitionIndex, joinTaskGroup, type TaskGroup, type TaskGroupOptions } from './group.ts';
export { type LeaseHolder, TaskLease } from './lease.ts';
export { TaskRunner, type TaskRunnerOptions, taskDir, taskDirs } from './task-runner.ts';
