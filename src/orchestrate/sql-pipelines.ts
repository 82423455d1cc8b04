// A deployment's SQL pipelines (`file: './counts.sql'`): their inputs and outputs are the script's topics unless the
// spec lists them. A worker process has no serving store (the orchestrator owns it), so a script's materialized views
// write their rows to changelog topics (`<pipeline>-view-<view>`, src/sql/views.ts), which become outputs of the
// pipeline, and the deployment gets a table per view loading its topic, as the spec's own tables load theirs.
import fs from 'node:fs/promises';
import path from 'node:path';
import { isSluiceError, SluiceError } from '../errors.ts';
import { pipelineNameOf, scriptTopics, scriptViewTables } from '../sql/index.ts';

interface RawPipeline {
  file?: unknown;
  inputs?: unknown;
  outputs?: unknown;
}

/**
 * The spec as written, with each .sql pipeline's missing `inputs`/`outputs` filled from its script, its views'
 * changelog topics added to its outputs and a table per view added to `tables` (a copy: the input is left alone).
 * Anything that is not a well-formed spec passes through for parseDeployment to refuse.
 */
export async function withSqlTopics(input: unknown, dir: string): Promise<unknown> {
  const pipelines = (input as { pipelines?: unknown } | null)?.pipelines;
  if (typeof pipelines !== 'object' || pipelines === null) return input;
  const declared = (input as { tables?: unknown }).tables;
  const tables: Record<string, unknown> = typeof declared === 'object' && declared !== null ? { ...declared } : {};
  const viewOf = new Map<string, string>();
  const filled: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(pipelines as Record<string, RawPipeline>)) {
    filled[name] = raw;
    if (typeof raw?.file !== 'string' || !/\.sql$/i.test(raw.file)) continue;
    const field = `pipelines.${name}.file`;
    const file = path.resolve(dir, raw.file);
    const text = await fs.readFile(file, 'utf8').catch((error: Error) => {
      throw invalid(field, `cannot read ${raw.file}: ${error.message}`);
    });
    const refused = (error: unknown) => {
      throw isSluiceError(error) ? invalid(field, `${raw.file}: ${error.message}`, error.code) : error;
    };
    const topics = await scriptTopics(text).catch(refused);
    // The worker names the script's pipeline after its file (as sluice run does), and so its views' topics.
    const views = await scriptViewTables(text, pipelineNameOf(file)).catch(refused);
    for (const view of views) {
      const other = viewOf.get(view.name);
      if (other !== undefined || view.name in tables) {
        throw invalid(
          field,
          `${raw.file} has CREATE MATERIALIZED VIEW ${view.name}, and ` +
            (other === undefined
              ? `the spec's tables have a table ${view.name}`
              : `pipeline ${other}'s script has one`) +
            ": a view is the deployment's table of that name; rename one of them",
        );
      }
      viewOf.set(view.name, name);
      tables[view.name] = {
        from: view.topic,
        columns: view.columns,
        ...(view.key.length > 0 ? { key: view.key } : {}),
        ...(view.retention ? { retention: { column: view.retention.column, keep: view.retention.keepMs } } : {}),
        format: 'sql-rows',
      };
    }
    const outputs = Array.isArray(raw.outputs) ? (raw.outputs as unknown[]) : topics.writes;
    const changelogs = views.map((view) => view.topic).filter((topic) => !outputs.includes(topic));
    filled[name] = {
      ...raw,
      ...(raw.inputs === undefined ? { inputs: topics.reads } : {}),
      ...(raw.outputs === undefined || changelogs.length > 0 ? { outputs: [...outputs, ...changelogs] } : {}),
    };
  }
  return { ...(input as object), pipelines: filled, ...(viewOf.size > 0 ? { tables } : {}) };
}

function invalid(field: string, message: string, sqlCode?: string): SluiceError {
  return new SluiceError('INVALID_SPEC', `invalid deployment spec: ${field}: ${message}`, {
    field,
    ...(sqlCode ? { sqlCode } : {}),
  });
}
