// Exactly-once to a Kafka cluster (here `sluice broker` in its own process): the log sink over KafkaClusterLog
// (`kafkaSink`) writes each checkpoint epoch as a Kafka transaction. A read_committed reader — the cluster log's
// own, and librdkafka's (kcat) where installed — sees an epoch only once its checkpoint completes, never one a
// crash takes back; the restart commits what the last checkpoint prepared and aborts what the crash left open (a
// pipeline's own crash, and a SIGKILLed `sluice run --bootstrap`); completePrepared answers false for a transaction
// a later writer fenced.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectKafkaLog, type KafkaClusterLog, kafkaSink } from '../src/connectors/index.ts';
import type { IsolationLevel } from '../src/contracts/index.ts';
import { json, logSource, Pipeline } from '../src/engine/index.ts';
import { type Daemon, installed, run, startSluice } from '../support/processes.ts';
import { eventually } from './helpers/broker.ts';

const hasKcat = installed('kcat');
let dataDir: string;
let broker: Daemon;
let bootstrap: string;
const logs: KafkaClusterLog[] = [];

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kafka-txn-'));
  broker = startSluice(['broker', '--data-dir', path.join(dataDir, 'broker'), '--kafka-port', '0']);
  bootstrap = (await broker.waitFor(/Kafka protocol on (\S+),/))[1]!;
});
after(async () => {
  for (const log of logs) await log.close();
  await broker.stop('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function connect(): Promise<KafkaClusterLog> {
  const log = await connectKafkaLog({ bootstrap, clientId: 'txn-test' });
  logs.push(log);
  return log;
}

/** Input topic `<name>-in` (1 partition) and output topic `<name>-out` (2 partitions). */
async function setup(name: string): Promise<{ log: KafkaClusterLog; input: string; output: string }> {
  const log = await connect();
  await log.createTopic(`${name}-in`, { partitions: 1 });
  await log.createTopic(`${name}-out`, { partitions: 2 });
  return { log, input: `${name}-in`, output: `${name}-out` };
}

async function feed(log: KafkaClusterLog, topic: string, from: number, to: number): Promise<void> {
  const records = [];
  for (let i = from; i < to; i++) records.push({ key: Buffer.from(`k${i % 5}`), value: Buffer.from(String(i)) });
  await log.append(topic, 0, records);
}

/** Every value in `topic` as a reader at `isolation` sees it (read committed: up to the last stable offset). */
async function values(log: KafkaClusterLog, topic: string, isolation: IsolationLevel): Promise<string[]> {
  await log.refresh(topic);
  const found: string[] = [];
  for (const { partition } of log.describeTopic(topic).partitions) {
    for (let offset = 0; ; ) {
      const page = await log.readRecords(topic, partition, offset, { maxBytes: 1 << 20, isolation });
      for (const r of page.records) found.push(r.value!.toString());
      if (page.nextOffset <= offset) break;
      offset = page.nextOffset;
    }
  }
  return found;
}

const numbers = (lines: string[]) => lines.map(Number).sort((a, b) => a - b);
const outputs = async (log: KafkaClusterLog, topic: string, isolation: IsolationLevel) =>
  numbers(await values(log, topic, isolation));

/** What librdkafka's read_committed consumer sees. */
async function kcatCommitted(topic: string): Promise<string[]> {
  const args = ['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q'];
  args.push('-X', 'isolation.level=read_committed');
  const consumed = await run('kcat', args);
  assert.equal(consumed.code, 0, consumed.stderr.toString());
  return consumed.stdout
    .toString()
    .split('\n')
    .filter((line) => line.length > 0);
}

/** A pipeline copying `input` to `output` with kafkaSink, checkpointing only when asked. */
async function build(log: KafkaClusterLog, name: string, input: string, output: string) {
  const sink = kafkaSink<number>({
    bootstrap,
    clientId: `${name}-sink`,
    topic: output,
    format: json<number>(),
    key: (n) => `k${n % 5}`,
  });
  const p = new Pipeline({ name });
  p.source(logSource({ log, topic: input, format: json<number>() })).sinkTo(sink);
  p.enableCheckpoints({ dir: path.join(dataDir, name, 'checkpoints'), intervalMs: 0 });
  return { pipeline: p, sink };
}

/** Makes the sink's close leave its open transaction open, as a crash of the process does. */
function crashOnClose(sink: ReturnType<typeof kafkaSink<number>>): void {
  const cluster = (sink as unknown as { cluster: KafkaClusterLog }).cluster;
  sink.close = () => cluster.close();
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('exactly-once to a Kafka cluster', { timeout: 120_000 }, () => {
  it('shows an epoch when its checkpoint completes; a crash: the restart aborts the rest and writes it once', async () => {
    const { log, input, output } = await setup('copy');
    await feed(log, input, 0, 40);
    const first = await build(log, 'copy', input, output);
    const running = first.pipeline.run();
    await eventually(async () => (await outputs(log, output, 'read_uncommitted')).length === 40, '40 written');
    assert.equal(first.sink.writesTransactions, true);
    assert.deepEqual(await outputs(log, output, 'read_committed'), [], 'not before the checkpoint commits');
    await first.pipeline.checkpoint();
    assert.deepEqual(await outputs(log, output, 'read_committed'), range(0, 40));

    await feed(log, input, 40, 100);
    await eventually(async () => (await outputs(log, output, 'read_uncommitted')).length === 100, '100 written');
    crashOnClose(first.sink);
    first.pipeline.stop({ checkpoint: false }); // a crash: 60 written after the checkpoint, their transaction open
    await running;
    assert.deepEqual(await outputs(log, output, 'read_committed'), range(0, 40), 'the 60 stay invisible');
    assert.deepEqual(await log.transactionalIds!('copy/'), [`copy/${output}/0`], 'the crash left a transaction open');

    const second = await build(log, 'copy', input, output);
    const again = second.pipeline.run();
    await feed(log, input, 100, 120);
    await eventually(
      async () => (await outputs(log, output, 'read_uncommitted')).length === 100 + 80,
      'the replay and 20 more',
    );
    await second.pipeline.checkpoint();
    second.pipeline.stop();
    await again;
    assert.deepEqual(await outputs(log, output, 'read_committed'), range(0, 120), 'each result once');
    if (hasKcat) assert.deepEqual(numbers(await kcatCommitted(output)), range(0, 120), 'librdkafka reads the same');
    assert.deepEqual(await log.transactionalIds!('copy/'), [], 'nothing left open');
    for (const { lastStableOffset, logEndOffset } of log.describeTopic(output).partitions) {
      assert.equal(lastStableOffset, logEndOffset);
    }
  });

  it('commits what a checkpoint prepared when a crash came between the checkpoint and the commit', async () => {
    const { log, input, output } = await setup('prepared');
    await feed(log, input, 0, 30);
    const first = await build(log, 'prepared', input, output);
    const running = first.pipeline.run();
    await eventually(async () => (await outputs(log, output, 'read_uncommitted')).length === 30, '30 written');
    // The checkpoint is durable, but the process dies before its sinks commit.
    first.sink.commitCheckpoint = async () => {
      throw new Error('crashed before the commit');
    };
    crashOnClose(first.sink);
    await first.pipeline.checkpoint().catch(() => {});
    first.pipeline.stop({ checkpoint: false });
    await running.catch(() => {});
    assert.deepEqual(await outputs(log, output, 'read_committed'), []);

    const second = await build(log, 'prepared', input, output);
    const again = second.pipeline.run();
    await eventually(
      async () => (await outputs(log, output, 'read_committed')).length === 30,
      'the prepared epoch committed on recovery',
    );
    second.pipeline.stop();
    await again;
    assert.deepEqual(await outputs(log, output, 'read_committed'), range(0, 30), 'committed once, not replayed');
    assert.deepEqual(await outputs(log, output, 'read_uncommitted'), range(0, 30), 'nothing written twice');
    if (hasKcat) assert.deepEqual(numbers(await kcatCommitted(output)), range(0, 30));
  });

  it('completePrepared: true for a committed transaction (again), false for one fenced or ended otherwise', async () => {
    const log = await connect();
    await log.createTopic('direct', { partitions: 1 });
    const record = (v: string) => [{ key: null, value: Buffer.from(v) }];

    const writer = await log.openTransactionalWriter!('direct/w/0');
    assert.equal(await writer.prepare(), null, 'nothing written, nothing to prepare');
    await writer.append('direct', 0, record('a'));
    const first = (await writer.prepare())!;
    assert.match(first.transactionalId, /^direct\/w\/0@[0-9a-z]+$/);
    await assert.rejects(writer.append('direct', 0, record('late')), { code: 'INVALID_TXN_STATE' });
    await writer.commit();
    assert.equal(await log.completePrepared!(first, true), true, 'a retried commit of a committed one');
    assert.equal(await log.completePrepared!(first, false), false, 'it cannot be aborted now');

    await writer.append('direct', 0, record('b'));
    const second = (await writer.prepare())!;
    assert.notEqual(second.transactionalId, first.transactionalId, 'an id per transaction');
    // A later run opens the writer again: that fences this one and aborts its prepared transaction.
    const later = await connect();
    await later.openTransactionalWriter!('direct/w/0');
    await assert.rejects(writer.commit(), { code: 'PRODUCER_FENCED' });
    assert.equal(await later.completePrepared!(second, true), false);
    const read = async (isolation: IsolationLevel) =>
      (await later.readRecords('direct', 0, 0, { isolation })).records.map((r) => r.value!.toString());
    assert.deepEqual(await read('read_committed'), ['a'], '"b" aborted');
    assert.deepEqual(await read('read_uncommitted'), ['a', 'b']);
  });

  it('writers opened together each fence what an earlier run of their id left open; a write to two partitions is one transaction', async () => {
    const earlier = await connect();
    await earlier.createTopic('together', { partitions: 2 });
    const record = (v: string) => [{ key: null, value: Buffer.from(v) }];
    const ids = ['together/w/0', 'together/w/1', 'together/w/2', 'together/w/3'];
    // An earlier run (a member cut off from the cluster) left a transaction open in each; the first one prepared.
    const zombies = await Promise.all(ids.map((id) => earlier.openTransactionalWriter!(id)));
    await Promise.all(zombies.map((w, n) => w.append('together', n % 2, record(`old ${n}`))));
    await zombies[0]!.prepare();
    assert.deepEqual(await earlier.transactionalIds!('together/'), ids);

    // Its replacement opens the same writers at once (they share ListTransactions requests).
    const later = await connect();
    const writers = await Promise.all(ids.map((id) => later.openTransactionalWriter!(id)));
    assert.deepEqual(await later.transactionalIds!('together/'), [], 'every one aborted');
    for (const zombie of zombies) await assert.rejects(zombie.commit(), { code: 'PRODUCER_FENCED' });
    const committed = async () => (await values(later, 'together', 'read_committed')).sort();
    assert.deepEqual(await committed(), [], 'nothing of the earlier run');

    // The new writers work: appends to both partitions in one turn go out together, in one transaction.
    const [first] = writers;
    const acks = await Promise.all([
      first!.append('together', 0, record('a')),
      first!.append('together', 1, record('b')),
    ]);
    assert.deepEqual(
      acks.map((ack) => ack.lastOffset - ack.baseOffset),
      [0, 0],
    );
    await first!.prepare();
    await first!.commit();
    assert.deepEqual(await committed(), ['a', 'b']);
  });

  it('`sluice run --bootstrap` SIGKILLed with a transaction open: the restart aborts it, each window committed once', async () => {
    const log = await connect();
    await log.createTopic('events', { partitions: 3 });
    await log.createTopic('window-totals', { partitions: 1 });
    await log.createTopic('events-late', { partitions: 1 });
    const start = async () => {
      // Checkpoints only at the start and at a graceful stop: whatever the run writes stays in an open transaction.
      const args = ['run', 'examples/windowed-counts.ts', '--bootstrap', bootstrap, '--data-dir'];
      const runner = startSluice([
        ...args,
        path.join(dataDir, 'wc'),
        '--http-port',
        '0',
        '--checkpoint-interval',
        '1h',
      ]);
      await runner.waitFor(/pipeline windowed-counts .*Kafka cluster at/);
      return runner;
    };
    const event = (key: string, ts: number, value: number) => ({
      key: Buffer.from(key),
      value: Buffer.from(JSON.stringify({ key, ts, value })),
    });
    const totals = async (isolation: IsolationLevel) =>
      (await values(log, 'window-totals', isolation))
        .map((line) => JSON.parse(line) as { window_start: number; key: string; cnt: number; total: number })
        .map((t) => `${t.window_start} ${t.key} ${t.cnt} ${t.total}`)
        .sort();

    let runner = await start();
    await log.append('events', 0, [event('a', 1_000, 1), event('a', 2_000, 2), event('b', 3_000, 5)]);
    for (let p = 0; p < 3; p++) await log.append('events', p, [event('tick', 70_000, 0)]);
    await eventually(async () => (await totals('read_uncommitted')).length === 2, 'the first window written');
    assert.deepEqual(await totals('read_committed'), [], 'in a transaction open until the next checkpoint');
    await runner.stop('SIGKILL');
    const writer = 'windowed-counts/window-totals/0';
    assert.deepEqual(await log.transactionalIds!('windowed-counts/'), [writer], 'left open by the crash');

    runner = await start();
    await eventually(async () => (await totals('read_uncommitted')).length === 4, 'the replay written');
    assert.equal(await runner.stop('SIGTERM'), 0, runner.output());
    const expected = ['0 a 2 3', '0 b 1 5'];
    assert.deepEqual(await totals('read_committed'), expected, 'each window once');
    if (hasKcat) {
      const seen = (await kcatCommitted('window-totals')).map((line) => JSON.parse(line) as { key: string });
      assert.deepEqual(seen.map((t) => t.key).sort(), ['a', 'b']);
    }
    assert.deepEqual(await log.transactionalIds!('windowed-counts/'), [], 'nothing left open');
  });

  it('a cluster log with transactions turned off leaves exactly-once sinks deduplicating', async () => {
    const log = await connectKafkaLog({ bootstrap, clientId: 'txn-off', transactions: false });
    logs.push(log);
    assert.equal(log.openTransactionalWriter, undefined);
    assert.equal((await connect()).openTransactionalWriter !== undefined, true);
  });
});
