// Transactions across a crash: `sluice broker` in its own process is SIGKILLed with transactions open and restarted on
// the same data directory. An open librdkafka transaction is aborted by its timeout after the restart and never seen
// by read_committed readers, while the one committed before the kill stays visible; a kill at an arbitrary point of a
// stream of kafkajs transactions (sending, committing, between the commit's markers) leaves every transaction all or
// nothing, and every one whose commit was acknowledged whole.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { DescribeTransactions, ListOffsets } from '../src/kafka/protocol/index.ts';
import { type Daemon, run, startSluice } from '../support/processes.ts';
import { eventually, progresses } from './helpers/broker.ts';
import { call } from './helpers/kafka-wire.ts';
import { needsConfluentKafka, PYTHON, TXN_CLIENT } from './helpers/librdkafka.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
/** The transactions' timeout: short, so that the restarted broker aborts the open ones within seconds. */
const TIMEOUT_MS = 3000;
/** Waits on the coordinator's timeout after a restart: seconds, and no more than this even on a loaded machine. */
const SETTLE_MS = 300_000;

const dirs: string[] = [];
const daemons: Daemon[] = [];
after(async () => {
  for (const daemon of daemons) await daemon.stop('SIGKILL');
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** `sluice broker` on `dataDir` (on `port`, or a free one), and its address. */
async function startBroker(dataDir: string, port = 0) {
  const daemon = startSluice(['broker', '--data-dir', dataDir, '--kafka-port', String(port)]);
  daemons.push(daemon);
  const bootstrap = (await daemon.waitFor(/Kafka protocol on (\S+),/, 120_000))[1]!;
  return { daemon, bootstrap, port: Number(bootstrap.split(':').at(-1)) };
}

const kafkaAt = (bootstrap: string, clientId: string) =>
  new Kafka({
    brokers: [bootstrap],
    clientId,
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
  });

/** Each partition's [last stable offset, high watermark] (ListOffsets latest at both isolation levels). */
async function stability(port: number, topic: string, partitions: number): Promise<[number, number][]> {
  const latest = async (isolationLevel: number) => {
    const answer = await call(port, ListOffsets, 5, {
      replicaId: -1,
      isolationLevel,
      topics: [
        {
          name: topic,
          partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({
            partitionIndex,
            currentLeaderEpoch: -1,
            timestamp: -1,
          })),
        },
      ],
    });
    return answer.topics[0]!.partitions.map((p) => p.offset);
  };
  const [stable, high] = [await latest(1), await latest(0)];
  return stable.map((s, i) => [s, high[i]!]);
}

/** Resolves once no transaction holds any partition of `topic` back (the last stable offset is the high watermark). */
async function settled(port: number, topic: string, partitions: number) {
  await eventually(
    async () => (await stability(port, topic, partitions)).every(([stable, high]) => stable === high),
    `${topic}: every transaction ended`,
    SETTLE_MS,
    100,
  );
}

describe('a broker SIGKILLed with transactions open', () => {
  it(
    'aborts an open librdkafka transaction after the restart (its timeout); the committed one stays',
    needsConfluentKafka,
    async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-txn-crash-'));
      dirs.push(dataDir);
      const first = await startBroker(dataDir);
      const admin = kafkaAt(first.bootstrap, 'crash-admin').admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'crash-open', numPartitions: 2 }] });
      await admin.disconnect();
      const client = (command: string, bootstrap: string, args: string[]) =>
        run(PYTHON, [TXN_CLIENT, command, '--bootstrap', bootstrap, '--topic', 'crash-open', ...args]);
      const common = ['--count', '20', '--partitions', '2', '--timeout-ms', String(TIMEOUT_MS)];
      const kept = await client('produce', first.bootstrap, ['--txn-id', 'crash-kept', '--prefix', 'kept', ...common]);
      assert.equal(kept.code, 0, kept.stderr);

      const open = spawn(PYTHON, [
        TXN_CLIENT,
        'open',
        '--bootstrap',
        first.bootstrap,
        '--topic',
        'crash-open',
        '--txn-id',
        'crash-open',
        '--prefix',
        'open',
        ...common,
      ]);
      let out = '';
      const flushed = new Promise<void>((resolve, reject) => {
        open.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('"open": true')) resolve();
        });
        open.once('exit', (code) => reject(new Error(`the open transaction's client exited (${code}): ${out}`)));
      });
      try {
        await flushed; // its 20 records acknowledged (fsynced), its transaction open
        const held = await stability(first.port, 'crash-open', 2);
        assert.ok(
          held.every(([stable, high]) => stable < high),
          `the open transaction holds both partitions back: ${JSON.stringify(held)}`,
        );
        await first.daemon.stop('SIGKILL');
      } finally {
        open.kill('SIGKILL');
      }

      const second = await startBroker(dataDir, first.port);
      await settled(second.port, 'crash-open', 2);
      const described = await call(second.port, DescribeTransactions, 0, {
        transactionalIds: ['crash-open', 'crash-kept'],
      });
      assert.deepEqual(
        described.transactionStates.map((s) => s.transactionState),
        ['CompleteAbort', 'CompleteCommit'],
      );
      const consume = async (isolation: string, expect: number) => {
        const result = await client('consume', second.bootstrap, [
          '--group',
          `reader-${isolation}`,
          '--isolation',
          isolation,
          '--expect',
          String(expect),
        ]);
        assert.equal(result.code, 0, result.stderr);
        const values = JSON.parse(result.stdout.toString().trim().split('\n').at(-1)!).values as string[];
        return values.map((v) => v.replace(/-\d+$/, ''));
      };
      const committed = await consume('read_committed', 20);
      assert.deepEqual([committed.length, [...new Set(committed)]], [20, ['kept']]);
      const all = await consume('read_uncommitted', 40);
      assert.equal(all.filter((v) => v === 'open').length, 20, 'the aborted records survived the kill, as aborted');
      await second.daemon.stop('SIGTERM');
    },
  );

  it('leaves every kafkajs transaction all or nothing when killed amid a stream of them', async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-txn-stream-'));
    dirs.push(dataDir);
    const first = await startBroker(dataDir);
    const kafka = kafkaAt(first.bootstrap, 'crash-stream');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'crash-stream', numPartitions: 3 }] });
    await admin.disconnect();
    const producer = kafka.producer({
      transactionalId: 'crash-stream',
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: TIMEOUT_MS,
    });
    await producer.connect();
    const acknowledged: number[] = [];
    let started = -1;
    let stop = false;
    const stream = (async () => {
      for (let n = 0; !stop; n++) {
        started = n;
        const txn = await producer.transaction();
        await txn.send({
          topic: 'crash-stream',
          acks: -1,
          messages: Array.from({ length: 15 }, (_, i) => ({ partition: i % 3, value: `t${n}-${i}` })),
        });
        await txn.commit();
        acknowledged.push(n);
      }
    })().catch(() => {}); // the kill fails whatever was in flight
    await progresses(() => acknowledged.length, 15, 'transactions committed before the kill');
    // Somewhere in the 16th transaction's life (its sends, its EndTxn, its markers): a few milliseconds more or less
    // lands the kill elsewhere from run to run.
    await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 20)));
    stop = true;
    await first.daemon.stop('SIGKILL');
    await stream;
    await producer.disconnect().catch(() => {});
    const inFlight = started;

    const second = await startBroker(dataDir, first.port);
    await settled(second.port, 'crash-stream', 3);
    // A last committed transaction from another id marks each partition's end for the reader.
    const after = kafkaAt(second.bootstrap, 'crash-after');
    const closer = after.producer({ transactionalId: 'crash-closer', idempotent: true, maxInFlightRequests: 1 });
    await closer.connect();
    const end = await closer.transaction();
    await end.send({
      topic: 'crash-stream',
      acks: -1,
      messages: [0, 1, 2].map((partition) => ({ partition, value: 'end' })),
    });
    await end.commit();
    await closer.disconnect();
    const values: string[] = [];
    const consumer = after.consumer({ groupId: 'crash-reader', maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'crash-stream', fromBeginning: true });
    try {
      await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!.toString()) });
      await progresses(() => values.filter((v) => v === 'end').length, 3, 'read_committed: every partition to its end');
    } finally {
      await consumer.disconnect();
    }
    const counts = new Map<number, number>();
    for (const v of values) {
      const match = /^t(\d+)-\d+$/.exec(v);
      if (match) counts.set(Number(match[1]), (counts.get(Number(match[1])) ?? 0) + 1);
    }
    for (const [n, count] of counts) assert.equal(count, 15, `transaction ${n}: all 15 records or none`);
    for (const n of acknowledged) assert.equal(counts.get(n), 15, `acknowledged transaction ${n} is visible`);
    for (const n of counts.keys()) assert.ok(n <= inFlight, `transaction ${n} was begun`);
    const outcome = acknowledged.includes(inFlight)
      ? 'none in flight'
      : `transaction ${inFlight} in flight, ${counts.has(inFlight) ? 'committed by recovery' : 'aborted'}`;
    t.diagnostic(`${acknowledged.length} transactions acknowledged before the kill; ${outcome}`);
    await second.daemon.stop('SIGTERM');
  });
});
