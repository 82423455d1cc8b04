// The Lambda batch layer without a second codebase: a batch job runs the pipeline's own file, bounded, over a past
// range of the log (in a worker process, its outputs renamed to scratch topics), loads the results as the batch
// part of the hybrid table for that range (the boundary moves), and reconciles them with what the speed layer
// computed for the same range: how many rows differ, and which.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { json, logSource, Pipeline, toMillis } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { quoteIdent, type ServingStore, serveBatch, type TableDefinition } from '../serve/index.ts';
import type { DeploymentRunner } from './deployment.ts';
import type { TimeRange } from './jobs.ts';
import { PipelineProcess } from './pipeline-process.ts';
import type { JobSpec } from './spec.ts';
import { versionedTable } from './table-loader.ts';

export interface ReconciliationReport {
  table: string;
  range: TimeRange;
  /** Rows in the range: as the batch run computed them, and as the speed layer had them. */
  batchRows: number;
  speedRows: number;
  /** Rows that are not the same on both sides (by key; a number within 1e-9 relative counts as the same). */
  differing: number;
  missingInSpeed: number;
  missingInBatch: number;
  /** Up to 20 of them: the key, and each side's values (null: missing there). */
  examples: {
    key: Record<string, unknown>;
    speed: Record<string, unknown> | null;
    batch: Record<string, unknown> | null;
  }[];
}

export interface BatchRunResult {
  range: TimeRange;
  rows: number;
  /** The hybrid table's batch range after the run. */
  batchRange: TimeRange;
  reconciliation: ReconciliationReport;
}

export async function runBatch(options: {
  deployment: DeploymentRunner;
  job: string;
  batch: NonNullable<JobSpec['batch']>;
  range: TimeRange;
  signal: AbortSignal;
  logger: Logger;
}): Promise<BatchRunResult> {
  const { deployment, batch, range, signal } = options;
  const { log, store } = deployment;
  const pipelineSpec = deployment.spec.pipelines[batch.pipeline]!;
  const tableSpec = deployment.spec.tables[batch.table]!;
  const table = versionedTable(batch.table, deployment.versionOf(batch.pipeline));
  if (!store.table(table)) {
    throw new SluiceError('TABLE_NOT_READY', `table ${table} is not loaded yet (its pipeline is not healthy yet)`);
  }
  const runId = `${options.job}-${randomBytes(4).toString('hex')}`;
  const scratch = Object.fromEntries(pipelineSpec.outputs.map((t) => [t, `${t}.batch-${runId}`]));
  const slack = toMillis(batch.slack);
  try {
    // The same pipeline file, bounded: events from a little before the range (disorder) to a little after it
    // (stragglers), every window fired by the end of input; results outside the range are ignored below.
    const worker = new PipelineProcess({
      name: `${batch.pipeline}:batch:${runId}`,
      log,
      logger: options.logger,
      renames: scratch,
      restart: false,
      start: {
        fileUrl: pathToFileURL(pipelineSpec.file).href,
        dataDir: log.dataDir,
        bounded: true,
        checkpointIntervalMs: 0,
        position: { from: { timestamp: range.from - slack }, until: { timestamp: range.to + slack } },
      },
    });
    const onAbort = () => void worker.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await worker.done;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (signal.aborted) throw new SluiceError('JOB_CANCELLED', `batch run ${runId} was stopped`);
    const rows = await loadBatch(store, table, scratch[tableSpec.from]!, deployment, range);
    const info = (await store.listTables()).find((t) => t.name === table);
    const reconciliation = await reconcile(store, store.table(table)!, range);
    options.logger.info({ job: options.job, range, rows, differing: reconciliation.differing }, 'batch run committed');
    return { range, rows, batchRange: info?.hybrid?.batch ?? range, reconciliation };
  } finally {
    for (const topic of Object.values(scratch)) if (log.hasTopic(topic)) await log.deleteTopic(topic);
  }
}

