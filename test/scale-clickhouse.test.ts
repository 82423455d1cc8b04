// The ClickHouse sink at scale: three `sluice run --group` members against `sluice broker` on a 12-partition
// topic write one keyed table (counts per 60 s window and key) and one append table (every event) in a throwaway
// clickhouse-server; one member is SIGKILLed mid-run, after it has written, so its tasks replay elsewhere. Read with
// FINAL (the `_latest` views), every window and key is there once with the count computed from the events, and
// every event once. Skipped, saying why, when no ClickHouse is installed.
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { partitionForKey } from '../src/log/index.ts';
import type { Event } from './fixtures/clickhouse-counts.ts';
import { eventually, progresses } from './helpers/broker.ts';
import { startClickHouse, type TestClickHouse } from './helpers/clickhouse.ts';
import {
  EVENT_MS,
  produceKeyed,
  scaleTestResources,
  startClusterBroker,
  startMember,
  tasksOf,
} from './helpers/scale.ts';

const PARTITIONS = 12;
const KEYS = 48;
const PIPELINE = new URL('./fixtures/clickhouse-counts.ts', import.meta.url).pathname;
const CLOSING_TS = 1_800_000_000_000;
const resources = scaleTestResources('sluice-scale-ch-');
let clickhouse: TestClickHouse | undefined;
after(async () => {
  await clickhouse?.stop();
});

/**
 * Events of `batch`: every key in every 60 s window several times, a little out of order (within the 5 s bound),
 * and every 25th followed by one 20 s older (beyond the bound, within the 30 s lateness: its window, often fired
 * already, is updated). Values are unique, so that a duplicate shows.
 */
function batch(n: number): Event[] {
  const events: Event[] = [];
  const start = 1_700_000_000_000 + n * 600_000;
  for (let i = 0; i < 2_000; i++) {
    const key = `sensor-${i % KEYS}`;
    events.push({ key, ts: start + i * 300 - (i % 3) * 1000, value: n * 10_000 + i });
    if (i % 25 === 24) events.push({ key, ts: start + i * 300 - 20_000, value: n * 10_000 + 5_000 + i });
  }
  return events;
}

/** One far-future event per key closes every earlier window in every task (its own window stays open). */
function closing(): Event[] {
  return Array.from({ length: KEYS }, (_, i) => ({ key: `sensor-${i}`, ts: CLOSING_TS, value: 1_000_000 + i }));
}

/** `window_start key count` of every window the events fill, computed directly (closed windows only). */
function expectedCounts(events: Event[]): string[] {
  const counts = new Map<string, number>();
  for (const e of events) {
    if (e.ts >= CLOSING_TS) continue;
    const id = `${Math.floor(e.ts / 60_000) * 60_000} ${e.key}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return [...counts].map(([id, n]) => `${id} ${n}`).sort();
}

async function windowCounts(ch: TestClickHouse): Promise<string[]> {
  const rows = await ch.rows(
    `SELECT toUnixTimestamp(window_start) AS w, key, cnt FROM window_counts_latest
     WHERE window_start < toDateTime(${CLOSING_TS / 1000})`,
  );
  return rows.map((r) => `${Number(r.w) * 1000} ${r.key} ${r.cnt}`).sort();
}

/** Sends `events` in requests of 100, so that the tasks read them a few at a time and fire windows in between. */
const produce = (kafka: Kafka, events: Event[]) => produceKeyed(kafka, 'events', PARTITIONS, events, (e) => e.key, 100);

it('three members, one SIGKILLed after writing: each window and key once with its count, each event once', async (t) => {
  const server = await startClickHouse();
  if ('skip' in server) {
    t.skip(server.skip);
    return;
  }
  const ch = (clickhouse = server);
  const { bootstrap, kafka } = await startClusterBroker(resources, [{ topic: 'events', numPartitions: PARTITIONS }]);
  const data = resources.tempDir();
  const member = () =>
    startMember(resources, {
      pipeline: PIPELINE,
      bootstrap,
      group: 'chc',
      dataDir: data,
      // Rare checkpoints: what a task wrote before the kill is almost surely after its last one, so it replays.
      checkpointInterval: '5s',
      env: { SLUICE_CLICKHOUSE_URL: ch.url },
    });
  const members = [member(), member(), member()];
  await eventually(
    () => members.every((m) => tasksOf(m).length === PARTITIONS / 3),
    'three members with four tasks each',
    EVENT_MS,
  );
  await eventually(
    async () =>
      (await ch.rows("SELECT name FROM system.tables WHERE name IN ('events_seen', 'window_counts')")).length === 2,
    'the tables',
    EVENT_MS,
  );
  // Without merges the raw tables keep whatever the replay writes twice; FINAL must still read each row once.
  await ch.client.command({ query: 'SYSTEM STOP MERGES events_seen' });
  await ch.client.command({ query: 'SYSTEM STOP MERGES window_counts' });

  const victim = members[1]!;
  const victimKeys = Array.from({ length: KEYS }, (_, i) => `sensor-${i}`)
    .filter((key) => tasksOf(victim).includes(partitionForKey(Buffer.from(key), PARTITIONS)))
    .map((key) => `'${key}'`)
    .join(', ');
  const written = async (table: string) =>
    Number((await ch.rows(`SELECT count() AS n FROM ${table} WHERE key IN (${victimKeys})`))[0]!.n) > 0;
  const first = produce(kafka, batch(0));
  await eventually(
    async () => (await written('events_seen')) && (await written('window_counts')),
    'the member to write events and windows',
    EVENT_MS,
  );
  await victim.stop('SIGKILL'); // mid-run: its tasks resume on the others from their checkpoints and replay
  await first;
  const survivors = [members[0]!, members[2]!];
  await eventually(
    () => survivors.reduce((n, m) => n + tasksOf(m).length, 0) === PARTITIONS,
    'the survivors to take every task',
    EVENT_MS,
  );
  await produce(kafka, [...batch(1), ...closing()]);

  const events = [...batch(0), ...batch(1), ...closing()];
  const expected = expectedCounts(events);
  await progresses(async () => (await windowCounts(ch)).length, expected.length, 'every window');
  await progresses(
    async () => Number((await ch.rows('SELECT count() AS n FROM events_seen_latest'))[0]!.n),
    events.length,
    'every event',
  );
  for (const m of survivors) assert.equal(await m.stop('SIGTERM'), 0, m.output());

  assert.deepEqual(await windowCounts(ch), expected);
  const [seen] = await ch.rows('SELECT count() AS n, uniqExact(value) AS distinct FROM events_seen_latest');
  assert.deepEqual(seen, { n: String(events.length), distinct: String(events.length) });
  const [raw] = await ch.rows('SELECT count() AS n FROM events_seen');
  const [rawCounts] = await ch.rows('SELECT count() AS n FROM window_counts');
  t.diagnostic(
    `${expected.length} windows, ${events.length} events; rows written twice by replays (merged by FINAL): ` +
      `${Number(raw!.n) - events.length} events`,
  );
  t.diagnostic(`window_counts holds ${rawCounts!.n} versions of ${expected.length} windows`);
  assert.ok(Number(raw!.n) > events.length, 'the replay wrote rows again (merges are off: the raw table keeps them)');
});
