// Kafka transactions through librdkafka (Debian's python3-confluent-kafka, driving test/fixtures/txn_client.py):
// init_transactions / begin / produce / commit and abort, a read_committed consumer that sees only committed records,
// a zombie's open transaction aborted by its successor, and consume-transform-produce with
// send_offsets_to_transaction. Records written by kafkajs in the same broker are read back by librdkafka too.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { run } from '../support/processes.ts';
import { startTestBroker, type TestBroker } from './helpers/broker.ts';
import { hasConfluentKafka, needsConfluentKafka, PYTHON, TXN_CLIENT } from './helpers/librdkafka.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
let t: TestBroker;

before(async () => {
  if (hasConfluentKafka) t = await startTestBroker({ autoCreateTopics: true });
});
after(async () => {
  await t?.close();
});

/** Runs one txn_client.py command to its end and returns the JSON object it prints last. */
async function client(args: string[]): Promise<Record<string, unknown>> {
  const result = await run(PYTHON, [TXN_CLIENT, args[0]!, '--bootstrap', t.bootstrap, ...args.slice(1)]);
  const lines = result.stdout.toString().trim().split('\n');
  assert.equal(result.code, 0, `txn_client.py ${args[0]} failed:\n${lines.at(-1)}\n${result.stderr.slice(-2000)}`);
  return JSON.parse(lines.at(-1)!);
}

const consume = async (topic: string, group: string, expect: number, isolation = 'read_committed') =>
  (await client(['consume', '--topic', topic, '--group', group, '--expect', String(expect), '--isolation', isolation]))
    .values as string[];
const prefixes = (values: string[]) => [...new Set(values.map((v) => v.replace(/-\d+$/, '')))].sort();

describe('librdkafka transactional producers', needsConfluentKafka, () => {
  it('commits and aborts; a read_committed consumer sees only the committed records', async () => {
    await t.log.createTopic('rd-tx', { partitions: 3 });
    const produce = (prefix: string, abort: boolean) =>
      client([
        'produce',
        '--txn-id',
        'rd-1',
        '--topic',
        'rd-tx',
        '--prefix',
        prefix,
        '--count',
        '30',
        '--partitions',
        '3',
        ...(abort ? ['--abort'] : []),
      ]);
    assert.deepEqual(await produce('first', false), { ok: true, committed: true, count: 30 });
    assert.deepEqual(await produce('dropped', true), { ok: true, committed: false, count: 30 });
    await produce('second', false);
    // The consumer reads until every partition is at its end: an aborted record would have come before.
    const committed = await consume('rd-tx', 'rd-committed', 60);
    assert.deepEqual(prefixes(committed), ['first', 'second']);
    assert.equal(committed.length, 60);
    const all = await consume('rd-tx', 'rd-uncommitted', 90, 'read_uncommitted');
    assert.deepEqual(prefixes(all), ['dropped', 'first', 'second']);
    assert.equal(all.length, 90);
  });

  it("aborts a zombie's open transaction when its successor initialises the same id", async () => {
    await t.log.createTopic('rd-zombie', { partitions: 1 });
    const zombie = spawn(PYTHON, [
      TXN_CLIENT,
      'open',
      '--bootstrap',
      t.bootstrap,
      '--txn-id',
      'rd-z',
      '--topic',
      'rd-zombie',
      '--prefix',
      'zombie',
      '--count',
      '5',
    ]);
    try {
      let out = '';
      zombie.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      const exited = new Promise((resolve) => zombie.once('exit', resolve));
      // Its records are written (flushed), its transaction open; no time limit: it says so or exits.
      await Promise.race([
        new Promise<void>((resolve) => zombie.stdout.on('data', () => out.includes('"open": true') && resolve())),
        exited.then(() => assert.fail(`the zombie exited: ${out}`)),
      ]);
      assert.equal(t.log.describeTopic('rd-zombie').partitions[0]!.lastStableOffset, 0, 'held by the zombie');
      await client(['produce', '--txn-id', 'rd-z', '--topic', 'rd-zombie', '--prefix', 'successor', '--count', '5']);
    } finally {
      zombie.kill('SIGKILL');
    }
    const values = await consume('rd-zombie', 'rd-zombie-reader', 5);
    assert.deepEqual(prefixes(values), ['successor']);
    const raw = t.log.readRecords('rd-zombie', 0, 0).records.map((r) => r.value?.toString());
    assert.equal(raw.filter((v) => v?.startsWith('zombie-')).length, 5, "the zombie's records are in the log, aborted");
  });

  it('consume-transform-produce: send_offsets_to_transaction commits the offsets with the output, or neither', async () => {
    await t.log.createTopic('rd-in', { partitions: 1 });
    await t.log.createTopic('rd-out', { partitions: 1 });
    const feed = async (from: number, count: number) => {
      for (let i = from; i < from + count; i++)
        await t.log.append('rd-in', 0, [{ key: null, value: Buffer.from(`in-${i}`) }]);
    };
    await feed(0, 30);
    const ctp = (expect: number, abort: boolean) =>
      client([
        'ctp',
        '--txn-id',
        'rd-ctp',
        '--source',
        'rd-in',
        '--sink',
        'rd-out',
        '--group',
        'rd-ctp',
        '--expect',
        String(expect),
        ...(abort ? ['--abort'] : []),
      ]);
    const done = await ctp(30, false);
    assert.deepEqual([done.done, done.committed], [30, 30]);
    assert.equal(t.log.groups.fetchOne('rd-ctp', 'rd-in', 0)?.offset, 30);
    const out = () =>
      t.log.readRecords('rd-out', 0, 0, { isolation: 'read_committed' }).records.map((r) => r.value?.toString());
    assert.deepEqual(
      out(),
      Array.from({ length: 30 }, (_, i) => `IN-${i}`),
    );
    await feed(30, 10);
    const aborted = await ctp(1, true);
    assert.equal(aborted.committed, 30, 'the aborted transaction committed no offsets');
    assert.equal(t.log.groups.fetchOne('rd-ctp', 'rd-in', 0)?.offset, 30);
    assert.equal(out().length, 30, 'nor output');
  });

  it('reads what a kafkajs transactional producer committed, and none of what it aborted', async () => {
    const kafka = new Kafka({ brokers: [t.bootstrap], clientId: 'rd-kjs', logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ transactionalId: 'rd-kjs', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (const [prefix, commit] of [
      ['kjs-kept', true],
      ['kjs-dropped', false],
      ['kjs-last', true],
    ] as const) {
      const txn = await producer.transaction();
      await txn.send({
        topic: 'rd-kjs',
        acks: -1,
        messages: Array.from({ length: 10 }, (_, i) => ({ value: `${prefix}-${i}` })),
      });
      await (commit ? txn.commit() : txn.abort());
    }
    await producer.disconnect();
    const values = await consume('rd-kjs', 'rd-kjs-reader', 20);
    assert.deepEqual(prefixes(values), ['kjs-kept', 'kjs-last']);
    assert.equal(values.length, 20);
  });
});
