// Scale-out with a repartition: page views partitioned by user, counted per country, by three `sluice run --group`
// members against `sluice broker` — each task writes its views to the repartition topic by country and counts its
// own share of the countries. One member is SIGKILLed mid-run; its tasks resume elsewhere from their checkpoints.
// The counts equal a single process's, each window exactly once, and nothing is late that was not late there.
// Then the same pipeline in task threads of one `sluice run --parallelism` on its embedded log: a thread dies
// mid-run and is restarted, the run is stopped and resumed with another thread count, and the counts still equal.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { openLog, partitionForKey } from '../src/log/index.ts';
import type { Daemon } from '../support/processes.ts';
import { buildViewsByCountry, type CountryCount, type View } from './fixtures/views-by-country.ts';
import { eventually, progresses } from './helpers/broker.ts';
import {
  appendKeyed,
  EVENT_MS,
  endOffset,
  kafkaClient,
  produceKeyed,
  readTopic,
  scaleTestResources,
  startClusterBroker,
  startMember,
  tasksOf,
} from './helpers/scale.ts';

const PARTITIONS = 6;
const USERS = 60;
const COUNTRIES = ['de', 'fr', 'it', 'es', 'pl', 'nl', 'se', 'pt', 'at'];
const CLOSING_TS = 1_800_000_000_000;
const PIPELINE = new URL('./fixtures/views-by-country.ts', import.meta.url).pathname;
const resources = scaleTestResources('sluice-repartition-');
const { tempDir } = resources;

/** Views of `batch`: users in every country, every country in every 60 s window, a little out of order. */
function batch(n: number): View[] {
  const views: View[] = [];
  const start = 1_700_000_000_000 + n * 600_000;
  for (let i = 0; i < 2_000; i++) {
    views.push({
      user: `user-${i % USERS}`,
      country: COUNTRIES[(i * 13) % COUNTRIES.length]!,
      ts: start + i * 300 - (i % 3) * 1000,
    });
  }
  return views;
}

/** One far-future view in every partition: every task's watermark, and so every reader's, passes every window. */
function closing(): View[] {
  const views: View[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    let n = 0;
    while (partitionForKey(Buffer.from(`closer-${n}`), PARTITIONS) !== p) n++;
    views.push({ user: `closer-${n}`, country: 'zz', ts: CLOSING_TS });
  }
  return views;
}

const row = (c: CountryCount) => `${c.window_start} ${c.country} ${c.views} ${c.users} ${c.kind}`;
const beforeClosing = (line: string) => Number(line.split(' ')[0]) < CLOSING_TS - 60_000;

/** What one process computes from the same views (bounded, on an embedded log, no repartition topic). */
async function reference(views: View[]): Promise<{ rows: string[]; late: number }> {
  const log = await openLog({ dataDir: tempDir() });
  await log.createTopic('views', { partitions: PARTITIONS });
  await appendKeyed(log, 'views', PARTITIONS, views, (v) => v.user);
  await (await buildViewsByCountry({ log, bounded: true, dataDir: log.dataDir })).run();
  const rows: string[] = [];
  for (const r of log.readRecords('country-counts', 0, 0, { maxBytes: 1 << 26 }).records) {
    rows.push(row(JSON.parse(r.value!.toString()) as CountryCount));
  }
  const late = log.describeTopic('views-late').partitions[0]!.logEndOffset;
  assert.equal(log.hasTopic('views-by-country-by-country-repartition'), false);
  await log.close();
  return { rows: rows.filter(beforeClosing).sort(), late };
}

function startBroker(): Promise<{ bootstrap: string; kafka: Kafka }> {
  return startClusterBroker(resources, [
    { topic: 'views', numPartitions: PARTITIONS },
    { topic: 'country-counts', numPartitions: 1 },
    { topic: 'views-late', numPartitions: 1 },
  ]);
}

const produce = (kafka: Kafka, views: View[]) => produceKeyed(kafka, 'views', PARTITIONS, views, (v) => v.user);

/** Every record of country-counts, read with a Kafka client. */
const counts = async (kafka: Kafka) => (await readTopic<CountryCount>(kafka, 'country-counts')).map(row).sort();

/** Waits for every window of `expected`, then checks each is there once and the late records are the same. */
async function expectEveryWindowOnce(kafka: Kafka, expected: { rows: string[]; late: number }): Promise<void> {
  await progresses(
    async () => (await counts(kafka)).filter(beforeClosing).length,
    expected.rows.length,
    'every window',
  );
  await new Promise((resolve) => setTimeout(resolve, 500)); // anything extra would be a duplicate: let it show
  assert.deepEqual((await counts(kafka)).filter(beforeClosing), expected.rows);
  assert.equal((await readTopic(kafka, 'views-late')).length, expected.late);
}

const member = (bootstrap: string, dataDir: string) =>
  startMember(resources, { pipeline: PIPELINE, bootstrap, group: 'vc', dataDir });

