// A SQL materialized view scaled out (test/fixtures/country-views.sql: views partitioned by user, counted per country
// into a table keyed by window and country, with late views updating their windows). The tasks have no serving store:
// they write the view's rows with their kinds to its changelog topic, and the process that owns the store loads the
// table from it. In task threads of `sluice run --parallelism 2`, and in two member processes of an embedded host
// (`sluice run --group --parallelism 2`), and in two members against `sluice broker` (`sluice run --bootstrap
// --parallelism 2`, whose host process loads the table from the cluster), the table served over HTTP equals the one a
// single process computes — each window and country once, late updates applied — and again after the threads'
// restart with another parallelism.
import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { openLog } from '../src/log/index.ts';
import { ServingStore } from '../src/serve/index.ts';
import { type Daemon, run, SLUICE } from '../support/processes.ts';
import { eventually } from './helpers/broker.ts';
import {
  appendKeyed,
  CLOSING_TS,
  COUNTRIES,
  countryViews,
  EVENT_MS,
  produceKeyed,
  scaleTestResources,
  startClusterBroker,
} from './helpers/scale.ts';

const PARTITIONS = 6;
const SQL = new URL('./fixtures/country-views.sql', import.meta.url).pathname;
const resources = scaleTestResources('sluice-sql-scale-views-');
const QUERY =
  'SELECT epoch_ms(window_start)::DOUBLE, country, views::DOUBLE, users::DOUBLE FROM country_views ' +
  `WHERE epoch_ms(window_start) < ${CLOSING_TS - 60_000}`;

/** A data directory whose `views` topic holds the views, partitioned by user. */
async function seeded(): Promise<string> {
  const dataDir = resources.tempDir();
  const log = await openLog({ dataDir });
  await log.createTopic('views', { partitions: PARTITIONS });
  await appendKeyed(log, 'views', PARTITIONS, countryViews(PARTITIONS, { late: true }), (v) => v.user);
  await log.close();
  return dataDir;
}

const line = (row: unknown[]) => row.map(String).join(' ');

/** What one process serves: `sluice run --bounded` with its own serving store (once, for every test). */
let referenceRows: Promise<string[]> | undefined;
const reference = () => {
  referenceRows ??= computeReference();
  return referenceRows;
};
async function computeReference(): Promise<string[]> {
  const dataDir = await seeded();
  const args = [SLUICE, 'run', SQL, '--bounded', '--data-dir', dataDir, '--no-kafka', '--no-http'];
  const result = await run(process.execPath, args);
  assert.equal(result.code, 0, result.stderr);
  const store = await ServingStore.open({ dir: path.join(dataDir, 'serve') });
  try {
    return (await store.query(QUERY)).rows.map((row) => line(row as unknown[])).sort();
  } finally {
    await store.close();
  }
}

async function served(url: string): Promise<string[]> {
  const response = await fetch(`${url}/v1/sql`, { method: 'POST', body: JSON.stringify({ sql: QUERY }) });
  const body = (await response.json()) as { rows: unknown[][]; error?: { message: string } };
  if (!response.ok) throw new Error(body.error?.message ?? `HTTP ${response.status}`);
  return body.rows.map(line).sort();
}

/** Waits until the process's table is the reference, then a little longer: anything extra would be a duplicate. */
async function servesReference(daemon: Daemon, expected: string[]): Promise<void> {
  const url = (await daemon.waitFor(/HTTP on (http:\/\/\S+?)[;,\s]/, EVENT_MS))[1]!;
  let last: string[] = [];
  await eventually(
    async () => {
      last = await served(url).catch(() => []);
      return last.length === expected.length && last.every((row, i) => row === expected[i]);
    },
    'the served table equal to one process',
    EVENT_MS,
    200,
  ).catch((error: Error) => {
    const missing = expected.filter((row) => !last.includes(row)).slice(0, 5);
    const extra = last.filter((row) => !expected.includes(row)).slice(0, 5);
    throw new Error(
      `${error.message}: ${last.length} rows of ${expected.length}; missing ${missing.join(' | ')}; ` +
        `other ${extra.join(' | ')}\n${daemon.output()}`,
    );
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.deepEqual(await served(url), expected);
}

const runArgs = (dataDir: string, extra: string[]) => [
  'run',
  SQL,
  ...extra,
  '--data-dir',
  dataDir,
  '--kafka-port',
  '0',
  '--http-port',
  '0',
  '--checkpoint-interval',
  '300ms',
];

it('a SQL materialized view in two task threads: the owner serves its table, equal to one process', async () => {
  const expected = await reference();
  assert.equal(expected.length, 31 * COUNTRIES.length, 'a row per window and country in the reference');
  const dataDir = await seeded();
  const threads = resources.start(runArgs(dataDir, ['--parallelism', '2']));
  await servesReference(threads, expected);
  assert.equal(await threads.stop('SIGTERM'), 0, threads.output());
  // Resumed with three threads: the tasks and the loader resume from their checkpoints, nothing loaded twice.
  const again = resources.start(runArgs(dataDir, ['--parallelism', '3']));
  await again.waitFor(/thread 2 tasks/, EVENT_MS);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await servesReference(again, expected);
  assert.equal(await again.stop('SIGTERM'), 0, again.output());
});

it('a SQL materialized view in two members of an embedded host: the host serves its table', async () => {
  const expected = await reference();
  const dataDir = await seeded();
  const host = resources.start(runArgs(dataDir, ['--group', 'sql-views', '--parallelism', '2']));
  await servesReference(host, expected);
  assert.equal(await host.stop('SIGTERM'), 0, host.output());
});

it('a SQL materialized view in two members against a broker: their host loads the table from the cluster', async () => {
  const expected = await reference();
  const { bootstrap, kafka } = await startClusterBroker(resources, [{ topic: 'views', numPartitions: PARTITIONS }]);
  const dataDir = resources.tempDir();
  const host = resources.start([
    'run',
    SQL,
    '--bootstrap',
    bootstrap,
    '--parallelism',
    '2',
    '--data-dir',
    dataDir,
    '--http-port',
    '0',
    '--checkpoint-interval',
    '300ms',
    '--session-timeout',
    '3s',
  ]);
  await host.waitFor(/HTTP on/, EVENT_MS);
  await produceKeyed(kafka, 'views', PARTITIONS, countryViews(PARTITIONS, { late: true }), (v) => v.user, 500);
  await servesReference(host, expected);
  assert.equal(await host.stop('SIGTERM'), 0, host.output());
});
