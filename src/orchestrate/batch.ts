// The Lambda batch layer without a second codebase: a batch job runs the pipeline's own file, bounded, over a past
// range of the log (in a worker process, its outputs renamed to scratch topics), loads the results as the batch
// part of the hybrid table for that range (the boundary moves), and reconciles them with what the speed layer
// computed for the same range: how many rows differ, and which.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { toMillis } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { Log } from '../log/index.ts';
import type { Logger } from '../logger.ts';
import { Supervisor, WorkerProcessHost } from '../runtime/index.ts';
import { quoteIdent, replaceBatch, type ServingStore, type TableDefinition } from '../serve/index.ts';
import type { TimeRange } from './jobs.ts';
import type { Deployment, JobSpec } from './spec.ts';
import { versionedTable } from './table-loader.ts';

type Row = Record<string, unknown>;

export interface ReconciliationReport {
  table: string;
  range: TimeRange;
  /**
   * What the batch rows are compared with: what the table served for the range before the run — the speed layer's
   * rows, or an earlier batch run's where one had replaced them (a rerun then checks that the batch is repeatable).
   */
  compared?: 'speed' | 'batch' | 'speed+batch';
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

/** What a batch run uses of the deployment it runs in (the DeploymentRunner). */
export interface BatchDeployment {
  readonly spec: Deployment;
  readonly log: Log;
  readonly store: ServingStore;
  versionOf(pipeline: string): number;
}

export async function runBatch(options: {
  deployment: BatchDeployment;
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
    // No restarts: a failed batch run is retried as a job (jobs.ts), from the start.
    const name = `${batch.pipeline}:batch:${runId}`;
    const host = new WorkerProcessHost({
      name,
      log,
      renames: scratch,
      logLevel: options.logger.level,
      start: {
        fileUrl: pathToFileURL(pipelineSpec.file).href,
        dataDir: log.dataDir,
        bounded: true,
        checkpointIntervalMs: 0,
        position: { from: { timestamp: range.from - slack }, until: { timestamp: range.to + slack } },
      },
    });
    const worker = new Supervisor({
      host,
      name,
      restart: false,
      logger: options.logger,
      stopTimeoutMs: 30_000,
    }).start();
    const onAbort = () => void worker.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await worker.done;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (signal.aborted) throw new SluiceError('JOB_CANCELLED', `batch run ${runId} was stopped`);
    const definition = store.table(table)!;
    const rows = readResults(log, scratch[tableSpec.from]!, definition, range);
    // Reconcile before the swap: the swap deletes the speed layer's rows of the range.
    const current = (await store.listTables()).find((t) => t.name === table)?.hybrid?.batch ?? null;
    const served = await servedRows(store, definition, range);
    const reconciliation = { ...reconcile(definition, served, rows, range), compared: comparedWith(range, current) };
    const batchRange = await replaceBatch(store, table, range, rows);
    options.logger.info(
      { job: options.job, range, rows: rows.length, differing: reconciliation.differing },
      'batch run committed',
    );
    return { range, rows: rows.length, batchRange, reconciliation };
  } finally {
    for (const topic of Object.values(scratch)) if (log.hasTopic(topic)) await log.deleteTopic(topic);
  }
}

/** Largest batch (rows of one range) held in memory for reconciliation and the swap. */
const MAX_BATCH_ROWS = 2_000_000;

/** The batch run's results in `range`, from its scratch topic: the last version of each key, deletions applied. */
function readResults(log: Log, topic: string, table: TableDefinition, range: TimeRange): Row[] {
  if (!log.hasTopic(topic)) {
    throw new SluiceError('BATCH_NO_OUTPUT', `the batch run wrote nothing to ${topic}: does the pipeline write it?`);
  }
  const time = table.hybrid!.time;
  const key = keyColumns(table);
  const latest = new Map<string, Row | null>();
  for (const p of log.describeTopic(topic).partitions) {
    // Read committed, as every reader of pipeline output: a transaction a crash aborted is not a result.
    for (let offset = p.logStartOffset; offset < p.lastStableOffset; ) {
      const page = log.readRecords(topic, p.partition, offset, { maxBytes: 4 << 20, isolation: 'read_committed' });
      for (const record of page.records) {
        if (record.value === null) continue;
        const row = JSON.parse(record.value.toString()) as Row;
        const t = Number(row[time]);
        if (!(t >= range.from && t < range.to)) continue;
        latest.set(keyOf(row, key), row.kind === 'delete' ? null : row);
        if (latest.size > MAX_BATCH_ROWS) {
          throw new SluiceError(
            'BATCH_TOO_LARGE',
            `more than ${MAX_BATCH_ROWS} rows in one batch range: use a shorter range`,
          );
        }
      }
      offset = page.nextOffset;
    }
  }
  return [...latest.values()].filter((row): row is Row => row !== null);
}

/** What the previous answer for `range` came from: the speed layer, an earlier batch run, or both in parts. */
function comparedWith(range: TimeRange, batch: TimeRange | null): ReconciliationReport['compared'] {
  if (!batch || range.to <= batch.from || range.from >= batch.to) return 'speed';
  return range.from >= batch.from && range.to <= batch.to ? 'batch' : 'speed+batch';
}

/**
 * The rows the table served for `range` before this run (times as epoch ms): the speed layer's, or, where an earlier
 * batch run already replaced them, that run's.
 */
async function servedRows(store: ServingStore, table: TableDefinition, range: TimeRange): Promise<Row[]> {
  const time = table.hybrid!.time;
  const isTime = (c: string) => table.columns.find((x) => x.name === c)!.type === 'TIMESTAMP_MS';
  const at = (ms: number) => (isTime(time) ? `epoch_ms(${ms}::BIGINT)` : String(ms));
  const select = table.columns
    .map((c) =>
      c.type === 'TIMESTAMP_MS' ? `epoch_ms(${quoteIdent(c.name)}) AS ${quoteIdent(c.name)}` : quoteIdent(c.name),
    )
    .join(', ');
  const result = await store.query(
    `SELECT ${select} FROM ${quoteIdent(table.name)} WHERE ${quoteIdent(time)} >= ${at(range.from)} AND ${quoteIdent(time)} < ${at(range.to)}`,
    { maxRows: MAX_BATCH_ROWS },
  );
  if (result.truncated) {
    throw new SluiceError(
      'BATCH_TOO_LARGE',
      `more than ${MAX_BATCH_ROWS} rows in one batch range: use a shorter range`,
    );
  }
  return result.rows.map((values) => Object.fromEntries(result.columns.map((c, i) => [c.name, values[i]])));
}

function keyColumns(table: TableDefinition): string[] {
  return table.key.length > 0 ? table.key : table.columns.map((c) => c.name);
}

function keyOf(row: Row, key: string[]): string {
  return JSON.stringify(key.map((k) => normalise(row[k])));
}

function normalise(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  return value ?? null;
}

function same(a: unknown, b: unknown): boolean {
  const x = normalise(a);
  const y = normalise(b);
  if (typeof x === 'number' && typeof y === 'number') return Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y));
  return x === y;
}

