// The package's public surface (`import { … } from 'sluice'`): what a pipeline file, a deployment file or a
// program embedding pipelines uses. Everything not exported here, from `sluice/testing` or from `sluice/kafka` is
// internal and may change in any release. docs/package.md lists every export with its purpose.

// What user functions receive: process functions, keyed state and timers.
export type {
  KeyedContext,
  KeyedProcessFunction,
  KeyedState,
  ListState,
  MapState,
  ProcessContext,
  RepartitionOptions,
  RollingResult,
  StateOptions,
  TimerService,
  ValueState,
} from './engine/index.ts';
// Building pipelines: the graph, its streams and the pipeline-file contract.
// Event time, windows and aggregates.
// Sources, sinks and formats, and the contracts for writing your own.
export {
  type Aggregate,
  agg,
  type Batch,
  bytes,
  type CheckpointOptions,
  DataStream,
  type DeadLetter,
  type Duration,
  definePipeline,
  ensureTopic,
  type Format,
  fromArrays,
  generator,
  JoinedStream,
  json,
  KeyedStream,
  LATE_TAG,
  type LogSinkOptions,
  type LogSourceOptions,
  logSink,
  logSource,
  MAX_WATERMARK,
  MIN_WATERMARK,
  Pipeline,
  type PipelineDefinition,
  type PipelineEnvironment,
  type PipelineLog,
  type PipelineMetrics,
  type PipelineOptions,
  type Sink,
  type Source,
  type SourceBatch,
  type SourceContext,
  type StartPosition,
  text,
  toMillis,
  type WindowAssigner,
  WindowedStream,
  type WindowResult,
  WindowResultStream,
  watermarks,
  windows,
} from './engine/index.ts';
export type { WatermarkStrategy } from './engine/operators/timestamps.ts';
// Errors: every error Sluice throws on purpose has a stable `code`.
export { isSluiceError, SluiceError } from './errors.ts';
export { type LogRecord, partitionForKey } from './log/index.ts';
// Deployments for `sluice up`.
export {
  type DeploymentInput,
  defineDeployment,
  type JobContext,
  type JobFunction,
  type ServiceContext,
  type ServiceFunction,
} from './orchestrate/index.ts';
// Serving tables: results queryable with SQL as they are produced.
export {
  type ClickHouseSinkOptions,
  type ColumnType,
  clickhouseSink,
  type ServeBatchOptions,
  type ServeTableOptions,
  type ServingStore,
  serveBatch,
  serveTable,
  type TableDefinition,
} from './serve/index.ts';
