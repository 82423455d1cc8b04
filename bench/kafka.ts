// `npm run bench -- kafka [--messages N] [--txn-messages N]`: Kafka-protocol throughput and latency against
// `sluice broker` running in its own process (as users run it): produce/consume of 100-byte messages through kcat
// (librdkafka) and kafkajs on 1 and 6 partitions, transactional produce beside the same produce without transactions
// (kafkajs, and librdkafka through python3-confluent-kafka when installed), and produce latency with acks=all at a
// fixed 20,000 msg/s (open loop: each message's latency counts from its scheduled send time, so a stall cannot hide
// behind a slower send rate). Reference points, when installed: the same load against Redis Streams (redis-server,
// without persistence and with an fsync per write) and NATS JetStream (nats-server -js) on loopback.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { apis, decodeResponse, encodeRequest } from '../src/kafka/protocol/index.ts';
import { encodeRecordBatch } from '../src/log/index.ts';
import { type Daemon, installed, run, startSluice } from '../support/processes.ts';
import { benchNats } from './brokers/nats.ts';
import { benchRedis } from './brokers/redis.ts';

const { values: flags } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    'kafkajs-messages': { type: 'string', default: '200000' },
    'latency-seconds': { type: 'string', default: '5' },
    'txn-messages': { type: 'string', default: '200000' },
  },
});
const MESSAGES = Number(flags.messages);
const KAFKAJS_MESSAGES = Number(flags['kafkajs-messages']);
const LATENCY_SECONDS = Number(flags['latency-seconds']);
const TXN_MESSAGES = Number(flags['txn-messages']);
/** Records per transaction in the transactional produce runs. */
const TXN_RECORDS = 1000;
const RATE = 20_000;
const VALUE = 'x'.repeat(100);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-kafka-'));
const broker: Daemon = startSluice(['broker', '--data-dir', path.join(dir, 'data'), '--kafka-port', '0']);
const bootstrap = (await broker.waitFor(/Kafka protocol on (\S+),/))[1]!;
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const kafka = new Kafka({ brokers: [bootstrap], clientId: 'bench', logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();

const inputFile = path.join(dir, 'input.txt');
fs.writeFileSync(inputFile, `${Array.from({ length: MESSAGES }, () => VALUE).join('\n')}\n`);

const perSec = (n: number, ms: number) => Math.round((n * 1000) / ms);

async function kcatProduce(topic: string): Promise<number> {
  const start = performance.now();
  const result = await run(
    'kcat',
    [
      '-P',
      '-b',
      bootstrap,
      '-t',
      topic,
      '-X',
      'acks=all',
      '-X',
      'linger.ms=5',
      '-X',
      'batch.num.messages=10000',
      '-l',
      inputFile,
    ],
    undefined,
    300_000,
  );
  if (result.code !== 0) throw new Error(`kcat produce failed: ${result.stderr}`);
  return perSec(MESSAGES, performance.now() - start);
}

/** Consumes the whole topic to its end, counting newline-terminated messages without buffering them. */
function kcatConsume(topic: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    // librdkafka's default local queue (64 MB, then a 1 s fetch back-off) throttles a fast consumer on its own side;
    // a larger queue measures the broker instead.
    const tuning = ['-X', 'queued.max.messages.kbytes=1048576', '-X', 'queued.min.messages=1000000'];
    const child = spawn('kcat', ['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q', ...tuning], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The clock stops at the last message, not at kcat's exit: -e exits only after one more empty long-poll.
    let lines = 0;
    let elapsed = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      if (lines === MESSAGES) elapsed = performance.now() - start;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 || lines !== MESSAGES)
        reject(new Error(`kcat consume: exit ${code}, ${lines}/${MESSAGES} messages`));
      else resolve(perSec(MESSAGES, elapsed));
    });
  });
}

async function kafkajsProduce(topic: string, messages = KAFKAJS_MESSAGES): Promise<number> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const batch = Array.from({ length: 1000 }, () => ({ value: VALUE }));
  const start = performance.now();
  for (let sent = 0; sent < messages; sent += batch.length) {
    await producer.send({ topic, acks: -1, messages: batch });
  }
  const rate = perSec(messages, performance.now() - start);
  await producer.disconnect();
  return rate;
}

