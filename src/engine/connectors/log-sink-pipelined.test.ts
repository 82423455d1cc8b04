// The log sink's pipelined appends (a log with `pipelinesAppends`, as a Kafka cluster): write() returns before the
// cluster acknowledges, but a checkpoint's barrier waits for every append in flight, and a failed append fails the
// next write, the barrier or the run — it is never lost.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { type AppendResult, type Log, type LogRecord, openLog } from '../../log/index.ts';
import type { PipelineLog } from '../define.ts';
import { json, type LogSinkConnector, logSink, logSource, Pipeline } from '../index.ts';
import { MAX_IN_FLIGHT_WRITES } from './log-sink.ts';

const dirs: string[] = [];
const logs: Log[] = [];
after(async () => {
  for (const log of logs) await log.close();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

interface Held {
  partition: number;
  records: readonly LogRecord[];
  acknowledge(): void;
  fail(error: Error): void;
}

/** The embedded log seen as a Kafka cluster whose appends this test acknowledges (or fails) by hand. */
async function setup(): Promise<{ log: Log; cluster: PipelineLog; held: Held[]; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-pipelined-'));
  dirs.push(dir);
  const log = await openLog({ dataDir: path.join(dir, 'log') });
  logs.push(log);
  await log.createTopic('in', { partitions: 1 });
  await log.createTopic('out', { partitions: 1 });
  const held: Held[] = [];
  const cluster: PipelineLog = {
    supportsTruncate: false,
    pipelinesAppends: true,
    hasTopic: (...a) => log.hasTopic(...a),
    createTopic: (...a) => log.createTopic(...a),
    describeTopic: (...a) => log.describeTopic(...a),
    append: (topic, partition, records, options) => {
      if (topic !== 'out') return log.append(topic, partition, records, options);
      return new Promise<AppendResult>((resolve, reject) => {
        held.push({
          partition,
          records,
          acknowledge: () => log.append(topic, partition, records).then(resolve, reject),
          fail: reject,
        });
      });
    },
    truncate: () => Promise.reject(new Error('a cluster cannot truncate')),
    waitForData: (...a) => log.waitForData(...a),
    readRecords: (...a) => log.readRecords(...a),
    offsetForTimestamp: (...a) => log.offsetForTimestamp(...a),
  };
  return { log, cluster, held, dir };
}

function sinkOn(cluster: PipelineLog): LogSinkConnector<number> {
  const sink = logSink<number>({ log: cluster, topic: 'out', format: json<number>() });
  sink.setWriter('w', { shared: false });
  return sink;
}

const batch = (...values: number[]) => ({ values, timestamps: values.map(() => 0) });

async function settles(promise: Promise<unknown>, ms = 50): Promise<boolean> {
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), ms));
  return Promise.race([promise.then(() => true), timeout]);
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

it('writes without awaiting the acknowledgement; the barrier waits for every append in flight', async () => {
  const { log, cluster, held } = await setup();
  const sink = sinkOn(cluster);
  await sink.open();
  await sink.recover(undefined);
  await sink.write(batch(1, 2));
  await sink.write(batch(3));
  assert.equal(held.length, 2, 'both appends in flight, neither acknowledged');
  const prepared = sink.prepareCheckpoint(1);
  assert.equal(await settles(prepared), false, 'the barrier waits for the appends in flight');
  held[0]!.acknowledge();
  assert.equal(await settles(prepared), false, 'and for the last of them');
  held[1]!.acknowledge();
  const checkpoint = (await prepared) as { endOffsets: number[] };
  assert.deepEqual(checkpoint.endOffsets, [3], 'the checkpoint records what the cluster acknowledged');
  assert.equal(log.describeTopic('out').partitions[0]!.logEndOffset, 3);
  await sink.close();
});

it('holds write() back once too many writes are in flight (backpressure)', async () => {
  const { cluster, held } = await setup();
  const sink = sinkOn(cluster);
  await sink.open();
  await sink.recover(undefined);
  for (let i = 0; i < MAX_IN_FLIGHT_WRITES; i++) await sink.write(batch(i));
  const over = sink.write(batch(-1));
  assert.equal(await settles(over), false, 'one write too many waits');
  held[0]!.acknowledge();
  await over;
  for (const h of held.slice(1)) h.acknowledge();
  await sink.flush();
  await sink.close();
});

it('a failed append fails the next write, and the barrier', async () => {
  const { cluster, held } = await setup();
  const sink = sinkOn(cluster);
  await sink.open();
  await sink.recover(undefined);
  await sink.write(batch(1));
  held[0]!.fail(new Error('NOT_ENOUGH_REPLICAS'));
  await new Promise((resolve) => setImmediate(resolve));
  await assert.rejects(sink.write(batch(2)), /NOT_ENOUGH_REPLICAS/);
  await assert.rejects(sink.prepareCheckpoint(1), /NOT_ENOUGH_REPLICAS/);
  await assert.rejects(sink.flush(), /NOT_ENOUGH_REPLICAS/);
  await sink.close(); // already reported
});

it('a failed append no call reported fails the close', async () => {
  const { cluster, held } = await setup();
  const sink = sinkOn(cluster);
  await sink.open();
  await sink.recover(undefined);
  await sink.write(batch(1));
  const closing = sink.close();
  held[0]!.fail(new Error('broker gone'));
  await assert.rejects(closing, /broker gone/);
});

it('in a pipeline, a checkpoint waits for the appends in flight and fails with a failed one', async () => {
  const { log, cluster, held, dir } = await setup();
  await log.append(
    'in',
    0,
    [1, 2, 3].map((n) => ({ key: null, value: Buffer.from(String(n)) })),
  );
  const p = new Pipeline({ name: 'pipelined' });
  p.source(logSource({ log: cluster, topic: 'in', format: json<number>() })).sinkTo(
    logSink<number>({ log: cluster, topic: 'out', format: json<number>() }),
  );
  p.enableCheckpoints({ dir: path.join(dir, 'checkpoints'), intervalMs: 0 });
  const running = p.run();
  running.catch(() => {});
  await until(() => held.length >= 1, 'an append in flight');
  const checkpoint = p.checkpoint();
  checkpoint.catch(() => {});
  assert.equal(await settles(checkpoint, 100), false, 'the checkpoint waits for the unacknowledged append');
  for (const h of held) h.fail(new Error('produce failed: fenced'));
  await assert.rejects(checkpoint, /fenced/);
  p.stop();
  await assert.rejects(running, /fenced/);
});