it('three members count by another key than the partitioning one; one killed mid-run; each window once', async () => {
  const { bootstrap, kafka } = await startBroker();
  const data = tempDir();
  const members = [member(bootstrap, data), member(bootstrap, data), member(bootstrap, data)];
  await eventually(
    () => members.every((m) => tasksOf(m).length === PARTITIONS / 3),
    'three members with two tasks each',
    EVENT_MS,
  );
  await produce(kafka, batch(0));
  await eventually(async () => (await endOffset(kafka, 'country-counts')) > 0, 'first windows', EVENT_MS);
  await produce(kafka, batch(1));
  // Mid-run: the repartition topic has records its tasks wrote after their last checkpoint, and readers mid-way.
  await progresses(
    () => endOffset(kafka, 'views-by-country-by-country-repartition'),
    3_001,
    'the second batch to be on its way through the repartition topic',
  );
  await members[1]!.stop('SIGKILL');
  await eventually(
    () => tasksOf(members[0]!).length + tasksOf(members[2]!).length === PARTITIONS,
    'the survivors to take every task',
    EVENT_MS,
  );
  await produce(kafka, [...batch(2), ...closing()]);
  const expected = await reference([...batch(0), ...batch(1), ...batch(2), ...closing()]);
  assert.ok(expected.rows.length >= 3 * 10 * COUNTRIES.length, `${expected.rows.length} windows expected`);
  await expectEveryWindowOnce(kafka, expected);
  for (const m of [members[0]!, members[2]!]) assert.equal(await m.stop('SIGTERM'), 0, m.output());
});

/** `sluice run --parallelism N` on its own embedded log (task threads), its Kafka listener on a free port. */
function threadedHost(dataDir: string, threads: number, crashFile: string): Daemon {
  return resources.start(
    [
      'run',
      PIPELINE,
      '--parallelism',
      String(threads),
      '--data-dir',
      dataDir,
      '--kafka-port',
      '0',
      '--http-port',
      '0',
      '--checkpoint-interval',
      '300ms',
    ],
    { SLUICE_TEST_CRASH_FILE: crashFile },
  );
}

async function hostKafka(host: Daemon): Promise<Kafka> {
  return kafkaClient((await host.waitFor(/Kafka protocol on (\S+?)[;,\s]/, EVENT_MS))[1]!);
}

it('task threads on the embedded log: a thread dies mid-run, then 2 → 3 threads; each window once', async () => {
  const data = tempDir();
  const crashFile = path.join(data, 'CRASH');
  // The topics exist before the pipeline does, with the partitions the test wants (the pipeline would make 3).
  const seed = await openLog({ dataDir: data });
  await seed.createTopic('views', { partitions: PARTITIONS });
  await seed.close();

  let host = threadedHost(data, 2, crashFile);
  await host.waitFor(/thread 1 tasks \[1,3,5\]/, EVENT_MS);
  let kafka = await hostKafka(host);
  await produce(kafka, batch(0));
  await eventually(async () => (await endOffset(kafka, 'country-counts')) > 0, 'first windows', EVENT_MS);
  // A thread dies as the second batch comes through (its tasks have written some of it, past their checkpoint).
  fs.writeFileSync(crashFile, '');
  await produce(kafka, batch(1));
  await eventually(() => !fs.existsSync(crashFile), 'a thread to die', EVENT_MS);
  const died = (await host.waitFor(/"released":(\d+).*task thread died; restarting it/, EVENT_MS))[1];
  // Its leases are let go at once (its process lives on): the restarted thread does not wait for them to expire.
  assert.ok(Number(died) > 0, host.output());
  await progresses(
    () => endOffset(kafka, 'views-by-country-by-country-repartition'),
    4_000,
    'the second batch through the repartition topic',
  );
  // Stopped (each task's last checkpoint), then resumed by three threads: the tasks move, their state with them.
  assert.equal(await host.stop('SIGTERM'), 0, host.output());
  host = threadedHost(data, 3, crashFile);
  await host.waitFor(/thread 2 tasks \[/, EVENT_MS);
  // Shared by the records the partitions hold now (round robin when they were empty): every thread some, all six.
  const shares = [...host.output().matchAll(/thread \d tasks \[([\d,]*)\]/g)].map((m) => m[1]!.split(',').map(Number));
  assert.equal(shares.length, 3, host.output());
  assert.ok(
    shares.every((ps) => ps.length > 0),
    host.output(),
  );
  assert.deepEqual(shares.flat().toSorted(), [0, 1, 2, 3, 4, 5]);
  kafka = await hostKafka(host);
  await produce(kafka, [...batch(2), ...closing()]);
  const expected = await reference([...batch(0), ...batch(1), ...batch(2), ...closing()]);
  await expectEveryWindowOnce(kafka, expected);
  // The tasks show in the host's HTTP API and /metrics, as the threads report them.
  const http = (await host.waitFor(/HTTP on (http:\/\/\S+?)[;\s]/, EVENT_MS))[1]!;
  const tasks = Array.from({ length: PARTITIONS }, (_, p) => `views-by-country#${p}`);
  await eventually(async () => {
    const { pipelines } = (await (await fetch(`${http}/v1/pipelines`)).json()) as { pipelines: { name: string }[] };
    const names = pipelines.map((p) => p.name).sort();
    return names.join() === tasks.join();
  }, 'every task in /v1/pipelines');
  const metrics = await (await fetch(`${http}/metrics`)).text();
  assert.match(metrics, /sluice_operator_records_in_total\{pipeline="views-by-country#5",operator="[^"]+"\} [1-9]/);
  assert.equal(await host.stop('SIGTERM'), 0, host.output());
});
