// The contract of a pipeline file (`sluice run file.ts`): its default export builds the pipeline from what the
// runner provides, so that the same file runs embedded, against a remote broker, or bounded for a batch job.
import type { Log, RawReadResult, RecordReadResult, TopicSpec } from '../log/index.ts';
import type { ServingStore } from '../serve/index.ts';
import type { Pipeline } from './pipeline.ts';

/**
 * What sources, sinks and pipeline definitions use of a log. The embedded `Log` is one; a worker process's client
 * of the orchestrator's log is another, whose reads and timestamp lookups are asynchronous (so callers await them).
 */
export interface PipelineLog
  extends Pick<Log, 'hasTopic' | 'createTopic' | 'describeTopic' | 'append' | 'truncate' | 'waitForData'> {
  readRecords(...args: Parameters<Log['readRecords']>): RecordReadResult | Promise<RecordReadResult>;
  /**
   * Whole record batches, undecoded, where the log has them (the embedded log and its channel; not a Kafka
   * client): sources then decode values straight from the bytes, without a decoded record per record.
   */
  readRaw?(...args: Parameters<Log['readRaw']>): RawReadResult | Promise<RawReadResult>;
  /**
   * Gives back a page readRaw lent (`lend: true`), for the log to read into again: only once nothing holds a view
   * into it (a log that does not lend pages leaves it out).
   */
  release?(batches: Buffer): void;
  offsetForTimestamp(...args: Parameters<Log['offsetForTimestamp']>): number | null | Promise<number | null>;
  /** False for a log that cannot cut a partition back (a Kafka cluster): exactly-once sinks then deduplicate. */
  readonly supportsTruncate?: boolean;
  /**
   * Resolves once everything appended to `topic` is durable, appends made with `durable: false` included (a log
   * whose every acknowledged append is already durable — a Kafka cluster, acks=all — leaves it out, and then
   * sinks append durably).
   */
  flush?(topic: string): Promise<void>;
  /** Reloads cached metadata (end offsets) for a log whose describeTopic() answers from a cache. */
  refresh?(topic?: string): Promise<void>;
}

export interface PipelineEnvironment {
  /**
   * The log the pipeline reads and writes: the embedded log itself (`sluice run`, `sluice dev`), or, for a pipeline
   * that `sluice up` runs in a worker process, a client of the orchestrator's log.
   */
  log: PipelineLog;
  /** True for a bounded (batch or replay) run over what is in the log now. */
  bounded: boolean;
  /** The runner's data directory (for serving tables and other local state). */
  dataDir: string;
  /** The serving store, when the runner has one (`sluice dev`, `sluice run`): sink results with serveTable(). */
  serving?: ServingStore;
}

export type PipelineDefinition = (env: PipelineEnvironment) => Pipeline | Promise<Pipeline>;

/** Types a pipeline file's default export: `export default definePipeline(({ log }) => { ... })`. */
export function definePipeline(define: PipelineDefinition): PipelineDefinition {
  return define;
}

/**
 * Creates `topic` unless it exists. Several processes of a scaled-out pipeline define it at once, so a topic that
 * another one created meanwhile (TOPIC_ALREADY_EXISTS) is as good as created here.
 */
export async function ensureTopic(log: PipelineLog, topic: string, spec: TopicSpec): Promise<void> {
  if (log.hasTopic(topic)) return;
  await log.createTopic(topic, spec).catch((error: { code?: string }) => {
    if (error.code !== 'TOPIC_ALREADY_EXISTS') throw error;
  });
}