async function kafkajsConsume(topic: string): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-${topic}`, maxWaitTimeInMs: 100, maxBytes: 50 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    void consumer.run({
      autoCommitInterval: 1000,
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= KAFKAJS_MESSAGES) resolve();
      },
    });
  });
  const rate = perSec(seen, performance.now() - start);
  await consumer.disconnect();
  return rate;
}

/** kafkajs's transactional producer: the same sends of 1000 as kafkajsProduce, each in a transaction of its own. */
async function kafkajsTransactionalProduce(topic: string): Promise<number> {
  const producer = kafka.producer({ transactionalId: `bench-${topic}`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const batch = Array.from({ length: TXN_RECORDS }, () => ({ value: VALUE }));
  const start = performance.now();
  for (let sent = 0; sent < TXN_MESSAGES; sent += batch.length) {
    const txn = await producer.transaction();
    await txn.send({ topic, acks: -1, messages: batch });
    await txn.commit();
  }
  const rate = perSec(TXN_MESSAGES, performance.now() - start);
  await producer.disconnect();
  return rate;
}

/**
 * librdkafka's producer through Debian's python3-confluent-kafka (the system python): acks=all, idempotent, as kcat
 * produces; with a transaction size, in transactions of that many records (begin, produce, commit). It prints msg/s
 * from its first timed message to its last acknowledgement (or commit), after one untimed round.
 */
const LIBRDKAFKA_PRODUCE = `
import sys, time
from confluent_kafka import Producer
bootstrap, topic, count, per_txn = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conf = {'bootstrap.servers': bootstrap, 'acks': 'all', 'enable.idempotence': True, 'linger.ms': 5,
        'batch.num.messages': 10000, 'queue.buffering.max.messages': 1000000}
if per_txn:
    conf['transactional.id'] = 'bench-' + topic
p = Producer(conf)
if per_txn:
    p.init_transactions(60)
value = b'x' * 100
def send(n):
    for _ in range(n):
        while True:
            try:
                p.produce(topic, value)
                break
            except BufferError:
                p.poll(0.001)
# One untimed round first: the topic's metadata (librdkafka waits up to a second for it), the first registration.
if per_txn:
    p.begin_transaction()
    send(1)
    p.commit_transaction(60)
else:
    send(1)
    p.flush(60)
