// The contract of a pipeline file (`sluice run file.ts`): its default export builds the pipeline from what the
// runner provides, so that the same file runs embedded, against a remote broker, or bounded for a batch job.
import type { Log } from '../log/index.ts';
import type { ServingStore } from '../serve/index.ts';
import type { Pipeline } from './pipeline.ts';

export interface PipelineEnvironment {
  /** The log the pipeline reads and writes (embedded in the runner's process). */
  log: Log;
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
