// The log sink on a log with transactions (the embedded log): each checkpoint epoch's output is one transaction,
// prepared at the barrier and committed once the checkpoint is durable. A read_committed reader sees an epoch only
// then, never one a crash takes back; the replay after a crash writes the aborted epoch's records again, once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { type IsolationLevel, type Log, openLog } from '../../log/index.ts';
import { json, type LogSinkConnector, logSink, logSource, Pipeline } from '../index.ts';

const dirs: string[] = [];
const logs: Log[] = [];
after(async () => {
  for (const log of logs) await log.close();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function setup(): Promise<{ log: Log; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-txn-sink-'));
  dirs.push(dir);
  const log = await openLog({ dataDir: path.join(dir, 'log') });
  logs.push(log);
  await log.createTopic('in', { partitions: 1 });
  await log.createTopic('out', { partitions: 2 });
  return { log, dir };
}

async function feed(log: Log, from: number, to: number): Promise<void> {
  const records = [];
  for (let i = from; i < to; i++) records.push({ key: Buffer.from(`k${i % 5}`), value: Buffer.from(String(i)) });
  await log.append('in', 0, records);
}

function outputs(log: Log, isolation: IsolationLevel): number[] {
  const values: number[] = [];
  for (const { partition } of log.describeTopic('out').partitions) {
    for (const r of log.readRecords('out', partition, 0, { maxBytes: 1 << 24, isolation }).records) {
      values.push(Number(r.value!.toString()));
    }
  }
  return values.sort((a, b) => a - b);
}

function build(log: Log, dir: string, guarantee?: 'at-least-once') {
  const sink = logSink<number>({ log, topic: 'out', format: json<number>(), key: (n) => `k${n % 5}`, guarantee });
  const p = new Pipeline({ name: 'copy' });
  p.source(logSource({ log, topic: 'in', format: json<number>() })).sinkTo(sink);
  p.enableCheckpoints({ dir: path.join(dir, 'checkpoints'), intervalMs: 0 });
  return { pipeline: p, sink: sink as LogSinkConnector<number> };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; !condition(); i++) {
    if (i > 20_000) throw new Error(`never saw ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

it('shows an epoch to read_committed readers when its checkpoint completes, and never one a crash takes back', async () => {
  const { log, dir } = await setup();
  await feed(log, 0, 40);
  const first = build(log, dir);
  const running = first.pipeline.run();
  await until(() => outputs(log, 'read_uncommitted').length === 40, '40 written');
  assert.equal(first.sink.writesTransactions, true);
  assert.deepEqual(outputs(log, 'read_committed'), [], 'not before the checkpoint commits');
  await first.pipeline.checkpoint();
  assert.deepEqual(outputs(log, 'read_committed'), range(0, 40));

  await feed(log, 40, 100);
  await until(() => outputs(log, 'read_uncommitted').length === 100, '100 written');
  first.pipeline.stop({ checkpoint: false }); // a crash, as far as recovery can tell: 60 writes after the checkpoint
  await running;
  assert.deepEqual(outputs(log, 'read_committed'), range(0, 40), 'the 60 stay invisible');

  const second = build(log, dir);
  const again = second.pipeline.run();
  await feed(log, 100, 120);
  await until(() => outputs(log, 'read_uncommitted').length === 100 + 80, 'the replay and 20 more');
  await second.pipeline.checkpoint();
  second.pipeline.stop();
  await again;
  assert.deepEqual(outputs(log, 'read_committed'), range(0, 120), 'each result once');
  for (const { lastStableOffset, logEndOffset } of log.describeTopic('out').partitions) {
    assert.equal(lastStableOffset, logEndOffset, 'nothing left open');
  }
});

it('commits what a checkpoint prepared when a crash came between the checkpoint and the commit', async () => {
  const { log, dir } = await setup();
  await feed(log, 0, 30);
  const first = build(log, dir);
  const running = first.pipeline.run();
  await until(() => outputs(log, 'read_uncommitted').length === 30, '30 written');
  // The checkpoint is durable, but the process dies before its sinks commit.
  first.sink.commitCheckpoint = async () => {
    throw new Error('crashed before the commit');
  };
  await first.pipeline.checkpoint().catch(() => {});
  first.pipeline.stop({ checkpoint: false });
  await running.catch(() => {});
  assert.deepEqual(outputs(log, 'read_committed'), []);

  const second = build(log, dir);
  const again = second.pipeline.run();
  await until(() => outputs(log, 'read_committed').length === 30, 'the prepared epoch committed on recovery');
  second.pipeline.stop();
  await again;
  assert.deepEqual(outputs(log, 'read_committed'), range(0, 30), 'committed once, not replayed');
});

it('writes records visible at once in at-least-once mode', async () => {
  const { log, dir } = await setup();
  await feed(log, 0, 10);
  const { pipeline, sink } = build(log, dir, 'at-least-once');
  const running = pipeline.run();
  await until(() => outputs(log, 'read_committed').length === 10, '10 committed without a checkpoint');
  assert.equal(sink.writesTransactions, false);
  pipeline.stop();
  await running;
});
