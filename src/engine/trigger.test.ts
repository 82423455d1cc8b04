// The micro-batch trigger: records appended between ticks wait for the next tick (read together, not as they come),
// a checkpoint per batch commits the exactly-once log sink's transaction, and the results equal continuous
// processing's.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Log, openLog } from '../log/index.ts';
import { setLogLevel } from '../logger.ts';
import { json } from './connectors/formats.ts';
import { logSink } from './connectors/log-sink.ts';
import { logSource } from './connectors/log-source.ts';
import { collect } from './connectors/memory.ts';
import { agg } from './index.ts';
import { Pipeline } from './pipeline.ts';
import { applyTrigger } from './trigger.ts';
import { watermarks } from './watermarks.ts';
import { windows } from './windows.ts';

interface Click {
  user: string;
  ts: number;
}

let dir: string;
let log: Log;
let topics = 0;

before(async () => {
  setLogLevel('warn');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-trigger-'));
  log = await openLog({ dataDir: path.join(dir, 'log'), fsync: { mode: 'none' } });
});
after(async () => {
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh topic of 2 partitions. */
async function topic(): Promise<string> {
  const name = `clicks-${++topics}`;
  await log.createTopic(name, { partitions: 2 });
  return name;
}

/** Appends clicks `from`..`to`-1: user u<i mod 5>, one per 100 ms of event time, by user to partitions. */
async function append(name: string, from: number, to: number): Promise<void> {
  for (let p = 0; p < 2; p++) {
    const records = [];
    for (let i = from; i < to; i++) {
      if (i % 5 < 3 === (p === 0)) {
        records.push({
          key: null,
          value: Buffer.from(JSON.stringify({ user: `u${i % 5}`, ts: i * 100 })),
          timestamp: 0,
        });
      }
    }
    if (records.length > 0) await log.append(name, p, records);
  }
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

describe('micro-batch trigger', () => {
  it('reads at ticks: records appended between them wait for the next one, read as one batch', async () => {
    const name = await topic();
    await append(name, 0, 100);
    const p = new Pipeline({ name: 'mb-ticks' });
    const arrivals: number[] = [];
    const sink = collect<Click>();
    p.source(logSource({ log, topic: name, format: json<Click>() }))
      .map((c) => {
        arrivals.push(performance.now());
        return c;
      })
      .sinkTo(sink);
    const trigger = applyTrigger(p, { interval: '500ms' });
    const running = p.run();
    await until(() => sink.values.length === 100); // the first batch: at once
    await append(name, 100, 150);
    await until(() => sink.values.length === 150);
    // Continuous processing would have read them within milliseconds of the append; here they wait for the tick
    // 500 ms after the first (which came just before the first batch was read), and arrive together.
    const apart = arrivals[100]! - arrivals[0]!;
    assert.ok(apart > 350, `the second batch was read ${apart.toFixed(0)} ms after the first`);
    assert.ok(arrivals[149]! - arrivals[100]! < 100, 'read as one batch');
    await until(() => trigger.stats.batches === 2);
    assert.equal(trigger.stats.records, 150);
    p.stop();
    await running;
  });

  it('takes a checkpoint per batch: the exactly-once log sink commits at its end', async () => {
    const name = await topic();
    await append(name, 0, 40);
    const p = new Pipeline({ name: 'mb-commit' });
    p.source(logSource({ log, topic: name, format: json<Click>() })).sinkTo(
      logSink({ log, topic: `${name}-out`, format: json<Click>(), createPartitions: 1 }),
    );
    p.enableCheckpoints({ dir: path.join(dir, 'ckpt-commit'), intervalMs: 0 });
    const trigger = applyTrigger(p, { interval: '100ms', checkpoint: true });
    const running = p.run();
    const committed = () =>
      log.readRecords(`${name}-out`, 0, 0, { isolation: 'read_committed', maxBytes: 1 << 20 }).records.length;
    await until(() => trigger.stats.batches === 1);
    assert.equal(committed(), 40);
    const before = p.metrics().checkpoints.completed;
    await append(name, 40, 60);
    await until(() => trigger.stats.batches === 2);
    assert.equal(committed(), 60);
    assert.equal(p.metrics().checkpoints.completed, before + 1);
    p.stop();
    await running;
  });

  it('gives the results of continuous processing', async () => {
    // The same input both times, appended in rounds while the pipeline runs (batches then cut between them).
    const counts = async (trigger: boolean) => {
      const name = await topic();
      await append(name, 0, 150);
      const p = new Pipeline({ name: `mb-equal-${trigger}` });
      const sink = collect<unknown>();
      const source = logSource({ log, topic: name, format: json<Click>(), idleTimeout: false });
      p.source(source)
        .withTimestamps((c) => c.ts, watermarks.boundedOutOfOrderness('1s'))
        .keyBy((c) => c.user)
        .window(windows.tumbling('2s'))
        .aggregate(agg.count<Click>())
        .sinkTo(sink);
      if (trigger) applyTrigger(p, { interval: '50ms' });
      const running = p.run();
      const read = () => source.position().reduce((a, b) => a + b, 0);
      const total = () => log.describeTopic(name).partitions.reduce((n, x) => n + x.logEndOffset, 0);
      for (const [from, to] of [
        [150, 220],
        [220, 300],
      ] as const) {
        await until(() => read() === total());
        await append(name, from, to);
      }
      await until(() => read() === total());
      p.stop();
      await running;
      return sink.values.map((v) => JSON.stringify(v)).sort();
    };
    const continuous = await counts(false);
    const microBatches = await counts(true);
    assert.ok(continuous.length > 20);
    assert.deepEqual(microBatches, continuous);
  });
});
