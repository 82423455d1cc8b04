// The log sink's idempotent mode (a Kafka cluster cannot truncate; partition tasks share their output topics):
// after a crash the replay skips what the sink had already written, so every result is in the topic once, and a
// replay that computes something different is written and counted rather than silently dropped. And its deferred
// durability: with checkpoints on, appends do not wait for an fsync; each checkpoint flushes first.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it, mock } from 'node:test';
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

async function setup(deferredMs?: number): Promise<{ log: Log; cluster: PipelineLog; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sink-'));
  dirs.push(dir);
  const log = await openLog({ dataDir: path.join(dir, 'log'), fsync: { mode: 'batch', deferredMs } });
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

it('with checkpoints, appends wait for no fsync: a checkpoint flushes the topic before it records the end offsets', async () => {
  const { log, dir } = await setup(60_000); // deferred appends wait for the checkpoint's flush
  const seen: string[] = [];
  let appended = 0;
  const recording: PipelineLog = {
    ...withoutTruncate(log),
    supportsTruncate: true,
    truncate: (...a) => log.truncate(...a),
    append: (topic, partition, records, options) => {
      if (topic !== 'out') return log.append(topic, partition, records, options);
      seen.push(`append durable=${options?.durable !== false}`);
      return log.append(topic, partition, records, options).finally(() => {
        appended += records.length;
      });
    },
    flush: async (topic) => {
      await log.flush(topic);
      const ends = log.describeTopic(topic).partitions.map((p) => p.logEndOffset);
      seen.push(`flushed ${topic} to ${ends.join(',')}`);
    },
  };
  await feed(log, 0, 40);
  const fdatasync = mock.method(fs, 'fdatasync');
  try {
    const { pipeline } = build(recording, dir, (n) => n);
    const running = pipeline.run();
    await until(() => appended === 40, '40 outputs appended');
    const syncs = fdatasync.mock.callCount();
    assert.ok(seen.includes('append durable=false'));
    assert.ok(!seen.includes('append durable=true'));
    assert.deepEqual(outputs(log), [], 'acknowledged, not yet synced: not shown');
    await pipeline.checkpoint();
    assert.ok(fdatasync.mock.callCount() > syncs, 'the checkpoint synced the output');
    assert.equal(outputs(log).length, 40);
    const recorded = JSON.stringify(log.describeTopic('out').partitions.map((p) => p.logEndOffset)).replace(
      /[[\]]/g,
      '',
    );
    assert.equal(seen.at(-1), `flushed out to ${recorded}`, 'flushed, then recorded: nothing written in between');
    pipeline.stop();
    await running;
  } finally {
    fdatasync.mock.restore();
  }

  // Without checkpoints there is nothing to replay from: every append waits for its fsync.
  seen.length = 0;
  const plain = new Pipeline({ name: 'plain', bounded: true });
  plain
    .source(logSource({ log: recording, topic: 'in', format: json<number>() }))
    .sinkTo(logSink<number>({ log: recording, topic: 'out', format: json<number>() }));
  await plain.run();
  assert.ok(seen.length > 0 && seen.every((call) => call === 'append durable=true' || call.startsWith('flushed')));
});
