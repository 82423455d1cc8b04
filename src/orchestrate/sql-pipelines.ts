// A deployment's SQL pipelines (`file: './counts.sql'`): their inputs and outputs are the script's topics unless the
// spec lists them, and a script with a materialized view is refused at load, since a worker process has no serving
// store (the orchestrator owns it): the spec's tables load a pipeline's output topics instead.
import fs from 'node:fs/promises';
import path from 'node:path';
import { isSluiceError, SluiceError } from '../errors.ts';
import { scriptTopics } from '../sql/index.ts';

interface RawPipeline {
  file?: unknown;
  inputs?: unknown;
  outputs?: unknown;
}

/**
 * The spec as written, with each .sql pipeline's missing `inputs`/`outputs` filled from its script (a copy: the
 * input is left alone). Anything that is not a well-formed spec passes through for parseDeployment to refuse.
 */
export async function withSqlTopics(input: unknown, dir: string): Promise<unknown> {
  const pipelines = (input as { pipelines?: unknown } | null)?.pipelines;
  if (typeof pipelines !== 'object' || pipelines === null) return input;
  const filled: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(pipelines as Record<string, RawPipeline>)) {
    filled[name] = raw;
    if (typeof raw?.file !== 'string' || !/\.sql$/i.test(raw.file)) continue;
    const field = `pipelines.${name}.file`;
    const file = path.resolve(dir, raw.file);
    const text = await fs.readFile(file, 'utf8').catch((error: Error) => {
      throw invalid(field, `cannot read ${raw.file}: ${error.message}`);
    });
    const topics = await scriptTopics(text).catch((error: unknown) => {
      throw isSluiceError(error) ? invalid(field, `${raw.file}: ${error.message}`, error.code) : error;
    });
    if (topics.views.length > 0) {
      throw invalid(
        field,
        `${raw.file} has CREATE MATERIALIZED VIEW ${topics.views[0]}, which needs a serving store, and sluice up runs ` +
          'pipelines in worker processes without one: INSERT INTO a table over a topic and load that topic with one ' +
          "of the spec's tables (or run the script with sluice run / sluice dev)",
      );
    }
    filled[name] = {
      ...raw,
      ...(raw.inputs === undefined ? { inputs: topics.reads } : {}),
      ...(raw.outputs === undefined ? { outputs: topics.writes } : {}),
    };
  }
  return { ...(input as object), pipelines: filled };
}

function invalid(field: string, message: string, sqlCode?: string): SluiceError {
  return new SluiceError('INVALID_SPEC', `invalid deployment spec: ${field}: ${message}`, {
    field,
    ...(sqlCode ? { sqlCode } : {}),
  });
}
