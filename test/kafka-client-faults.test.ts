// The faults real clients hit, end to end: transactional producers fail fast (kcat, kafkajs); batches whose header max
// timestamp is -1 (sarama) are found by time (kafkajs, kcat); the advertised address reaches Metadata (kcat -L), also
// through `sluice broker`'s flags; zstd below Produce v7 is refused; requests at versions we do not serve close the
// connection as Kafka's broker does; kcat really compresses (it checks that ApiVersions names Produce v0).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crc32c } from '@node-rs/crc32';
import { Kafka, logLevel } from 'kafkajs';
import {
  type Api,
  ApiVersions,
  DescribeCluster,
  decodeResponse,
  encodeRequest,
  FindCoordinator,
  InitProducerId,
  KafkaError,
  Produce,
} from '../src/kafka/protocol/index.ts';
import { encodeRecordBatch, readBatchHeaders } from '../src/log/index.ts';
import { installed, run, sluice, startSluice } from '../support/processes.ts';
import { startTestBroker, type TestBroker } from './helpers/broker.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const hasKcat = installed('kcat');
const needsKcat = { skip: hasKcat ? false : 'kcat is not installed (.ci/run installs it with apt-get)' };
let t: TestBroker;

before(async () => {
  t = await startTestBroker({ autoCreateTopics: true });
});
after(async () => {
  await t?.close();
});

/** One connection speaking raw frames: what a client that ignores ApiVersions, or an old one, sends. */
async function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let pending = Buffer.alloc(0);
  const frames: Buffer[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
      frames.push(pending.subarray(4, 4 + pending.readInt32BE(0)));
      pending = pending.subarray(4 + pending.readInt32BE(0));
    }
    wake?.();
  });
  socket.on('close', () => {
    closed = true;
    wake?.();
  });
  socket.on('error', () => {});
  return {
    send(frame: Buffer) {
      socket.write(frame);
    },
    /** The next response frame (without its size), or null once the broker closed the connection. */
    async next(): Promise<Buffer | null> {
      while (frames.length === 0 && !closed) await new Promise<void>((resolve) => (wake = resolve));
      return frames.shift() ?? null;
    },
    close() {
      socket.destroy();
    },
  };
}

let correlation = 100;
/** One request and its decoded answer over a fresh connection. */
async function call<Req, Res>(api: Api<Req, Res>, version: number, body: Req) {
  const c = await connect(t.broker.port);
  try {
    const id = correlation++;
    c.send(encodeRequest(api, version, id, 'raw', body));
    const frame = await c.next();
    assert.ok(frame !== null, `${api.name} v${version} got an answer`);
    const decoded = decodeResponse(api, version, frame);
    assert.equal(decoded.correlationId, id);
    return decoded.body;
  } finally {
    c.close();
  }
}

/** A request frame of any key and version with an empty body (enough for the broker to read its header). */
function rawHeader(apiKey: number, version: number, correlationId: number): Buffer {
  const frame = Buffer.alloc(4 + 10);
  frame.writeInt32BE(10, 0);
  frame.writeInt16BE(apiKey, 4);
  frame.writeInt16BE(version, 6);
  frame.writeInt32BE(correlationId, 8);
  frame.writeInt16BE(-1, 12); // null client id
  return frame;
}

/** A record batch as sarama writes it: the header's max timestamp left at -1 (the CRC still right). */
function saramaBatch(records: { value: string; timestamp: number }[], compression: 'none' | 'gzip' = 'none'): Buffer {
  const batch = encodeRecordBatch(
    records.map((r) => ({ key: null, value: Buffer.from(r.value), timestamp: r.timestamp })),
    { compression },
  );
  batch.writeBigInt64BE(-1n, 35);
  batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
  return batch;
}

function produceBody(topic: string, records: Buffer, transactionalId: string | null = null) {
  return {
    transactionalId,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  };
}

