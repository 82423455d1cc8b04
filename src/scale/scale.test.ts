// Tasks over an embedded log, with membership through the broker's group protocol: partitions split between
// members, move when one leaves, and the results equal one process's, each window once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { buildWindowedCounts, type Event, type WindowTotal } from '../../examples/windowed-counts.ts';
import { startBroker } from '../kafka/index.ts';
import { type Log, openLog, partitionForKey } from '../log/index.ts';
import { createLogger } from '../logger.ts';
import { joinTaskGroup } from './group.ts';
import { TaskLease } from './lease.ts';
import { TaskRunner } from './task-runner.ts';

const PARTITIONS = 6;

async function produce(log: Log, events: Event[]): Promise<void> {
  const byPartition = new Map<number, Event[]>();
  for (const e of events) {
    const p = partitionForKey(Buffer.from(e.key), PARTITIONS);
    byPartition.set(p, [...(byPartition.get(p) ?? []), e]);
  }
  for (const [p, list] of byPartition) {
    await log.append(
      'events',
      p,
      list.map((e) => ({ key: Buffer.from(e.key), value: Buffer.from(JSON.stringify(e)), timestamp: e.ts })),
    );
  }
}

function events(from: number, count: number): Event[] {
  const out: Event[] = [];
  for (let i = from; i < from + count; i++) out.push({ key: `k${i % 17}`, ts: 1_000_000 + i * 1000, value: i % 7 });
  return out;
}

async function totals(log: Log): Promise<string[]> {
  const rows: string[] = [];
  for (const { partition, logEndOffset } of log.describeTopic('window-totals').partitions) {
    let offset = 0;
    while (offset < logEndOffset) {
      const page = log.readRecords('window-totals', partition, offset);
      for (const r of page.records) {
        const t = JSON.parse(r.value!.toString()) as WindowTotal;
        rows.push(`${t.window_start} ${t.key} ${t.cnt} ${t.total} ${t.kind}`);
      }
      offset = page.nextOffset;
    }
  }
  return rows.sort();
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('lease: a second claimant waits until the first lets go', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-lease-'));
  const a = new TaskLease(dir);
  const b = new TaskLease(dir);
  await a.acquire(new AbortController().signal, () => {});
  assert.equal(a.holder()?.owner, a.owner);
  let bHas = false;
  const waiting = b.acquire(AbortSignal.timeout(5000), () => {}).then(() => (bHas = true));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(bHas, false, 'b must wait while a holds the lease');
  await a.release();
  await waiting;
  assert.equal(b.holder()?.owner, b.owner);
  await b.release();
  assert.equal(fs.existsSync(b.file), false);
});

test('lease: a renewal being written as the owner lets go does not bring the lease back', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-lease-'));
  for (let i = 0; i < 5; i++) {
    const lease = new TaskLease(dir, { leaseMs: 150 }); // renewed every 50 ms
    await lease.acquire(new AbortController().signal, () => {});
    // Due with the renewal timer and set after it, so it runs as the renewal's write has just begun.
    await new Promise((r) => setTimeout(r, 50));
    await lease.release();
    await new Promise((r) => setTimeout(r, 100));
    // Back, it would hold off the next owner for leaseMs (in this process, whose pid is alive: always).
    assert.equal(fs.existsSync(lease.file), false, `lease ${i} let go`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a task unassigned while it waits for its lease leaves the runner; assigned again, it starts', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-runner-'));
  const dir = path.join(root, 'p', 'tasks', 'p0000');
  fs.mkdirSync(dir, { recursive: true });
  const previous = new TaskLease(dir);
  await previous.acquire(new AbortController().signal, () => {});
  let builds = 0;
  const runner = new TaskRunner({
    define: () => {
      builds++;
      return Promise.reject(new Error('no pipeline here: the test only looks at when the task starts'));
    },
    pipeline: 'p',
    checkpointRoot: root,
    intervalMs: 0,
    logger: createLogger('test'),
  });
  await runner.assign([0]);
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(builds, 0, 'the task waits for the previous owner to let go');
  await runner.assign([]);
  assert.deepEqual(runner.partitions(), [], 'the task waiting for its lease is gone');
  await runner.built();
  await previous.release();
  await runner.assign([0]);
  await until(() => builds === 1, 'the task assigned again to start');
  await runner.close();
  fs.rmSync(root, { recursive: true, force: true });
});

test('two members split the partitions; when one leaves the other takes its tasks; results equal one run', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-scale-'));
  const log = await openLog({ dataDir: path.join(dir, 'log') });
  const broker = await startBroker({ log, port: 0, initialRebalanceDelayMs: 50 });
  t.after(async () => {
    await broker.close();
    await log.close();
  });
  await log.createTopic('events', { partitions: PARTITIONS });
  await log.createTopic('window-totals', { partitions: 2 });
  const logger = createLogger('scale-test');
  const runner = (name: string) =>
    new TaskRunner({
      define: () => buildWindowedCounts({ log, bounded: false, dataDir: dir }),
      pipeline: 'windowed-counts',
      checkpointRoot: path.join(dir, 'checkpoints'),
      intervalMs: 200,
      logger: logger.child({ member: name }),
    });
  const a = runner('a');
  const b = runner('b');
  const join = (r: TaskRunner) =>
    joinTaskGroup({
      bootstrap: broker.address,
      group: 'windowed-counts',
      topics: ['events'],
      onAssign: (ps) => void r.assign(ps),
      sessionTimeoutMs: 2000,
      logger,
    });
  const groupA = await join(a);
  await until(() => a.partitions().length === PARTITIONS, 'a to own every partition');
  await produce(log, events(0, 300));
  const groupB = await join(b);
  await until(
    () => a.partitions().length === PARTITIONS / 2 && b.partitions().length === PARTITIONS / 2,
    'the partitions to split',
  );
  await produce(log, events(300, 300));
  await groupB.leave();
  await b.close();
  await until(() => a.partitions().length === PARTITIONS, 'a to take every partition back');
  await produce(log, events(600, 300));
  // Far-future events in every partition close every earlier window.
  await produce(
    log,
    Array.from({ length: 17 }, (_, i) => ({ key: `k${i}`, ts: 5_000_000, value: 0 })),
  );
  const expected = await (async () => {
    const single = await openLog({ dataDir: path.join(dir, 'single') });
    await single.createTopic('events', { partitions: PARTITIONS });
    await single.createTopic('window-totals', { partitions: 2 });
    await produce(single, [
      ...events(0, 900),
      ...Array.from({ length: 17 }, (_, i) => ({ key: `k${i}`, ts: 5_000_000, value: 0 })),
    ]);
    const p = await buildWindowedCounts({ log: single, bounded: true, dataDir: dir });
    await p.run();
    const rows = (await totals(single)).filter((r) => !r.startsWith('4980000'));
    await single.close();
    return rows;
  })();
  const windowsBefore = (r: string) => Number(r.split(' ')[0]) < 4_980_000;
  await until(
    async () => (await totals(log)).filter(windowsBefore).length >= expected.filter(windowsBefore).length,
    'every window',
  );
  await groupA.leave();
  await a.close();
  assert.deepEqual((await totals(log)).filter(windowsBefore), expected.filter(windowsBefore));
});