/** Loads a scratch topic's results as the batch part of `table` for `range`, atomically. */
async function loadBatch(
  store: ServingStore,
  table: string,
  topic: string,
  deployment: DeploymentRunner,
  range: TimeRange,
): Promise<number> {
  if (!deployment.log.hasTopic(topic)) {
    throw new SluiceError('BATCH_NO_OUTPUT', `the batch run wrote nothing to ${topic}: does the pipeline write it?`);
  }
  const sink = serveBatch<Record<string, unknown>>({ store, name: table, range });
  const p = new Pipeline({ name: `batch-load-${table}`, bounded: true });
  p.source(logSource({ log: deployment.log, topic, format: json<Record<string, unknown>>() })).sinkTo(sink);
  try {
    await p.run();
    await sink.commit();
  } catch (error) {
    await sink.abort();
    throw error;
  }
  return sink.rows;
}

/** Compares the speed layer's rows with the batch rows for the same range. */
export async function reconcile(
  store: ServingStore,
  table: TableDefinition,
  range: TimeRange,
): Promise<ReconciliationReport> {
  const time = table.hybrid!.time;
  const type = table.columns.find((c) => c.name === time)!.type;
  const at = (ms: number) => (type === 'TIMESTAMP_MS' ? `epoch_ms(${ms}::BIGINT)` : String(ms));
  const inRange = `${quoteIdent(time)} >= ${at(range.from)} AND ${quoteIdent(time)} < ${at(range.to)}`;
  const key = table.key.length > 0 ? table.key : table.columns.map((c) => c.name);
  const values = table.columns.filter((c) => !key.includes(c.name));
  const same = (c: { name: string; type: string }) => {
    const s = `s.${quoteIdent(c.name)}`;
    const b = `b.${quoteIdent(c.name)}`;
    return c.type === 'DOUBLE'
      ? `(${s} IS NOT DISTINCT FROM ${b} OR abs(${s} - ${b}) <= 1e-9 * greatest(1, abs(${b})))`
      : `${s} IS NOT DISTINCT FROM ${b}`;
  };
  const k0 = quoteIdent(key[0]!);
  const differs = [`s.${k0} IS NULL`, `b.${k0} IS NULL`, ...values.map((c) => `NOT ${same(c)}`)].join(' OR ');
  const joined =
    `WITH s AS (SELECT * FROM ${quoteIdent(`${table.name}$realtime`)} WHERE ${inRange}), ` +
    `b AS (SELECT * FROM ${quoteIdent(`${table.name}$batch`)} WHERE ${inRange}) `;
  const on = key.map((k) => `s.${quoteIdent(k)} IS NOT DISTINCT FROM b.${quoteIdent(k)}`).join(' AND ');
  const counts = await store.query(
    `${joined}SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM b), count(*) FILTER (WHERE ${differs}), ` +
      `count(*) FILTER (WHERE s.${k0} IS NULL), count(*) FILTER (WHERE b.${k0} IS NULL) ` +
      `FROM s FULL OUTER JOIN b ON ${on}`,
  );
  const [speedRows, batchRows, differing, missingInSpeed, missingInBatch] = counts.rows[0]!.map(Number);
  const columns = table.columns.map((c) => c.name);
  const pick = (side: 's' | 'b') => columns.map((c) => `${side}.${quoteIdent(c)}`).join(', ');
  const examples = await store.query(
    `${joined}SELECT ${pick('s')}, ${pick('b')} FROM s FULL OUTER JOIN b ON ${on} WHERE ${differs} ` +
      `ORDER BY ${key.map((k) => `coalesce(s.${quoteIdent(k)}, b.${quoteIdent(k)})`).join(', ')} LIMIT 20`,
  );
  const toRow = (row: unknown[], offset: number) => Object.fromEntries(columns.map((c, i) => [c, row[offset + i]]));
  return {
    table: table.name,
    range,
    batchRows: batchRows!,
    speedRows: speedRows!,
    differing: differing!,
    missingInSpeed: missingInSpeed!,
    missingInBatch: missingInBatch!,
    examples: examples.rows.map((row) => {
      const speed = row[columns.indexOf(key[0]!)] === null ? null : toRow(row, 0);
      const batchSide = row[columns.length + columns.indexOf(key[0]!)] === null ? null : toRow(row, columns.length);
      const source = speed ?? batchSide!;
      return { key: Object.fromEntries(key.map((k) => [k, source[k]])), speed, batch: batchSide };
    }),
  };
}
