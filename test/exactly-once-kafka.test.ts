// Exactly-once all the way to a Kafka consumer: the windowed-counts pipeline runs as `sluice run` with its Kafka
// listener open, and is SIGKILLed 30 times at random instants and restarted until it completes, while one
// librdkafka consumer (python3-confluent-kafka) with isolation.level=read_committed reads `window-totals`
// continuously through every crash and restart. What that consumer saw must equal an uninterrupted run's output, record for record: nothing a crash
// took back (the sink's transactions commit with each checkpoint), no duplicates, no offset that changed meaning.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startSluice } from '../support/processes.ts';
import { type Input, killUntilDone, readTopics, runPipeline, writeInput } from './helpers/crash.ts';
import { needsConfluentKafka, PYTHON } from './helpers/librdkafka.ts';

/** A read_committed librdkafka consumer that, unlike kcat, keeps reconnecting while every broker is down. */
const CONSUMER = fileURLToPath(new URL('./fixtures/committed_consumer.py', import.meta.url));

const dirs: string[] = [];
const children: ChildProcess[] = [];
after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-eos-kafka-'));
  dirs.push(dir);
  return dir;
}

/** A port nothing listens on now: every run of the pipeline opens its Kafka listener there. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** What the consumer saw: one line per record, `partition offset value`; and what it said on stderr. */
interface Seen {
  lines: string[];
  stderr: string;
  process: ChildProcess;
}

function consumeCommitted(port: number, topic: string): Seen {
  const child = spawn(PYTHON, [CONSUMER, `127.0.0.1:${port}`, topic, '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const seen: Seen = { lines: [], stderr: '', process: child };
  let rest = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const text = rest + chunk.toString();
    const lines = text.split('\n');
    rest = lines.pop()!;
    seen.lines.push(...lines.filter((l) => l.length > 0));
  });
  child.stderr.on('data', (chunk: Buffer) => {
    seen.stderr = (seen.stderr + chunk.toString()).slice(-4000);
  });
  return seen;
}

/**
 * Starts the consumer while a broker serves the data directory (its first metadata request needs one); from then on
 * it reconnects through every crash and restart of the pipeline's listener.
 */
async function consumerAttached(dataDir: string, port: number): Promise<Seen> {
  const broker = startSluice(['broker', '--data-dir', dataDir, '--kafka-port', String(port)]);
  await broker.waitFor(/Kafka protocol on/);
  const seen = consumeCommitted(port, 'window-totals');
  while (!seen.stderr.includes('assigned')) {
    assert.equal(seen.process.exitCode, null, `the consumer exited: ${seen.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 2000)); // its metadata and first fetch (an empty topic)
  assert.equal(seen.process.exitCode, null, `the consumer exited: ${seen.stderr}`);
  await broker.stop();
  return seen;
}

const EVENTS: Input = {
  topic: 'events',
  partitions: 3,
  records: (rand, i) => {
    const key = `k${Math.floor(rand() * 40)}`;
    const late = rand() < 0.01 ? 30_000 : 0;
    return { key, value: { key, ts: 1_700_000_000_000 + i * 5 - Math.floor(rand() * 4000) - late, value: i % 97 } };
  },
};

describe('exactly-once to Kafka consumers under SIGKILL', () => {
  it('a read_committed librdkafka consumer reading throughout 30 kills sees exactly the uninterrupted output', {
    timeout: 900_000,
    ...needsConfluentKafka,
  }, async () => {
    const file = new URL('../examples/windowed-counts.ts', import.meta.url).pathname;
    const count = 150_000;
    const reference = tempDir();
    await writeInput(reference, [EVENTS], count);
    const clean = await runPipeline(file, reference, ['--no-checkpoints']);
    assert.equal(clean.code, 0, clean.output);
    const expected = (await readTopics(reference, ['window-totals']))['window-totals']!;
    assert.ok(expected.length > 100, 'the reference run produced results');

    // The output topic exists before the consumer starts (as the pipeline would create it: one partition).
    const crashed = tempDir();
    const outputTopic: Input = {
      topic: 'window-totals',
      partitions: 1,
      count: 0,
      records: () => ({ key: '', value: 0 }),
    };
    await writeInput(crashed, [EVENTS, outputTopic], count);
    const pristine = tempDir();
    fs.cpSync(crashed, pristine, { recursive: true });
    const port = await freePort();

    let consumer = await consumerAttached(crashed, port);
    await killUntilDone({
      file,
      crashed,
      pristine,
      kills: 30,
      seed: 11,
      maxDelayMs: 500,
      kafkaPort: port,
      // Begun again from the input: a fresh consumer too.
      onStartOver: async () => {
        consumer.process.kill('SIGKILL');
        consumer = await consumerAttached(crashed, port);
      },
    });

    // The pipeline is done; a broker over its data directory lets the consumer read the rest.
    const broker = startSluice(['broker', '--data-dir', crashed, '--kafka-port', String(port)]);
    try {
      await broker.waitFor(/Kafka protocol on/);
      // Progress, not time: wait while the consumer keeps getting records, until it has as many as expected.
      let last = -1;
      let stalledSince = Date.now();
      while (consumer.lines.length < expected.length) {
        if (consumer.lines.length !== last) {
          last = consumer.lines.length;
          stalledSince = Date.now();
        }
        assert.ok(
          Date.now() - stalledSince < 120_000 && consumer.process.exitCode === null,
          `the consumer stopped at ${last} of ${expected.length}: ${consumer.stderr}`,
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 500)); // anything more would be a duplicate or phantom
    } finally {
      consumer.process.kill('SIGKILL');
      await broker.stop();
    }

    const byOffset = new Map<string, string>();
    for (const line of consumer.lines) {
      const [partition, offset, ...value] = line.split(' ');
      const key = `${partition}:${offset}`;
      assert.ok(!byOffset.has(key), `offset ${key} delivered twice`);
      byOffset.set(key, value.join(' '));
    }
    const values = [...byOffset.values()].sort();
    assert.equal(values.length, expected.length, 'as many records as the uninterrupted run');
    assert.deepEqual(values, expected, 'the same records');
    // The crashes left aborted transactions behind: the log holds more than the consumer saw.
    const all = (await readTopics(crashed, ['window-totals'], 'read_uncommitted'))['window-totals']!;
    assert.ok(all.length > values.length, 'some crash aborted output the consumer never saw');
  });
});
