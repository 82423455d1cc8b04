// Scale-out with real processes: `sluice run --group` members against `sluice broker` on a 12-partition topic —
// one SIGKILLed mid-run (the others take its tasks over), a fourth added (it gets tasks) — and a run rescaled
// 2 → 4 → 1 through savepoints. Either way the window totals equal a single-process run's, each exactly once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { buildWindowedCounts, type Event, type WindowTotal } from '../examples/windowed-counts.ts';
import { openLog, partitionForKey } from '../src/log/index.ts';
import { eventually } from './helpers/broker.ts';
import { type Daemon, sluice, startSluice } from './helpers/processes.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const PARTITIONS = 12;
const KEYS = 48;
const PIPELINE = new URL('../examples/windowed-counts.ts', import.meta.url).pathname;
const dirs: string[] = [];
const daemons: Daemon[] = [];
after(async () => {
  for (const d of daemons) await d.stop('SIGKILL');
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-scale-'));
  dirs.push(dir);
  return dir;
}

/** Events of `batch`: every key in every 60 s window several times, a little out of order (within the 5 s bound). */
function batch(n: number): Event[] {
  const events: Event[] = [];
  const start = 1_700_000_000_000 + n * 600_000;
  for (let i = 0; i < 2_000; i++) {
    events.push({ key: `sensor-${i % KEYS}`, ts: start + i * 300 - (i % 3) * 1000, value: (i * 7) % 11 });
  }
  return events;
}

/** One far-future event per key closes every earlier window in every task. */
function closing(): Event[] {
  return Array.from({ length: KEYS }, (_, i) => ({ key: `sensor-${i}`, ts: 1_800_000_000_000, value: 0 }));
}

const row = (t: WindowTotal) => `${t.window_start} ${t.key} ${t.cnt} ${t.total} ${t.kind}`;
const beforeClosing = (line: string) => Number(line.split(' ')[0]) < 1_799_999_000_000;

/** What one process computes from the same events (bounded, on an embedded log). */
async function reference(events: Event[]): Promise<string[]> {
  const log = await openLog({ dataDir: tempDir() });
  await log.createTopic('events', { partitions: PARTITIONS });
  await log.createTopic('window-totals', { partitions: 4 });
  for (const e of events) {
    const key = Buffer.from(e.key);
    await log.append('events', partitionForKey(key, PARTITIONS), [
      { key, value: Buffer.from(JSON.stringify(e)), timestamp: e.ts },
    ]);
  }
  const pipeline = await buildWindowedCounts({ log, bounded: true, dataDir: log.dataDir });
  await pipeline.run();
  const rows: string[] = [];
  for (const { partition } of log.describeTopic('window-totals').partitions) {
    for (const r of log.readRecords('window-totals', partition, 0, { maxBytes: 1 << 26 }).records) {
      rows.push(row(JSON.parse(r.value!.toString()) as WindowTotal));
    }
  }
  await log.close();
  return rows.filter(beforeClosing).sort();
}

async function startBroker(): Promise<{ bootstrap: string; kafka: Kafka }> {
  const broker = startSluice(['broker', '--data-dir', tempDir(), '--kafka-port', '0']);
  daemons.push(broker);
  const bootstrap = (await broker.waitFor(/Kafka protocol on (\S+),/))[1]!;
  const kafka = new Kafka({ brokers: [bootstrap], clientId: 'scale-test', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [
      { topic: 'events', numPartitions: PARTITIONS },
      { topic: 'window-totals', numPartitions: 4 },
      { topic: 'events-late', numPartitions: 1 },
    ],
  });
  await admin.disconnect();
  return { bootstrap, kafka };
}

async function produce(kafka: Kafka, events: Event[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  // Keyed like any Java-compatible producer (murmur2), so all of a key's events are in one partition.
  await producer.send({
    topic: 'events',
    acks: -1,
    messages: events.map((e) => ({
      key: e.key,
      value: JSON.stringify(e),
      timestamp: String(e.ts),
      partition: partitionForKey(Buffer.from(e.key), PARTITIONS),
    })),
  });
  await producer.disconnect();
}

/** Every record of window-totals, read with a Kafka client. */
async function totals(kafka: Kafka): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets('window-totals');
  await admin.disconnect();
  const expected = ends.reduce((n, p) => n + Number(p.high), 0);
  if (expected === 0) return [];
  const consumer = kafka.consumer({ groupId: `reader-${Math.random()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: 'window-totals', fromBeginning: true });
  const rows: string[] = [];
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachMessage: async ({ message }) => {
          rows.push(row(JSON.parse(message.value!.toString()) as WindowTotal));
          if (rows.length >= expected) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return rows.sort();
}

function member(bootstrap: string, dataDir: string, extra: string[] = []): Daemon {
  const daemon = startSluice([
    'run',
    PIPELINE,
    '--bootstrap',
    bootstrap,
    '--group',
    'wc',
    '--data-dir',
    dataDir,
    '--checkpoint-interval',
    '300ms',
    '--session-timeout',
    '3s',
    '--no-http',
    ...extra,
  ]);
  daemons.push(daemon);
  return daemon;
}

const tasksOf = (d: Daemon): number[] => {
  const all = [...d.output().matchAll(/tasks \[([\d,]*)\] of/g)];
  const last = all.at(-1)?.[1];
  return last ? last.split(',').filter(Boolean).map(Number) : [];
};

it('three members: one killed mid-run, a fourth added; results equal one process, each window once', async () => {
  const { bootstrap, kafka } = await startBroker();
  const data = tempDir();
  const members = [member(bootstrap, data), member(bootstrap, data), member(bootstrap, data)];
  await eventually(
    () => members.every((m) => tasksOf(m).length === PARTITIONS / 3),
    'three members with four tasks each',
    30_000,
  );
  await produce(kafka, batch(0));
  await eventually(async () => (await totals(kafka)).length > 0, 'first windows', 30_000);
  await produce(kafka, batch(1));
  await members[1]!.stop('SIGKILL'); // mid-run: its tasks resume elsewhere from their checkpoints
  await eventually(
    () => tasksOf(members[0]!).length + tasksOf(members[2]!).length === PARTITIONS,
    'the survivors to take every task',
    30_000,
  );
  await produce(kafka, batch(2));
  const fourth = member(bootstrap, data);
  await eventually(() => tasksOf(fourth).length > 0, 'the fourth member to get tasks', 30_000);
  await produce(kafka, [...batch(3), ...closing()]);
  const expected = await reference([...batch(0), ...batch(1), ...batch(2), ...batch(3), ...closing()]);
  await eventually(
    async () => (await totals(kafka)).filter(beforeClosing).length >= expected.length,
    'every window',
    60_000,
  );
  await new Promise((resolve) => setTimeout(resolve, 500)); // anything extra would be a duplicate: let it show
  assert.deepEqual((await totals(kafka)).filter(beforeClosing), expected);
  for (const m of [members[0]!, members[2]!, fourth]) assert.equal(await m.stop('SIGTERM'), 0, m.output());
});

it('rescales 2 → 4 → 1 through savepoints with identical results', async () => {
  const { bootstrap, kafka } = await startBroker();
  const data = tempDir();
  const phase = async (parallelism: number, events: Event[], savepoint: string | undefined, take: string) => {
    const run = startSluice([
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
    daemons.push(run);
    await eventually(
      () =>
        new Set([...run.output().matchAll(/tasks \[([\d,]*)\] of/g)].flatMap((m) => m[1]!.split(','))).size >=
        PARTITIONS,
      `${parallelism} members running all tasks`,
      30_000,
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
  await eventually(
    async () => (await totals(kafka)).filter(beforeClosing).length >= expected.length,
    'every window',
    30_000,
  );
  assert.deepEqual((await totals(kafka)).filter(beforeClosing), expected);
});

it('embedded with a group: the host serves its log to its member and to one joining from outside', async () => {
  const data = tempDir();
  // The topics exist before the pipeline does, with the partitions the test wants.
  const seed = await openLog({ dataDir: data });
  await seed.createTopic('events', { partitions: PARTITIONS });
  await seed.createTopic('window-totals', { partitions: 4 });
  await seed.close();
  const host = startSluice([
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
  daemons.push(host);
  const bootstrap = (await host.waitFor(/Kafka protocol on (\S+?)[;,\s]/))[1]!;
  const kafka = new Kafka({ brokers: [bootstrap], clientId: 'scale-test', logLevel: logLevel.NOTHING });
  await eventually(() => tasksOf(host).length === PARTITIONS, 'the host member with every task', 30_000);
  await produce(kafka, batch(0));
  const outside = member(bootstrap, data);
  await eventually(() => tasksOf(outside).length === PARTITIONS / 2, 'the outside member to get half', 30_000);
  await produce(kafka, [...batch(1), ...closing()]);
  const expected = await reference([...batch(0), ...batch(1), ...closing()]);
  await eventually(
    async () => (await totals(kafka)).filter(beforeClosing).length >= expected.length,
    'every window',
    30_000,
  );
  assert.deepEqual((await totals(kafka)).filter(beforeClosing), expected);
  assert.equal(await outside.stop('SIGTERM'), 0, outside.output());
  assert.equal(await host.stop('SIGTERM'), 0, host.output());
});
