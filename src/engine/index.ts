// The stream engine: typed dataflow pipelines over the log with event time, windows, state and joins.

export type { Aggregate } from './aggregates/index.ts';
export * as agg from './aggregates/index.ts';
export { CHECKPOINT_FORMAT_VERSION, type CheckpointData } from './checkpoint/format.ts';
export { KeyedPartition } from './checkpoint/keyed-partition.ts';
export {
  checkpointTopic,
  LogCheckpointStore,
  type LogCheckpointStoreOptions,
  logSavepointScopes,
  requestLogSavepoint,
} from './checkpoint/log-store.ts';
export type { CheckpointStorage, StoredCheckpoint } from './checkpoint/storage.ts';
export { readCheckpointFile, requestSavepoint } from './checkpoint/store.ts';
export type { Sink, Source, SourceBatch, SourceContext } from './connector.ts';
export { bytes, type Format, json, text } from './connectors/formats.ts';
export { LogSinkConnector, type LogSinkOptions, logSink } from './connectors/log-sink.ts';
export {
  DEFAULT_IDLE_TIMEOUT_MS,
  LogSource,
  type LogSourceOptions,
  logSource,
  type StartPosition,
} from './connectors/log-source.ts';
export { type CollectSink, collect, countingSink, fromArrays, generator } from './connectors/memory.ts';
export {
  definePipeline,
  ensureTopic,
  type PipelineDefinition,
  type PipelineEnvironment,
  type PipelineLog,
} from './define.ts';
export { type Duration, toMillis } from './duration.ts';
export { type Emitted, OperatorHarness } from './harness.ts';
export {
  type CheckpointRecord,
  PipelineHistory,
  type PipelineHistorySnapshot,
  type RestartRecord,
} from './history.ts';
export type {
  BatchEnd,
  KeyedContext,
  KeyedCoProcessFunction,
  KeyedProcessFunction,
  TimerService,
} from './operators/keyed-process.ts';
export type { RollingResult } from './operators/rolling.ts';
export type { ProcessContext } from './operators/stateless.ts';
export type { WatermarkStrategy } from './operators/timestamps.ts';
export { LATE_TAG } from './operators/window-aggregate.ts';
export {
  type CheckpointInfo,
  type CheckpointOptions,
  type OperatorMetrics,
  Pipeline,
  type PipelineMetrics,
  type PipelineOptions,
  type PipelineSqlCompiler,
  type PipelineSqlOptions,
  type PipelineTopology,
  type PipelineView,
  type SourceMetrics,
  type SourcePartitionMetrics,
  type SqlRow,
  type TopologyEdge,
  type TopologyNode,
} from './pipeline.ts';
export type { RepartitionOptions } from './repartition.ts';
export type { KeyedState, ListState, MapState, StateOptions, ValueState } from './state.ts';
export {
  ConnectedKeyedStreams,
  DataStream,
  IntervalJoinedStream,
  JoinedStream,
  KeyedStream,
  WindowedStream,
  WindowResultStream,
} from './stream.ts';
export {
  applyTrigger,
  type MicroBatchSource,
  type MicroBatchStats,
  MicroBatchTrigger,
  type MicroBatchTriggerOptions,
} from './trigger.ts';
export {
  type Batch,
  type DeadLetter,
  MAX_WATERMARK,
  MIN_WATERMARK,
  type Operator,
  type OperatorContext,
} from './types.ts';
export { watermarks } from './watermarks.ts';
export { type WindowAssigner, type WindowResult, windows } from './windows.ts';