/** Compares the speed layer's rows with the batch rows of the same range, by key. */
export function reconcile(table: TableDefinition, speed: Row[], batch: Row[], range: TimeRange): ReconciliationReport {
  const key = keyColumns(table);
  const columns = table.columns.map((c) => c.name);
  const project = (row: Row) => Object.fromEntries(columns.map((c) => [c, normalise(row[c])]));
  const speedByKey = new Map(speed.map((row) => [keyOf(row, key), row]));
  const batchByKey = new Map(batch.map((row) => [keyOf(row, key), row]));
  const report: ReconciliationReport = {
    table: table.name,
    range,
    batchRows: batchByKey.size,
    speedRows: speedByKey.size,
    differing: 0,
    missingInSpeed: 0,
    missingInBatch: 0,
    examples: [],
  };
  const differ = (id: string, s: Row | undefined, b: Row | undefined) => {
    report.differing++;
    if (!s) report.missingInSpeed++;
    if (!b) report.missingInBatch++;
    if (report.examples.length < 20) {
      const source = (s ?? b)!;
      report.examples.push({
        key: Object.fromEntries(key.map((k) => [k, normalise(source[k])])),
        speed: s ? project(s) : null,
        batch: b ? project(b) : null,
      });
    }
    void id;
  };
  for (const [id, b] of batchByKey) {
    const s = speedByKey.get(id);
    if (!s || !columns.every((c) => same(s[c], b[c]))) differ(id, s, b);
  }
  for (const [id, s] of speedByKey) if (!batchByKey.has(id)) differ(id, s, undefined);
  return report;
}
