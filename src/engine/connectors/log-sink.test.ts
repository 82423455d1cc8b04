// The log sink's idempotent mode (a Kafka cluster cannot truncate; partition tasks share their output topics):
// after a crash the replay skips what the sink had already written, so every result is in the topic once, and a
// replay that computes something different is written and counted rather than silently dropped.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { type Log, openLog } from '../../log/index.ts';
import type { PipelineLog } from '../define.ts';
import { json, type LogSinkConnector, logSink, logSource, Pipeline } from '../index.ts';

const dirs: string[] = [];
const logs: Log[] = [];
after(async () => {
  for (const log of logs) await log.close();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** The embedded log seen as a Kafka cluster: everything but truncation. */
function withoutTruncate(log: Log): PipelineLog {
  return {
    supportsTruncate: false,
    hasTopic: (...a) => log.hasTopic(...a),
    createTopic: (...a) => log.createTopic(...a),
    describeTopic: (...a) => log.describeTopic(...a),
    append: (...a) => log.append(...a),
    truncate: () => Promise.reject(new Error('a cluster cannot truncate')),
    waitForData: (...a) => log.waitForData(...a),
    readRecords: (...a) => log.readRecords(...a),
    offsetForTimestamp: (...a) => log.offsetForTimestamp(...a),
  };
}

async function setup(): Promise<{ log: Log; cluster: PipelineLog; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sink-'));
  dirs.push(dir);
  const log = await openLog({ dataDir: path.join(dir, 'log') });
  logs.push(log);
  await log.createTopic('in', { partitions: 1 });
  await log.createTopic('out', { partitions: 2 });
  return { log, cluster: withoutTruncate(log), dir };
}

async function feed(log: Log, from: number, to: number): Promise<void> {
  const records = [];
  for (let i = from; i < to; i++) records.push({ key: Buffer.from(`k${i % 5}`), value: Buffer.from(String(i)) });
  await log.append('in', 0, records);
}

function outputs(log: Log): number[] {
  const values: number[] = [];
  for (const { partition, logEndOffset } of log.describeTopic('out').partitions) {
    for (const r of log.readRecords('out', partition, 0, { maxBytes: 1 << 24 }).records) {
      if (r.offset < logEndOffset) values.push(Number(r.value!.toString()));
    }
  }
  return values.sort((a, b) => a - b);
}

function build(cluster: PipelineLog, dir: string, transform: (n: number) => number) {
  const sink = logSink<number>({ log: cluster, topic: 'out', format: json<number>(), key: (n) => `k${n % 5}` });
  const p = new Pipeline({ name: 'copy' });
  p.source(logSource({ log: cluster, topic: 'in', format: json<number>() }))
    .map(transform)
    .sinkTo(sink);
  p.enableCheckpoints({ dir: path.join(dir, 'checkpoints'), intervalMs: 0 });
  return { pipeline: p, sink: sink as LogSinkConnector<number> };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

it('skips on replay what it wrote after the last checkpoint, so each result is in the topic once', async () => {
  const { log, cluster, dir } = await setup();
  await feed(log, 0, 40);
  const first = build(cluster, dir, (n) => n);
  const running = first.pipeline.run();
  await until(() => outputs(log).length === 40, '40 outputs');
  await first.pipeline.checkpoint();
  await feed(log, 40, 100);
  await until(() => outputs(log).length === 100, '100 outputs');
  first.pipeline.stop({ checkpoint: false }); // a crash, as far as recovery can tell: 60 writes after the checkpoint
  await running;

  const second = build(cluster, dir, (n) => n);
  const again = second.pipeline.run();
  await feed(log, 100, 120);
  await until(() => outputs(log).length >= 120, '120 outputs');
  second.pipeline.stop();
  await again;
  assert.deepEqual(
    outputs(log),
    Array.from({ length: 120 }, (_, i) => i),
  );
  assert.equal(second.sink.skipped, 60);
  assert.equal(second.sink.divergences, 0);
  for (const { partition } of log.describeTopic('out').partitions) {
    for (const r of log.readRecords('out', partition, 0).records) {
      assert.deepEqual(
        r.headers.map((h) => h.key),
        ['sluice.writer', 'sluice.seq'],
      );
      assert.equal(r.headers[0]!.value!.toString(), 'copy');
    }
  }
});

it('writes and counts a replayed result that differs from what was written before the crash', async () => {
  const { log, cluster, dir } = await setup();
  await feed(log, 0, 10);
  const first = build(cluster, dir, (n) => n);
  const running = first.pipeline.run();
  await until(() => outputs(log).length === 10, '10 outputs');
  first.pipeline.stop({ checkpoint: false });
  await running;

  const second = build(cluster, dir, (n) => n + 1000); // the code changed: the replay computes other results
  const again = second.pipeline.run();
  await until(() => outputs(log).length === 20, '20 outputs');
  second.pipeline.stop();
  await again;
  assert.equal(second.sink.divergences, 10);
  assert.equal(second.sink.skipped, 0);
});