start = time.perf_counter()
if per_txn:
    for _ in range(count // per_txn):
        p.begin_transaction()
        send(per_txn)
        p.commit_transaction(60)
else:
    send(count)
    if p.flush(60) != 0:
        sys.exit('messages left unacknowledged')
print(round(count / (time.perf_counter() - start)))
`;
const hasConfluentKafka =
  spawnSync('/usr/bin/python3', ['-c', 'import confluent_kafka'], { stdio: 'ignore' }).status === 0;

async function librdkafkaProduce(topic: string, perTransaction: number): Promise<number> {
  const args = ['-c', LIBRDKAFKA_PRODUCE, bootstrap, topic, String(TXN_MESSAGES), String(perTransaction)];
  const result = await run('/usr/bin/python3', args, undefined, 600_000);
  if (result.code !== 0) throw new Error(`librdkafka produce failed: ${result.stderr}`);
  return Number(result.stdout.toString().trim());
}

/**
 * Produce with and without transactions of TXN_RECORDS records, on 1-partition topics: three rounds, alternating (a
 * loaded machine disturbs both alike), the best of each (the first round also warms the client up), and their ratio.
 */
async function transactionalProduce() {
  const pair = async (
    name: string,
    plain: (topic: string) => Promise<number>,
    txn: (topic: string) => Promise<number>,
  ) => {
    await admin.createTopics({
      topics: [
        { topic: `${name}-plain`, numPartitions: 1 },
        { topic: `${name}-txn`, numPartitions: 1 },
      ],
    });
    const runs = { plain: [] as number[], transactional: [] as number[] };
    for (let round = 0; round < 3; round++) {
      runs.plain.push(await plain(`${name}-plain`));
      runs.transactional.push(await txn(`${name}-txn`));
    }
    const [plainRate, transactional] = [Math.max(...runs.plain), Math.max(...runs.transactional)];
    return { plain: plainRate, transactional, ratio: +(transactional / plainRate).toFixed(2), runs };
  };
  return {
    messages: TXN_MESSAGES,
    recordsPerTransaction: TXN_RECORDS,
    kafkajs: await pair('txn-kafkajs', (topic) => kafkajsProduce(topic, TXN_MESSAGES), kafkajsTransactionalProduce),
    librdkafka: hasConfluentKafka
      ? await pair(
          'txn-librdkafka',
          (topic) => librdkafkaProduce(topic, 0),
          (topic) => librdkafkaProduce(topic, TXN_RECORDS),
        )
      : 'python3-confluent-kafka is not installed (apt-get install python3-confluent-kafka)',
  };
}

/** acks=all at a fixed rate: every millisecond, the messages due by then go out in one request. */
async function produceLatency(topic: string, options: { idempotent: boolean; maxInFlightRequests: number }) {
  const producer = kafka.producer(options);
  await producer.connect();
  const latencies: number[] = [];
  const start = performance.now();
  const total = RATE * LATENCY_SECONDS;
  let scheduled = 0;
  const inFlight = new Set<Promise<void>>();
  while (scheduled < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) * RATE) / 1000));
    if (due > scheduled) {
      const first = scheduled;
      const count = due - first;
      scheduled = due;
      const send = producer
        .send({ topic, acks: -1, messages: Array.from({ length: count }, () => ({ value: VALUE })) })
        .then(() => {
          const done = performance.now();
          for (let i = 0; i < count; i++) latencies.push(done - (start + ((first + i) * 1000) / RATE));
        });
      inFlight.add(send);
      void send.finally(() => inFlight.delete(send));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inFlight);
  await producer.disconnect();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => +latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(2);
  return { messages: latencies.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}

/**
 * The same fixed-rate measurement through a minimal client built on Sluice's own codecs: one connection, at most
 * `maxInFlight` requests in flight, and every message due while they fly goes in the next request (librdkafka with
 * linger.ms=0 sends up to max.in.flight requests at once: 5 with idempotence). Without kafkajs's own overhead in
 * the timings, this is the broker's latency.
 */
async function rawProduceLatency(topic: string, maxInFlight = 1) {
  const [host, port] = bootstrap.split(':') as [string, string];
  const socket = net.connect(Number(port), host);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.setNoDelay(true);
  const value = Buffer.from(VALUE);
  const latencies: number[] = [];
  const total = RATE * LATENCY_SECONDS;
  let scheduled = 0;
  let sentUpTo = 0;
  /** Requests sent and not answered yet, oldest first (the broker answers a connection's requests in order). */
  const inFlight: { first: number; count: number; sentAt: number }[] = [];
  // Also from the moment each request is written: what the broker and the wire take, without the wait for the
  // scheduler's tick and for the request in flight before it (the open-loop figure includes both).
  const sendToAck: number[] = [];
  let pending: Buffer = Buffer.alloc(0);
  let correlationId = 0;
  const start = performance.now();
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const sendDue = () => {
    if (inFlight.length >= maxInFlight || scheduled === sentUpTo) return;
    const first = sentUpTo;
    const count = scheduled - first;
    sentUpTo = scheduled;
    inFlight.push({ first, count, sentAt: performance.now() });
    const records = encodeRecordBatch(Array.from({ length: count }, () => ({ key: null, value: value as Buffer })));
    socket.write(
      encodeRequest(apis.Produce, 9, ++correlationId, 'bench', {
        transactionalId: null,
        acks: -1,
        timeoutMs: 30_000,
        topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
      }),
    );
  };
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
      const size = pending.readInt32BE(0);
      const { body } = decodeResponse(apis.Produce, 9, pending.subarray(4, 4 + size));
      pending = pending.subarray(4 + size);
      const error = body.responses[0].partitionResponses[0].errorCode;
      if (error !== 0) throw new Error(`produce failed with Kafka error ${error}`);
      const done = performance.now();
      const { first, count, sentAt } = inFlight.shift()!;
      for (let i = 0; i < count; i++) latencies.push(done - (start + ((first + i) * 1000) / RATE));
      sendToAck.push(done - sentAt);
      if (latencies.length === total) finish();
      else sendDue();
    }
  });
  const timer = setInterval(() => {
    scheduled = Math.min(total, Math.floor(((performance.now() - start) * RATE) / 1000));
    sendDue();
  }, 1);
  await finished;
  clearInterval(timer);
  socket.destroy();
  const at = percentiles(latencies);
  const request = percentiles(sendToAck);
  return {
    messages: latencies.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: at(1),
    requests: sendToAck.length,
    sendToAckP50Ms: request(0.5),
    sendToAckP99Ms: request(0.99),
  };
}

/** The q-quantile (0..1) of `values`, in ms rounded to 0.01 (sorts `values`). */
function percentiles(values: number[]): (q: number) => number {
  values.sort((a, b) => a - b);
  return (q) => +values[Math.min(values.length - 1, Math.floor(q * values.length))]!.toFixed(2);
}

const results: Record<string, unknown> = { bench: 'kafka', messageBytes: 100, messages: MESSAGES };
for (const partitions of process.env.BENCH_SKIP_THROUGHPUT ? [] : [1, 6]) {
  await admin.createTopics({
    topics: [
      { topic: `kcat-${partitions}`, numPartitions: partitions },
      { topic: `kafkajs-${partitions}`, numPartitions: partitions },
    ],
  });
  results[`kcatProduce_p${partitions}`] = await kcatProduce(`kcat-${partitions}`);
  results[`kcatConsume_p${partitions}`] = await kcatConsume(`kcat-${partitions}`);
  results[`kafkajsProduce_p${partitions}`] = await kafkajsProduce(`kafkajs-${partitions}`);
  results[`kafkajsConsume_p${partitions}`] = await kafkajsConsume(`kafkajs-${partitions}`);
}
// BENCH_SKIP_THROUGHPUT=1 leaves the cases above out, BENCH_SKIP_TRANSACTIONS=1 this one.
if (!process.env.BENCH_SKIP_TRANSACTIONS) results.transactionalProduce = await transactionalProduce();
await admin.createTopics({ topics: [{ topic: 'latency', numPartitions: 1 }] });
// Three runs: this machine's disk and neighbours produce occasional multi-millisecond fsync stalls, so one run's
// p99 swings between about 3 and 10 ms; the median run is the figure, all runs are printed.
// With one request in flight a message due just after a request left waits for its answer: the open-loop p99 is
// then about two round trips. Five in flight, as librdkafka sends with idempotence, is what a Kafka client sees.
for (const [name, maxInFlight] of [
  ['produceLatencyAt20k', 1],
  ['produceLatencyAt20k_inFlight5', 5],
] as const) {
  const latencyRuns = [];
  for (let i = 0; i < 3; i++) latencyRuns.push(await rawProduceLatency('latency', maxInFlight));
  const byP99 = [...latencyRuns].sort((a, b) => a.p99Ms - b.p99Ms);
  results[name] = { ...byP99[1]!, runsP99Ms: latencyRuns.map((r) => r.p99Ms) };
}
results.produceLatencyAt20k_kafkajs = await produceLatency('latency', { idempotent: true, maxInFlightRequests: 1 });
await admin.disconnect();
await broker.stop('SIGTERM');
fs.rmSync(dir, { recursive: true, force: true });
// The reference points: the same messages, counts and fixed rate against other brokers on loopback.
const load = { messages: MESSAGES, value: Buffer.from(VALUE), rate: RATE, latencySeconds: LATENCY_SECONDS };
if (installed('redis-server')) {
  results.redisStreams = await benchRedis(load, 'none');
  results.redisStreamsFsyncAlways = await benchRedis(load, 'aof-always');
} else results.redisStreams = 'redis-server is not installed (apt-get install redis-server)';
if (installed('nats-server')) results.natsJetStream = await benchNats(load);
else results.natsJetStream = 'nats-server is not installed (apt-get install nats-server)';
for (const name of ['redisStreams', 'redisStreamsFsyncAlways', 'natsJetStream']) {
  if (results[name] !== undefined) console.error(`${name}: ${JSON.stringify(results[name])}`);
}
console.log(JSON.stringify(results));
