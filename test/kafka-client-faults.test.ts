// The faults real clients hit, end to end: batches whose header max timestamp is -1 (sarama) are found by time
// (kafkajs, kcat); the advertised address reaches Metadata (kcat -L), also through `sluice broker`'s flags; zstd below
// Produce v7 is refused; requests at versions we do not serve close the connection as Kafka's broker does; kcat really
// compresses (it checks that ApiVersions names Produce v0).
import assert from 'node:assert/strict';
import fs from 'node:fs';
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
  KafkaError,
  Produce,
} from '../src/kafka/protocol/index.ts';
import { encodeRecordBatch, readBatchHeaders } from '../src/log/index.ts';
import { installed, run, sluice, startSluice } from '../support/processes.ts';
import { startTestBroker, type TestBroker } from './helpers/broker.ts';
import { call as callOn, connect } from './helpers/kafka-wire.ts';

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

/** One request and its decoded answer over a fresh connection. */
function call<Req, Res>(api: Api<Req, Res>, version: number, body: Req) {
  return callOn(t.broker.port, api, version, body);
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

function produceBody(topic: string, records: Buffer) {
  return {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  };
}

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
