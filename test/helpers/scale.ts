// What the scale-out tests share: temp directories and daemons cleaned up after the file, a `sluice broker` with
// its topics, members started with `sluice run --group`, keyed produce and whole-topic reads with kafkajs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { type ITopicConfig, Kafka, logLevel } from 'kafkajs';
import { type Log, partitionForKey } from '../../src/log/index.ts';
import { type Daemon, run, startSluice } from '../../support/processes.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

/**
 * How long a scale-out test waits for what has no measure of progress — members to start and join, a task handed
 * over, a first window: each member is a Node process loading the TypeScript CLI (seconds of CPU), several times
 * slower on a loaded machine (30 s was seen to run out there), so this bound only catches what never happens.
 */
export const EVENT_MS = 120_000;

export interface ScaleTestResources {
  tempDir(): string;
  /** Starts `sluice <args>`, killed after the file's tests. */
  start(args: string[], env?: Record<string, string>): Daemon;
}

/** Temp directories (named `<prefix>…`) and daemons of one test file, removed and killed after its tests. */
export function scaleTestResources(prefix: string): ScaleTestResources {
  const dirs: string[] = [];
  const daemons: Daemon[] = [];
  after(async () => {
    for (const d of daemons) await d.stop('SIGKILL');
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    tempDir() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    start(args, env) {
      const daemon = startSluice(args, env);
      daemons.push(daemon);
      return daemon;
    },
  };
}

export function kafkaClient(bootstrap: string): Kafka {
  const kafka = new Kafka({ brokers: [bootstrap], clientId: 'scale-test', logLevel: logLevel.NOTHING });
  bootstraps.set(kafka, bootstrap);
  return kafka;
}

/** Each client's broker address, for readers that are not kafkajs (readTopic). */
const bootstraps = new WeakMap<Kafka, string>();

/** `sluice broker` on a free port, with `topics` created. */
export async function startClusterBroker(
  resources: ScaleTestResources,
  topics: ITopicConfig[],
): Promise<{ bootstrap: string; kafka: Kafka }> {
  const broker = resources.start(['broker', '--data-dir', resources.tempDir(), '--kafka-port', '0']);
  const bootstrap = (await broker.waitFor(/Kafka protocol on (\S+),/, EVENT_MS))[1]!;
  const kafka = kafkaClient(bootstrap);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics });
  await admin.disconnect();
  return { bootstrap, kafka };
}

export interface MemberOptions {
  pipeline: string;
  bootstrap: string;
  group: string;
  dataDir: string;
  checkpointInterval?: string;
  extra?: string[];
  env?: Record<string, string>;
}

/** One `sluice run --group` member process. */
export function startMember(resources: ScaleTestResources, options: MemberOptions): Daemon {
  return resources.start(
    [
      'run',
      options.pipeline,
      '--bootstrap',
      options.bootstrap,
      '--group',
      options.group,
      '--data-dir',
      options.dataDir,
      '--checkpoint-interval',
      options.checkpointInterval ?? '300ms',
      '--session-timeout',
      '3s',
      '--no-http',
      ...(options.extra ?? []),
    ],
    options.env,
  );
}

/** The tasks a member (or a host's members) last said it runs. */
export function tasksOf(daemon: Daemon): number[] {
  const last = [...daemon.output().matchAll(/tasks \[([\d,]*)\] of/g)].at(-1)?.[1];
  return last ? last.split(',').filter(Boolean).map(Number) : [];
}

/**
 * Sends JSON `items` to `topic`, keyed by `key(item)` and in the partition a Java producer picks for that key
 * (murmur2), timestamped by `ts`, in requests of `chunk` (few: the tasks read them a few at a time).
 */
export async function produceKeyed<T extends { ts: number }>(
  kafka: Kafka,
  topic: string,
  partitions: number,
  items: T[],
  key: (item: T) => string,
  chunk = items.length,
): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let i = 0; i < items.length; i += chunk) {
    await producer.send({
      topic,
      acks: -1,
      messages: items.slice(i, i + chunk).map((item) => ({
        key: key(item),
        value: JSON.stringify(item),
        timestamp: String(item.ts),
        partition: partitionForKey(Buffer.from(key(item)), partitions),
      })),
    });
  }
  await producer.disconnect();
}

/** The number of records in `topic` (the sum of its partitions' end offsets). */
export async function endOffset(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  return ends.reduce((n, p) => n + Number(p.high), 0);
}

/**
 * Every committed record value of `topic`, parsed as JSON, as a read_committed consumer sees it: kcat (librdkafka)
 * from the beginning to each partition's end (its last stable offset). Counting records up to the end offsets would
 * not do: pipelines write transactions, whose markers take offsets and whose aborted records are skipped.
 */
export async function readTopic<T>(kafka: Kafka, topic: string): Promise<T[]> {
  const bootstrap = bootstraps.get(kafka);
  if (bootstrap === undefined) throw new Error('readTopic needs a client made by kafkaClient()');
  const args = ['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%s\\n'];
  const result = await run('kcat', [...args, '-X', 'isolation.level=read_committed']);
  if (result.code !== 0) throw new Error(`kcat failed (${result.code}): ${result.stderr}`);
  return result.stdout
    .toString()
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as T);
}

/** Appends JSON `items` to `topic` of an embedded log as produceKeyed sends them: one single-run process's input. */
export async function appendKeyed<T extends { ts: number }>(
  log: Log,
  topic: string,
  partitions: number,
  items: T[],
  key: (item: T) => string,
): Promise<void> {
  for (const item of items) {
    const bytes = Buffer.from(key(item));
    await log.append(topic, partitionForKey(bytes, partitions), [
      { key: bytes, value: Buffer.from(JSON.stringify(item)), timestamp: item.ts },
    ]);
  }
}

/** The countries of the SQL scale tests' page views (test/fixtures/views-by-country.sql, country-views.sql). */
export const COUNTRIES = ['de', 'fr', 'it', 'es', 'pl', 'nl', 'se', 'pt', 'at'];
/** The time of the far-future view each partition ends with. */
export const CLOSING_TS = 1_800_000_000_000;

export interface View {
  user: string;
  country: string;
  ts: number;
}

/**
 * 6,000 page views over 30 minutes from 60 users, every country in every minute, a little out of order; with
 * `late`, then 300 views minutes behind the latest (within country-views.sql's allowed lateness: they update
 * windows that fired); then one far-future view per partition of `partitions` (keyed by user), so that every task's watermark,
 * and so every reader's, passes every window.
 */
export function countryViews(partitions: number, { late = false } = {}): View[] {
  const start = 1_700_000_000_000;
  const out: View[] = [];
  for (let i = 0; i < 6_000; i++) {
    out.push({
      user: `user-${i % 60}`,
      country: COUNTRIES[(i * 13) % COUNTRIES.length]!,
      ts: start + i * 300 - (i % 3) * 1000,
    });
  }
  if (late) {
    for (let i = 0; i < 300; i++) {
      out.push({
        user: `user-${(i * 7) % 60}`,
        country: COUNTRIES[i % COUNTRIES.length]!,
        ts: start + 1_500_000 + i * 97,
      });
    }
  }
  for (let p = 0; p < partitions; p++) {
    let n = 0;
    while (partitionForKey(Buffer.from(`closer-${n}`), partitions) !== p) n++;
    out.push({ user: `closer-${n}`, country: 'zz', ts: CLOSING_TS });
  }
  return out;
}
