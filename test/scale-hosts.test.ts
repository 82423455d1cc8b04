// Scale-out across hosts that share nothing but a Kafka-protocol cluster: every member is a process with a data
// directory of its own, started with `--checkpoint-store log`, so that task checkpoints and leases travel through
// the `<pipeline>-checkpoints` topic of one `sluice broker` process. Two members, then four (two added: tasks
// move), one SIGKILLed mid-run (its tasks resume elsewhere from checkpoints in the log), then down to one (two stop
// gracefully), a savepoint taken through the cluster and two fresh hosts started from it: every window total
// exactly once and equal to one process's.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import type { Event } from '../examples/windowed-counts.ts';
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
import { EVENT_MS, scaleTestResources, startClusterBroker, startMember, tasksOf } from './helpers/scale.ts';

const resources = scaleTestResources('sluice-hosts-');
const { tempDir } = resources;

/** Events of `batch` n (test/fixtures/windowed-counts-scale.ts). */
const batch = (n: number) => batchOf(n, 1500, 400);
const reference = (events: Event[]) => referenceOf(events, tempDir());

/** Files under `dir`, relative. */
function filesUnder(dir: string): string[] {
  return fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).map((f) => path.join(dir, f)) : [];
}

it('hosts sharing only a broker: 2 → 4, one SIGKILLed, → 1, savepoint → 2; each window once, as one process', async () => {
  const { bootstrap, kafka } = await startClusterBroker(resources, [
    { topic: 'events', numPartitions: PARTITIONS },
    { topic: 'window-totals', numPartitions: 4 },
    { topic: 'events-late', numPartitions: 1 },
  ]);
  /** A "host": a member process with a data directory of its own, sharing nothing but the broker. */
  const hosts: string[] = [];
  const host = (extra: string[] = []) => {
    const dataDir = tempDir();
    hosts.push(dataDir);
    return startMember(resources, {
      pipeline: PIPELINE,
      bootstrap,
      group: 'wc',
      dataDir,
      extra: ['--checkpoint-store', 'log', ...extra],
    });
  };
  const count = (members: ReturnType<typeof host>[]) => members.reduce((n, m) => n + tasksOf(m).length, 0);

  const [a, b] = [host(), host()];
  await eventually(() => tasksOf(a).length === 6 && tasksOf(b).length === 6, 'two hosts with six tasks each', EVENT_MS);
  await produce(kafka, batch(0));
  await eventually(async () => (await totals(kafka)).length > 0, 'first windows', EVENT_MS);

  // Two hosts added: half of each one's tasks move to them, through checkpoints and leases in the log.
  const [c, d] = [host(), host()];
  await eventually(
    () => [a, b, c, d].every((m) => tasksOf(m).length === 3),
    'four hosts with three tasks each',
    EVENT_MS,
  );
  await produce(kafka, batch(1));
  await progresses(async () => (await totals(kafka)).length, 1, 'windows of the second batch'); // a task has output
  await b.stop('SIGKILL'); // mid-run: its leases expire, its tasks resume elsewhere from their last checkpoints
  await eventually(() => count([a, c, d]) === PARTITIONS, 'the survivors to take every task', EVENT_MS);
  await produce(kafka, batch(2));

  // Down to one: the others hand their tasks over with a last checkpoint each.
  assert.equal(await c.stop('SIGTERM'), 0, c.output());
  assert.equal(await d.stop('SIGTERM'), 0, d.output());
  await eventually(() => tasksOf(a).length === PARTITIONS, 'the last host to run every task', EVENT_MS);
  await produce(kafka, batch(3));

  // A savepoint asked for through the cluster, then two fresh hosts started from it.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const taken = await sluice(['savepoint', 'windowed-counts', '--name', 's1', '--bootstrap', bootstrap]);
  assert.equal(taken.code, 0, taken.stderr);
  assert.match(taken.stdout.toString(), /s1 written to the log \(12 tasks\)/);
  assert.equal(await a.stop('SIGTERM'), 0, a.output());
  const [e, f] = [host(['--from-savepoint', 's1']), host(['--from-savepoint', 's1'])];
  await eventually(() => tasksOf(e).length === 6 && tasksOf(f).length === 6, 'two hosts from the savepoint', EVENT_MS);
  await produce(kafka, closing());
  const expected = await reference([...batch(0), ...batch(1), ...batch(2), ...batch(3), ...closing()]);
  await progresses(async () => (await totals(kafka)).filter(beforeClosing).length, expected.length, 'every window');
  await new Promise((resolve) => setTimeout(resolve, 500)); // anything extra would be a duplicate: let it show
  assert.deepEqual((await totals(kafka)).filter(beforeClosing), expected);
  for (const m of [e, f]) assert.equal(await m.stop('SIGTERM'), 0, m.output());

  // Nothing went through the hosts' directories: no checkpoint or lease file in any of them.
  for (const dir of hosts) {
    const kept = filesUnder(path.join(dir, 'checkpoints')).filter((f) => /\.ckpt$|LEASE$/.test(f));
    assert.deepEqual(kept, [], `host ${dir} kept checkpoint files`);
  }
  // They went through the log instead: one partition of the checkpoint topic per task, each written to.
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets('windowed-counts-checkpoints');
  await admin.disconnect();
  assert.equal(offsets.length, PARTITIONS);
  for (const p of offsets) assert.ok(Number(p.high) > 0, `task ${p.partition} wrote no checkpoint to the log`);
});
