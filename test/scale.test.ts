// Scale-out with real processes: `sluice run --group` members against `sluice broker` on a 12-partition topic —
// one SIGKILLed mid-run (the others take its tasks over), a fourth added (it gets tasks) — and a run rescaled
// 2 → 4 → 1 through savepoints. Either way the window totals equal a single-process run's, each exactly once.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Kafka } from 'kafkajs';
import type { Event } from '../examples/windowed-counts.ts';
import { openLog } from '../src/log/index.ts';
import { sluice } from '../support/processes.ts';
import {
  batch as batchOf,
  beforeClosing,
  closing,
  PARTITIONS,
  PIPELINE,
  produce,
  reference as referenceOf,
  totals,
} from './fixtures/windowed-counts-scale.ts';
import { eventually, progresses } from './helpers/broker.ts';
import {
  EVENT_MS,
  kafkaClient,
  scaleTestResources,
  startClusterBroker,
  startMember,
  tasksOf,
} from './helpers/scale.ts';

const resources = scaleTestResources('sluice-scale-');
const { tempDir } = resources;

/** Events of `batch` n (test/fixtures/windowed-counts-scale.ts). */
const batch = (n: number) => batchOf(n, 2000, 300);
const reference = (events: Event[]) => referenceOf(events, tempDir());

function startBroker(): Promise<{ bootstrap: string; kafka: Kafka }> {
  return startClusterBroker(resources, [
    { topic: 'events', numPartitions: PARTITIONS },
    { topic: 'window-totals', numPartitions: 4 },
    { topic: 'events-late', numPartitions: 1 },
  ]);
}

const member = (bootstrap: string, dataDir: string) =>
  startMember(resources, { pipeline: PIPELINE, bootstrap, group: 'wc', dataDir });

it('three members: one killed mid-run, a fourth added; results equal one process, each window once', async () => {
  const { bootstrap, kafka } = await startBroker();
  const data = tempDir();
  const members = [member(bootstrap, data), member(bootstrap, data), member(bootstrap, data)];
  await eventually(
    () => members.every((m) => tasksOf(m).length === PARTITIONS / 3),
    'three members with four tasks each',
    EVENT_MS,
  );
  await produce(kafka, batch(0));
  await eventually(async () => (await totals(kafka)).length > 0, 'first windows', EVENT_MS);
  await produce(kafka, batch(1));
  await members[1]!.stop('SIGKILL'); // mid-run: its tasks resume elsewhere from their checkpoints
  await eventually(
    () => tasksOf(members[0]!).length + tasksOf(members[2]!).length === PARTITIONS,
    'the survivors to take every task',
    EVENT_MS,
  );
  await produce(kafka, batch(2));
  const fourth = member(bootstrap, data);
  await eventually(() => tasksOf(fourth).length > 0, 'the fourth member to get tasks', EVENT_MS);
  await produce(kafka, [...batch(3), ...closing()]);
  const expected = await reference([...batch(0), ...batch(1), ...batch(2), ...batch(3), ...closing()]);
  await progresses(async () => (await totals(kafka)).filter(beforeClosing).length, expected.length, 'every window');
  await new Promise((resolve) => setTimeout(resolve, 500)); // anything extra would be a duplicate: let it show
  assert.deepEqual((await totals(kafka)).filter(beforeClosing), expected);
  for (const m of [members[0]!, members[2]!, fourth]) assert.equal(await m.stop('SIGTERM'), 0, m.output());
});

it('rescales 2 → 4 → 1 through savepoints with identical results', async () => {
  const { bootstrap, kafka } = await startBroker();
  const data = tempDir();
  const phase = async (parallelism: number, events: Event[], savepoint: string | undefined, take: string) => {
    const run = resources.start([
      'run',
      PIPELINE,
      '--bootstrap',
      bootstrap,
      '--parallelism',
      String(parallelism),
      '--data-dir',
      data,
      '--checkpoint-interval',
      '300ms',
      '--no-http',
      ...(savepoint ? ['--from-savepoint', savepoint] : []),
    ]);
    await eventually(
      () =>
        new Set([...run.output().matchAll(/tasks \[([\d,]*)\] of/g)].flatMap((m) => m[1]!.split(','))).size >=
        PARTITIONS,
      `${parallelism} members running all tasks`,
      EVENT_MS,
    );
    await produce(kafka, events);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const taken = await sluice(['savepoint', 'windowed-counts', '--name', take, '--data-dir', data]);
    assert.equal(taken.code, 0, taken.stderr);
    assert.equal(await run.stop('SIGTERM'), 0, run.output());
  };
  await phase(2, batch(0), undefined, 's1');
  await phase(4, batch(1), 's1', 's2');
  await phase(1, [...batch(2), ...closing()], 's2', 's3');
  const expected = await reference([...batch(0), ...batch(1), ...batch(2), ...closing()]);
  await progresses(async () => (await totals(kafka)).filter(beforeClosing).length, expected.length, 'every window');
  assert.deepEqual((await totals(kafka)).filter(beforeClosing), expected);
});

it('embedded with a group: the host serves its log to its member and to one joining from outside', async () => {
  const data = tempDir();
  // The topics exist before the pipeline does, with the partitions the test wants.
  const seed = await openLog({ dataDir: data });
  await seed.createTopic('events', { partitions: PARTITIONS });
  await seed.createTopic('window-totals', { partitions: 4 });
  await seed.close();
  const host = resources.start([
    'run',
    PIPELINE,
    '--group',
    'wc',
    '--parallelism',
    '1',
    '--data-dir',
    data,
    '--kafka-port',
    '0',
    '--no-http',
    '--checkpoint-interval',
    '300ms',
    '--session-timeout',
    '3s',
  ]);
  const bootstrap = (await host.waitFor(/Kafka protocol on (\S+?)[;,\s]/, EVENT_MS))[1]!;
  const kafka = kafkaClient(bootstrap);
  await eventually(() => tasksOf(host).length === PARTITIONS, 'the host member with every task', EVENT_MS);
  await produce(kafka, batch(0));
  const outside = member(bootstrap, data);
  await eventually(() => tasksOf(outside).length === PARTITIONS / 2, 'the outside member to get half', EVENT_MS);
  await produce(kafka, [...batch(1), ...closing()]);
  const expected = await reference([...batch(0), ...batch(1), ...closing()]);
  await progresses(async () => (await totals(kafka)).filter(beforeClosing).length, expected.length, 'every window');
  assert.deepEqual((await totals(kafka)).filter(beforeClosing), expected);
  assert.equal(await outside.stop('SIGTERM'), 0, outside.output());
  assert.equal(await host.stop('SIGTERM'), 0, host.output());
});
