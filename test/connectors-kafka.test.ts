// Pipelines against a Kafka cluster (here `sluice broker` in its own process, fed by Debian's kcat): kafkaSource
// reading every record once in order, and `sluice run --bootstrap` stopping and resuming without duplicates.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectKafkaLog, kafkaSource } from '../src/connectors/index.ts';
import { collect, type DeadLetter, json, Pipeline } from '../src/engine/index.ts';
import { type Daemon, installed, run, sluice, startSluice } from '../support/processes.ts';
import { eventually } from './helpers/broker.ts';

const hasKcat = installed('kcat');
let dataDir: string;
let broker: Daemon;
let bootstrap: string;

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-connectors-'));
  broker = startSluice(['broker', '--data-dir', path.join(dataDir, 'broker'), '--kafka-port', '0']);
  bootstrap = (await broker.waitFor(/Kafka protocol on (\S+),/))[1]!;
});
after(async () => {
  await broker.stop('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function createTopic(name: string, partitions: number): Promise<void> {
  const created = await sluice(['topics', 'create', name, '-p', String(partitions), '--bootstrap', bootstrap]);
  assert.equal(created.code, 0, created.stderr);
}

/** Produces `key:value` lines to one partition with kcat, acks=all, with the given headers on every record. */
async function kcatProduce(topic: string, partition: number, lines: string[], headers: string[] = []): Promise<void> {
  const args = ['-b', bootstrap, '-t', topic, '-P', '-K', ':', '-p', String(partition), '-X', 'acks=all'];
  for (const h of headers) args.push('-H', h);
  const produced = await run('kcat', args, `${lines.join('\n')}\n`);
  assert.equal(produced.code, 0, produced.stderr);
}

async function kcatConsume(topic: string): Promise<string[]> {
  const consumed = await run('kcat', ['-b', bootstrap, '-t', topic, '-C', '-o', 'beginning', '-e', '-q']);
  assert.equal(consumed.code, 0, consumed.stderr);
  return consumed.stdout
    .toString()
    .split('\n')
    .filter((line) => line.length > 0);
}

interface Click {
  p: number;
  i: number;
}

describe('pipelines against a Kafka cluster', { skip: !hasKcat && 'kcat is not installed', timeout: 120_000 }, () => {
  it('kafkaSource reads every record once, in order per partition; a bad record is a dead letter', async () => {
    await createTopic('clicks', 3);
    const perPartition = 500;
    for (let p = 0; p < 3; p++) {
      const lines = Array.from({ length: perPartition }, (_, i) => `k${i}:${JSON.stringify({ p, i })}`);
      if (p === 1) lines.splice(100, 0, 'bad:{not json');
      await kcatProduce('clicks', p, lines, ['source=kcat', `partition=${p}`]);
    }

    const pipeline = new Pipeline({ name: 'read-clicks', bounded: true });
    const clicks = collect<Click>();
    const dead = collect<DeadLetter>();
    pipeline.source(kafkaSource({ bootstrap, topic: 'clicks', format: json<Click>() })).sinkTo(clicks);
    pipeline.deadLetters().sinkTo(dead);
    await pipeline.run();

    for (let p = 0; p < 3; p++) {
      const got = clicks.values.filter((c) => c.p === p).map((c) => c.i);
      assert.deepEqual(
        got,
        Array.from({ length: perPartition }, (_, i) => i),
        `partition ${p}`,
      );
    }
    assert.equal(clicks.values.length, 3 * perPartition);
    assert.equal(dead.values.length, 1);
    assert.match(dead.values[0]!.error, /clicks\/1@100/);
    assert.equal(Buffer.from(dead.values[0]!.original as Uint8Array).toString(), '{not json');

    // Keys and headers as kcat wrote them, read through the same client.
    const log = await connectKafkaLog({ bootstrap });
    try {
      const page = await log.readRecords('clicks', 2, 0, { maxBytes: 4096 });
      const first = page.records[0]!;
      assert.equal(first.key?.toString(), 'k0');
      assert.deepEqual(
        first.headers.map((h) => `${h.key}=${h.value?.toString()}`),
        ['source=kcat', 'partition=2'],
      );
    } finally {
      await log.close();
    }
  });

  it('`sluice run --bootstrap` stops gracefully and resumes: each window once, counts right', async () => {
    const runDir = path.join(dataDir, 'run');
    const start = async () => {
      const runner = startSluice([
        'run',
        'examples/windowed-counts.ts',
        '--bootstrap',
        bootstrap,
        '--data-dir',
        runDir,
        '--http-port',
        '0',
        // Windows reach read_committed readers (kcat's default) with each checkpoint's transaction commit.
        '--checkpoint-interval',
        '1s',
      ]);
      await runner.waitFor(/pipeline windowed-counts .*Kafka cluster at/);
      return runner;
    };
    const event = (key: string, ts: number, value: number) => `${key}:${JSON.stringify({ key, ts, value })}`;
    /** Moves every partition's watermark to `ts - 5 s` (windowed-counts allows 5 s of disorder). */
    const advance = async (ts: number) => {
      for (let p = 0; p < 3; p++) await kcatProduce('events', p, [event('tick', ts, 0)]);
    };
    const totals = async () =>
      (await kcatConsume('window-totals')).map(
        (line) => JSON.parse(line) as { window_start: number; key: string; cnt: number; total: number },
      );

    let runner = await start();
    await kcatProduce('events', 0, [event('a', 1_000, 1), event('a', 2_000, 2), event('b', 3_000, 5)]);
    await advance(70_000);
    await eventually(async () => (await totals()).length >= 2, 'the first window');
    assert.equal(await runner.stop('SIGTERM'), 0, runner.output());
    assert.match(runner.output(), /sluice run: stopped/);

    runner = await start();
    await kcatProduce('events', 1, [event('a', 61_000, 10)]);
    await advance(130_000);
    await eventually(async () => (await totals()).length >= 4, 'the second window');
    assert.equal(await runner.stop('SIGTERM'), 0, runner.output());

    const rows = (await totals()).map((r) => `${r.window_start} ${r.key} ${r.cnt} ${r.total}`).sort();
    assert.deepEqual(rows, ['0 a 2 3', '0 b 1 5', '60000 a 1 10', '60000 tick 3 0']);
  });

  it('`sluice run` refuses --bootstrap together with --kafka-port', async () => {
    const refused = await sluice(['run', 'examples/windowed-counts.ts', '--bootstrap', bootstrap, '--kafka-port', '0']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /--bootstrap .*drop --kafka-port/);
  });
});
