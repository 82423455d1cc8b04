// Protocol fuzzing: 10,000+ random and mutated frames against a running broker. Each bad frame may cost its
// connection, never the server: afterwards kafkajs still produces and consumes normally.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { apis, encodeRequest } from '../src/kafka/protocol/index.ts';
import { encodeRecordBatch } from '../src/log/index.ts';
import { startTestBroker, type TestBroker } from './helpers/broker.ts';

const FRAMES = 10_000;
let t: TestBroker;
before(async () => {
  t = await startTestBroker({ autoCreateTopics: true, maxRequestBytes: 1 << 20 });
  await t.log.createTopic('fuzz', { partitions: 2 });
});
after(async () => {
  await t.close();
});

/** A deterministic PRNG so that a failure can be replayed (the seed is in the test name). */
function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function validRequests(): Buffer[] {
  const records = encodeRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('fuzz value') }]);
  return [
    encodeRequest(apis.ApiVersions, 3, 1, 'fuzz', { clientSoftwareName: 'fuzz', clientSoftwareVersion: '1' }),
    encodeRequest(apis.Metadata, 9, 2, 'fuzz', { topics: [{ name: 'fuzz' }], allowAutoTopicCreation: true }),
    encodeRequest(apis.Metadata, 1, 3, 'fuzz', { topics: null }),
    encodeRequest(apis.Produce, 3, 4, 'fuzz', {
      transactionalId: null,
      acks: -1,
      timeoutMs: 1000,
      topicData: [{ name: 'fuzz', partitionData: [{ index: 0, records }] }],
    }),
    encodeRequest(apis.Produce, 9, 5, 'fuzz', {
      transactionalId: null,
      acks: 1,
      timeoutMs: 1000,
      topicData: [{ name: 'fuzz', partitionData: [{ index: 1, records }] }],
    }),
    encodeRequest(apis.Fetch, 4, 6, 'fuzz', {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      topics: [{ topic: 'fuzz', partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 16 }] }],
    }),
    encodeRequest(apis.Fetch, 12, 7, 'fuzz', {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      topics: [{ topic: 'fuzz', partitions: [{ partition: 1, fetchOffset: 0, partitionMaxBytes: 1 << 16 }] }],
      forgottenTopicsData: [],
      rackId: '',
    }),
    encodeRequest(apis.ListOffsets, 1, 8, 'fuzz', {
      replicaId: -1,
      topics: [{ name: 'fuzz', partitions: [{ partitionIndex: 0, timestamp: -1 }] }],
    }),
    encodeRequest(apis.FindCoordinator, 1, 9, 'fuzz', { key: 'g', keyType: 0 }),
    encodeRequest(apis.OffsetFetch, 1, 10, 'fuzz', { groupId: 'g', topics: [{ name: 'fuzz', partitionIndexes: [0] }] }),
    encodeRequest(apis.ListGroups, 0, 11, 'fuzz', {}),
    encodeRequest(apis.CreateTopics, 5, 12, 'fuzz', {
      topics: [{ name: 'fz', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 1000,
      validateOnly: true,
    }),
  ];
}

function mutate(frame: Buffer, random: () => number): Buffer {
  const out = Buffer.from(frame);
  const kind = Math.floor(random() * 6);
  if (kind === 0) {
    // Flip a few bytes after the size prefix.
    for (let i = 0; i < 1 + random() * 4; i++)
      out[4 + Math.floor(random() * (out.length - 4))] = Math.floor(random() * 256);
    return out;
  }
  if (kind === 1) return out.subarray(0, Math.floor(random() * out.length)); // truncated
  if (kind === 2) {
    out.writeInt32BE(Math.floor(random() * 2 ** 31) * (random() < 0.5 ? -1 : 1), 0); // a lying size prefix
    return out;
  }
  if (kind === 3) {
    out.writeInt16BE(Math.floor(random() * 100), 6); // another version
    return out;
  }
  if (kind === 4) {
    out.writeInt16BE(Math.floor(random() * 80) - 5, 4); // another API key
    return out;
  }
  const noise = Buffer.alloc(4 + Math.floor(random() * 200));
  for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(random() * 256);
  noise.writeInt32BE(noise.length - 4, 0); // well-framed garbage
  return noise;
}

/** Sends frames on one connection, then hangs up (the server may drop it earlier). */
function blast(frames: Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(t.broker.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.on('close', () => resolve());
    socket.on('connect', () => {
      for (const frame of frames) if (!socket.destroyed) socket.write(frame);
      // Give the server time to answer or drop us, then hang up ourselves.
      setTimeout(() => socket.destroy(), 20);
    });
  });
}

it(`survives ${FRAMES} random and mutated frames (seed 42) and still serves kafkajs`, async () => {
  const random = mulberry32(42);
  const valid = validRequests();
  // One mutated frame per connection, after a valid one, so that every mutated frame is really parsed (the server
  // drops a connection at its first bad frame); ten connections at a time.
  let sent = 0;
  while (sent < FRAMES) {
    const connections: Promise<void>[] = [];
    for (let c = 0; c < 10; c++) {
      const base = valid[Math.floor(random() * valid.length)]!;
      connections.push(blast([valid[Math.floor(random() * valid.length)]!, mutate(base, random)]));
      sent += 2;
    }
    await Promise.all(connections);
  }
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  const kafka = new Kafka({ brokers: [t.bootstrap], clientId: 'after-fuzz', logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: 'after-fuzz', acks: -1, messages: [{ value: 'still alive' }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: 'after-fuzz', maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: 'after-fuzz', fromBeginning: true });
  const got = await new Promise<string>((resolve) => {
    void consumer.run({ eachMessage: async ({ message }) => resolve(message.value!.toString()) });
  });
  await consumer.disconnect();
  assert.equal(got, 'still alive');
});
