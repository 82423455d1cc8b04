// The log checkpoint store over a Kafka cluster (KafkaClusterLog against Sluice's broker, in this process): its
// topic is created with infinite retention, and the store keeps it bounded with DeleteRecords, a savepoint copied
// forward staying loadable by a process that connects afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectKafkaLog, type KafkaClusterLog } from '../src/connectors/index.ts';
import { encodeCheckpoint } from '../src/engine/checkpoint/format.ts';
import { checkpointTopic, LogCheckpointStore, type StoredCheckpoint } from '../src/engine/index.ts';
import { createLogger } from '../src/logger.ts';
import { startTestBroker, type TestBroker } from './helpers/broker.ts';

let t: TestBroker;
const clients: KafkaClusterLog[] = [];
before(async () => {
  t = await startTestBroker();
});
after(async () => {
  for (const client of clients) await client.close();
  await t.close();
});

async function connect(): Promise<KafkaClusterLog> {
  const log = await connectKafkaLog({ bootstrap: t.bootstrap, clientId: 'checkpoints' });
  clients.push(log);
  return log;
}

const TOPIC = checkpointTopic('p');
const logger = createLogger('test');

function data(id: number, bytes = 300, fill = id) {
  const sources = { s: Buffer.alloc(bytes, fill) };
  return encodeCheckpoint({ pipeline: 'p', id, kind: 'checkpoint', takenAt: 0, sources, operators: {}, sinks: {} });
}

const fill = (stored: StoredCheckpoint | undefined) => (stored?.data.sources.s as Buffer | undefined)?.[0];

function store(log: KafkaClusterLog) {
  return new LogCheckpointStore({
    log,
    topic: TOPIC,
    scope: 'p0000',
    retain: 2,
    logger,
    chunkBytes: 100,
    segmentBytes: 4096,
  });
}

describe('LogCheckpointStore on a Kafka cluster', () => {
  it('creates its topic kept forever, and purges it with DeleteRecords', async () => {
    const log = await connect();
    const s = store(log);
    await s.open();
    const { config } = t.log.describeTopic(TOPIC);
    assert.equal(config.retentionMs, -1);
    assert.equal(config.retentionBytes, -1);
    assert.equal(config.segmentBytes, 4096);

    await s.writeCheckpoint(1, data(1));
    await s.writeSavepoint('keep', data(0, 1000, 7));
    for (let id = 2; id <= 150; id++) await s.writeCheckpoint(id, data(id));
    const broker = t.log.describeTopic(TOPIC).partitions[0]!;
    assert.ok(broker.logStartOffset > broker.logEndOffset - 200, `start ${broker.logStartOffset}`);
    assert.ok(broker.sizeBytes < 6 * 4096, `${broker.sizeBytes} bytes`);
    assert.equal(log.describeTopic(TOPIC).partitions[0]!.logStartOffset, broker.logStartOffset);

    const later = store(await connect());
    await later.open();
    assert.equal((await later.loadLatest())?.data.id, 150);
    assert.equal(fill(await later.loadSavepoint('keep')), 7);
  });
});