describe('transactional producers fail fast', () => {
  it('answers FindCoordinator for a transaction, and InitProducerId with a transactional id, with a fatal error', async () => {
    const v3 = await call(FindCoordinator, 3, { key: 'tx', keyType: 1, coordinatorKeys: [] });
    assert.equal(v3.errorCode, KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    assert.match(v3.errorMessage ?? '', /transactions are not supported/);
    const v4 = await call(FindCoordinator, 4, { key: '', keyType: 1, coordinatorKeys: ['a', 'b'] });
    assert.deepEqual(
      v4.coordinators.map((c) => [c.key, c.errorCode]),
      [
        ['a', KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED],
        ['b', KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED],
      ],
    );
    const group = await call(FindCoordinator, 3, { key: 'g', keyType: 0, coordinatorKeys: [] });
    assert.equal(group.errorCode, KafkaError.NONE);
    const unknown = await call(FindCoordinator, 3, { key: 'g', keyType: 7, coordinatorKeys: [] });
    assert.equal(unknown.errorCode, KafkaError.INVALID_REQUEST);
    const init = await call(InitProducerId, 4, {
      transactionalId: 'tx',
      transactionTimeoutMs: 60_000,
      producerId: -1,
      producerEpoch: -1,
    });
    assert.equal(init.errorCode, KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  });

  it('makes kcat -X transactional.id=… exit with an error within seconds', {
    ...needsKcat,
    timeout: 30_000,
  }, async () => {
    const started = Date.now();
    const result = await run(
      'kcat',
      ['-b', t.bootstrap, '-P', '-t', 'tx-kcat', '-X', 'transactional.id=t1'],
      'one\n',
      20_000,
    );
    const took = Date.now() - started;
    assert.notEqual(result.code, 0, 'kcat failed');
    assert.equal(result.code === null, false, `kcat hung until killed after ${took} ms: ${result.stderr}`);
    assert.match(result.stderr, /Transactional Id authorization failed: transactions are not supported/);
    assert.ok(took < 15_000, `kcat took ${took} ms`);
    assert.equal(t.log.hasTopic('tx-kcat') ? t.log.describeTopic('tx-kcat').partitions[0]!.logEndOffset : 0, 0);
  });

  it("rejects kafkajs's transaction() at once, with no retries", { timeout: 30_000 }, async () => {
    // Retries that would take a minute: a retriable answer (COORDINATOR_NOT_AVAILABLE) would exhaust them all.
    const kafka = new Kafka({
      brokers: [t.bootstrap],
      clientId: 'tx',
      logLevel: logLevel.NOTHING,
      retry: { retries: 10, initialRetryTime: 1000, maxRetryTime: 10_000 },
    });
    const producer = kafka.producer({ transactionalId: 'kjs-tx', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const started = Date.now();
    // kafkajs reports any non-retriable FindCoordinator error as this one (the broker's is in its debug log).
    await assert.rejects(producer.transaction(), { name: 'KafkaJSGroupCoordinatorNotFound', retriable: false });
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    await producer.disconnect();
  });
});

describe('lookups by time over batches whose header max timestamp is -1 (sarama)', () => {
  const base = 1_700_000_000_000;
  before(async () => {
    await t.log.createTopic('sarama', { partitions: 1 });
    for (const [i, compression] of (['none', 'gzip'] as const).entries()) {
      const batch = saramaBatch(
        [0, 1, 2].map((j) => ({ value: `r${i * 3 + j}`, timestamp: base + (i * 3 + j) * 1000 })),
        compression,
      );
      const answer = await call(Produce, 7, produceBody('sarama', batch));
      assert.equal(answer.responses[0]!.partitionResponses[0]!.errorCode, KafkaError.NONE);
    }
  });

  it('finds offsets by timestamp through kafkajs (ListOffsets)', async () => {
    const kafka = new Kafka({ brokers: [t.bootstrap], clientId: 'ts', logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const at = async (ts: number) => Number((await admin.fetchTopicOffsetsByTimestamp('sarama', ts))[0]!.offset);
      assert.equal(await at(base + 1500), 2);
      assert.equal(await at(base + 3000), 3);
      assert.equal(await at(base + 4200), 5);
      assert.equal(await at(base - 1), 0);
    } finally {
      await admin.disconnect();
    }
  });

  it('starts kcat at a timestamp (-o s@ts)', { ...needsKcat, timeout: 30_000 }, async () => {
    const result = await run('kcat', [
      '-b',
      t.bootstrap,
      '-C',
      '-t',
      'sarama',
      '-o',
      `s@${base + 3500}`,
      '-e',
      '-f',
      '%o %s\n',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.toString().trim().split('\n'), ['4 r4', '5 r5']);
  });
});

describe('advertised address', () => {
  it('answers Metadata, FindCoordinator and DescribeCluster with the advertised host and port (kcat -L)', {
    ...needsKcat,
    timeout: 30_000,
  }, async () => {
    const advertised = await startTestBroker({ advertisedHost: 'localhost', advertisedPort: 29_092 });
    try {
      assert.equal(advertised.broker.address, 'localhost:29092');
      assert.equal(advertised.broker.host, '127.0.0.1');
      const bound = `127.0.0.1:${advertised.broker.port}`;
      const result = await run('kcat', ['-b', bound, '-L', '-J', '-m', '5']);
      assert.equal(result.code, 0, result.stderr);
      const meta = JSON.parse(result.stdout.toString());
      assert.deepEqual(
        meta.brokers.map((b: { id: number; name: string }) => [b.id, b.name]),
        [[0, 'localhost:29092']],
      );
      const c = await connect(advertised.broker.port);
      c.send(encodeRequest(FindCoordinator, 3, 1, null, { key: 'g', keyType: 0, coordinatorKeys: [] }));
      const coordinator = decodeResponse(FindCoordinator, 3, (await c.next())!).body;
      assert.deepEqual([coordinator.host, coordinator.port], ['localhost', 29_092]);
      c.send(
        encodeRequest(DescribeCluster, 1, 2, null, { includeClusterAuthorizedOperations: false, endpointType: 1 }),
      );
      const cluster = decodeResponse(DescribeCluster, 1, (await c.next())!).body;
      assert.deepEqual(
        cluster.brokers.map((b) => [b.brokerId, b.host, b.port]),
        [[0, 'localhost', 29_092]],
      );
      c.close();
    } finally {
      await advertised.close();
    }
  });

  it('takes --advertised-host/--advertised-port on sluice broker, and refuses a bad host', needsKcat, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-adv-'));
    const daemon = startSluice([
      'broker',
      '--data-dir',
      dataDir,
      '--kafka-port',
      '0',
      '--advertised-host',
      'kafka.example.internal',
      '--advertised-port',
      '19093',
    ]);
    try {
      const [, port] = await daemon.waitFor(/127\.0\.0\.1:(\d+), advertised as kafka\.example\.internal:19093/, 30_000);
      const result = await run('kcat', ['-b', `127.0.0.1:${port}`, '-L', '-J', '-m', '5']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout.toString()).brokers[0].name, 'kafka.example.internal:19093');
    } finally {
      await daemon.stop('SIGINT');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
    const bad = await sluice(['broker', '--data-dir', dataDir, '--advertised-host', 'not a host']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /is not a host name or IP address/);
  });

  it('takes the same flags on the embedded listener of sluice run (dev and up share them), not with --bootstrap', {
    ...needsKcat,
  }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-adv-run-'));
    const tiny = fileURLToPath(new URL('./fixtures/runtime-tiny.ts', import.meta.url));
    const common = ['--data-dir', dataDir, '--no-http', '--advertised-host', 'kafka.example.internal'];
    const daemon = startSluice(['run', tiny, '--kafka-port', '0', '--advertised-port', '19094', ...common]);
    try {
      const [, port] = await daemon.waitFor(/127\.0\.0\.1:(\d+), advertised as kafka\.example\.internal:19094/);
      const result = await run('kcat', ['-b', `127.0.0.1:${port}`, '-L', '-J', '-m', '5']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout.toString()).brokers[0].name, 'kafka.example.internal:19094');
    } finally {
      await daemon.stop('SIGINT');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
    const refused = await sluice(['run', tiny, '--bootstrap', '127.0.0.1:1', ...common]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /drop --advertised-host/);
    for (const command of ['dev', 'up']) {
      assert.match((await sluice([command, '--help'])).stdout.toString(), /--advertised-host <host>/, command);
    }
  });
});

describe('compression and protocol versions', () => {
  it('refuses zstd batches below Produce v7 per partition, as Kafka does, and takes them from v7', async () => {
    const zstd = () => encodeRecordBatch([{ key: null, value: Buffer.from('z') }], { compression: 'zstd' });
    const gzip = encodeRecordBatch([{ key: null, value: Buffer.from('g') }], { compression: 'gzip' });
    const v6 = await call(Produce, 6, produceBody('zstd-old', zstd()));
    const refused = v6.responses[0]!.partitionResponses[0]!;
    assert.equal(refused.errorCode, KafkaError.UNSUPPORTED_COMPRESSION_TYPE);
    assert.equal(t.log.describeTopic('zstd-old').partitions[0]!.logEndOffset, 0, 'nothing was written');
    const gzipV3 = await call(Produce, 3, produceBody('zstd-old', gzip));
    assert.equal(gzipV3.responses[0]!.partitionResponses[0]!.errorCode, KafkaError.NONE);
    const v7 = await call(Produce, 7, produceBody('zstd-old', zstd()));
    assert.equal(v7.responses[0]!.partitionResponses[0]!.errorCode, KafkaError.NONE);
    assert.equal(t.log.describeTopic('zstd-old').partitions[0]!.logEndOffset, 2);
  });

  it('closes the connection on a request at a version it does not serve, as Kafka does; ApiVersions gets a v0 answer', async () => {
    for (const [apiKey, version] of [
      [0, 2], // Produce v0-v2: gone in Kafka 4.0
      [1, 3], // Fetch v0-v3: likewise
      [3, 99],
      [999, 0], // an API we do not know
    ] as const) {
      const c = await connect(t.broker.port);
      c.send(rawHeader(apiKey, version, 7));
      assert.equal(await c.next(), null, `key ${apiKey} v${version}: the connection closes without an answer`);
      c.close();
    }
    // ApiVersions at a version we lack: a v0 answer with UNSUPPORTED_VERSION and our versions; the connection stays.
    const c = await connect(t.broker.port);
    c.send(rawHeader(ApiVersions.apiKey, 99, 8));
    const answer = decodeResponse(ApiVersions, 0, (await c.next())!);
    assert.equal(answer.correlationId, 8);
    assert.equal(answer.body.errorCode, KafkaError.UNSUPPORTED_VERSION);
    const produce = answer.body.apiKeys.find((k) => k.apiKey === Produce.apiKey)!;
    assert.deepEqual([produce.minVersion, produce.maxVersion], [0, 9], 'Produce named from v0, as Kafka 4.0 does');
    c.send(encodeRequest(ApiVersions, 3, 9, 'raw', { clientSoftwareName: 'raw', clientSoftwareVersion: '1' }));
    assert.equal(decodeResponse(ApiVersions, 3, (await c.next())!).body.errorCode, KafkaError.NONE);
    c.close();
  });

  it('is sent gzip, snappy and lz4 batches by kcat (librdkafka < 2.8 compresses only if Produce v0 is named)', {
    ...needsKcat,
    timeout: 60_000,
  }, async () => {
    for (const codec of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
      const topic = `kcat-${codec}`;
      const lines = Array.from({ length: 200 }, (_, i) => `${codec} ${i} ${'x'.repeat(100)}`).join('\n');
      const produced = await run(
        'kcat',
        ['-b', t.bootstrap, '-P', '-t', topic, '-z', codec, '-X', 'linger.ms=50'],
        `${lines}\n`,
      );
      assert.equal(produced.code, 0, produced.stderr);
      const stored = readBatchHeaders(t.log.readRaw(topic, 0, 0, { maxBytes: 1 << 20 }).batches);
      assert.ok(stored.length > 0);
      assert.deepEqual([...new Set(stored.map((h) => h.compression))], [codec], `${codec}: stored batches compressed`);
    }
  });
});
