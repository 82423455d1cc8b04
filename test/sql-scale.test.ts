// A SQL pipeline scaled out: views partitioned by user, counted per country (test/fixtures/views-by-country.sql),
// in task threads of one `sluice run --parallelism 2` and in two `sluice run --group` members against
// `sluice broker`. A GROUP BY on another key than the partitioning one moves each row to the task that owns its key
// (a repartition topic, as a TypeScript keyBy with `repartition`): every window's count equals a single process's,
// once — where without the move each task would emit its own partial count of the same window and country.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { openLog } from '../src/log/index.ts';
import { run, SLUICE } from '../support/processes.ts';
import { eventually, progresses } from './helpers/broker.ts';
import {
  appendKeyed,
  CLOSING_TS,
  COUNTRIES,
  countryViews,
  EVENT_MS,
  kafkaClient,
  produceKeyed,
  readTopic,
  scaleTestResources,
  startClusterBroker,
  startMember,
  tasksOf,
} from './helpers/scale.ts';

const PARTITIONS = 6;
const SQL = new URL('./fixtures/views-by-country.sql', import.meta.url).pathname;
const resources = scaleTestResources('sluice-sql-scale-');

interface CountryCount {
  window_start: number;
  country: string;
  views: number;
  users: number;
}

const row = (c: CountryCount) => `${c.window_start} ${c.country} ${c.views} ${c.users}`;
const beforeClosing = (line: string) => Number(line.split(' ')[0]) < CLOSING_TS - 60_000;

/** A data directory whose `views` topic holds the views, partitioned by user. */
async function seeded(): Promise<string> {
  const dataDir = resources.tempDir();
  const log = await openLog({ dataDir });
  await log.createTopic('views', { partitions: PARTITIONS });
  await appendKeyed(log, 'views', PARTITIONS, countryViews(PARTITIONS), (v) => v.user);
  await log.close();
  return dataDir;
}

/** What one process computes: `sluice run --bounded` on its own embedded log (once, for both tests). */
let referenceRows: Promise<string[]> | undefined;
const reference = () => {
  referenceRows ??= computeReference();
  return referenceRows;
};
async function computeReference(): Promise<string[]> {
  const dataDir = await seeded();
  const result = await run(process.execPath, [
    SLUICE,
    'run',
    SQL,
    '--bounded',
    '--data-dir',
    dataDir,
    '--no-kafka',
    '--no-http',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const log = await openLog({ dataDir });
  try {
    const rows = log
      .readRecords('country-counts', 0, 0, { maxBytes: 1 << 26 })
      .records.map((r) => row(JSON.parse(r.value!.toString()) as CountryCount));
    return rows.filter(beforeClosing).sort();
  } finally {
    await log.close();
  }
}

async function expectEveryWindowOnce(kafka: Kafka, expected: string[]): Promise<void> {
  const counts = async () => (await readTopic<CountryCount>(kafka, 'country-counts')).map(row).filter(beforeClosing);
  await progresses(async () => (await counts()).length, expected.length, 'every window');
  await new Promise((resolve) => setTimeout(resolve, 500)); // anything extra would be a duplicate: let it show
  assert.deepEqual((await counts()).sort(), expected);
}

it('a SQL GROUP BY on another key in two task threads: each window and country once, counted whole', async () => {
  const expected = await reference();
  assert.equal(expected.length, 31 * COUNTRIES.length, 'a row per window and country in the reference');
  const dataDir = await seeded();
  const host = resources.start([
    'run',
    SQL,
    '--parallelism',
    '2',
    '--data-dir',
    dataDir,
    '--kafka-port',
    '0',
    '--no-http',
    '--checkpoint-interval',
    '300ms',
  ]);
  const bootstrap = (await host.waitFor(/Kafka protocol on (\S+?)[;,\s]/, EVENT_MS))[1]!;
  await expectEveryWindowOnce(kafkaClient(bootstrap), expected);
  assert.equal(await host.stop('SIGTERM'), 0, host.output());
});

it('a SQL GROUP BY on another key in two members against a broker: each window and country once', async () => {
  const expected = await reference();
  const { bootstrap, kafka } = await startClusterBroker(resources, [
    { topic: 'views', numPartitions: PARTITIONS },
    { topic: 'country-counts', numPartitions: 1 },
  ]);
  const dataDir = resources.tempDir();
  const member = () => startMember(resources, { pipeline: SQL, bootstrap, group: 'sql-vc', dataDir });
  const members = [member(), member()];
  await eventually(
    () => members.every((m) => tasksOf(m).length === PARTITIONS / 2),
    'two members with three tasks each',
    EVENT_MS,
  );
  await produceKeyed(kafka, 'views', PARTITIONS, countryViews(PARTITIONS), (v) => v.user, 500);
  await expectEveryWindowOnce(kafka, expected);
  for (const m of members) assert.equal(await m.stop('SIGTERM'), 0, m.output());
});
