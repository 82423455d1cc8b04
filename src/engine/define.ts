// The contract of a pipeline file (`sluice run file.ts`): its default export builds the pipeline from what the
// runner provides, so that the same file runs embedded, against a remote broker, or bounded for a batch job.
import type { PipelineEnvironment, PipelineLog } from '../contracts/index.ts';
import type { Pipeline } from './pipeline.ts';

export { ensureTopic } from './ensure-topic.ts';
export type { PipelineEnvironment, PipelineLog };

export type PipelineDefinition = (env: PipelineEnvironment) => Pipeline | Promise<Pipeline>;

/** Types a pipeline file's default export: `export default definePipeline(({ log }) => { ... })`. */
export function definePipeline(define: PipelineDefinition): PipelineDefinition {
  return define;
}
