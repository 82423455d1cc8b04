// A pipeline file's contract, checked where every runner uses it: the default export is a definition, and calling it
// gives a Pipeline. A failure here — loading the file or building the pipeline, before any record is read — is the
// definition's fault and no restart mends it, so runners fail at once with it instead of restarting (isStartupFailure).
import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Pipeline, PipelineDefinition, PipelineEnvironment } from '../engine/index.ts';
import { isSluiceError, SluiceError } from '../errors.ts';
import { pipelineNameOf, sqlPipeline } from '../sql/index.ts';
import { describeThrown, displayPath, formatLocation, importUserFile, userFrame } from './load-file.ts';

const PIPELINE_FILE = { code: 'INVALID_PIPELINE', what: 'pipeline' } as const;

/** Imports a pipeline file (a path or a file: URL) and returns its default export, the definition. */
export async function loadPipelineFile(file: string): Promise<PipelineDefinition> {
  if (/\.sql$/i.test(file)) return loadSqlFile(file);
  const module = await importUserFile(file, PIPELINE_FILE);
  if (typeof module.default !== 'function') {
    const has =
      module.default === undefined ? 'it has no default export' : `its default export is ${kindOf(module.default)}`;
    throw new SluiceError(
      'INVALID_PIPELINE',
      `${shownFile(file)} must \`export default definePipeline(({ log }) => ...)\` returning a Pipeline; ${has}`,
      { file, phase: 'load' },
    );
  }
  return module.default as PipelineDefinition;
}

/** A SQL script (docs/sql.md): its pipeline is named after the file and compiled when the runner builds it. */
async function loadSqlFile(file: string): Promise<PipelineDefinition> {
  const filePath = file.startsWith('file:') ? fileURLToPath(file) : file;
  const text = await fs.readFile(filePath, 'utf8').catch((error: Error) => {
    throw new SluiceError('INVALID_PIPELINE', `cannot read ${shownFile(file)}: ${error.message}`, {
      file,
      phase: 'load',
    });
  });
  return sqlPipeline(text, { name: pipelineNameOf(filePath) });
}

/**
 * Calls the definition. What it throws or rejects with becomes a build failure naming the file (and the line in
 * it, when its stack shows one); what it returns must be a Pipeline.
 */
export async function buildPipeline(
  file: string,
  define: PipelineDefinition,
  env: PipelineEnvironment,
): Promise<Pipeline> {
  let pipeline: unknown;
  try {
    pipeline = await define(env);
  } catch (error) {
    throw buildFailure(file, error);
  }
  if (!isPipeline(pipeline)) {
    throw new SluiceError(
      'INVALID_PIPELINE',
      `the definition in ${shownFile(file)} returned ${kindOf(pipeline)}, not a Pipeline: ` +
        'build one with new Pipeline({ name }), add sources and sinks, and return it',
      { file, phase: 'build' },
    );
  }
  try {
    pipeline.validate();
  } catch (error) {
    throw buildFailure(file, error);
  }
  return pipeline;
}

/** What a definition threw, as the error a runner reports: a Sluice error keeps its code (and so its exit code). */
export function buildFailure(file: string, error: unknown): SluiceError {
  if (isStartupFailure(error)) return error as SluiceError;
  const at = error instanceof Error ? userFrame(error.stack ?? '') : undefined;
  const message =
    `building the pipeline of ${shownFile(file)} failed: ${describeThrown(error)}` +
    (at ? ` (at ${formatLocation(at)})` : '');
  const details = isSluiceError(error) ? error.details : {};
  return new SluiceError(
    isSluiceError(error) ? error.code : 'PIPELINE_BUILD_FAILED',
    message,
    { ...details, file, phase: 'build', ...(at ? { at: { ...at } } : {}) },
    { cause: error },
  );
}

/** A failure to load a pipeline (or spec) file or to build its pipeline: final, not a reason to restart. */
export function isStartupFailure(error: unknown): boolean {
  return isSluiceError(error) && (error.details.phase === 'load' || error.details.phase === 'build');
}

/**
 * Duck-typed rather than `instanceof`: a pipeline file may import its own copy of the package (a project's
 * node_modules/sluice run by a global `sluice`), whose Pipeline is another class.
 */
function isPipeline(value: unknown): value is Pipeline {
  const candidate = value as Partial<Pipeline> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.name === 'string' &&
    typeof candidate.run === 'function' &&
    typeof candidate.enableCheckpoints === 'function'
  );
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name && name !== 'Object' ? `a ${name}` : 'an object';
  }
  return `a ${typeof value}`;
}

function shownFile(file: string): string {
  return displayPath(file.startsWith('file:') ? fileURLToPath(file) : file);
}
