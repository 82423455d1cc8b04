// @platformatic/kafka speaks only flexible protocol versions (compact encodings, tagged fields): admin (topics,
// DeleteRecords), idempotent produce, and a consumer group reading everything back.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';
import { startTestBroker, type TestBroker } from './helpers/broker.ts';

let t: TestBroker;
before(async () => {
  t = await startTestBroker();
});
after(async () => {
  await t.close();
});

it('creates a topic, produces and consumes with flexible versions', async () => {
  const admin = new Admin({ clientId: 'admin', bootstrapBrokers: [t.bootstrap] });
  await admin.createTopics({ topics: ['flex'], partitions: 3, replicas: 1 });
  const meta = await admin.metadata({ topics: ['flex'] });
  assert.equal(meta.topics.get('flex')?.partitionsCount, 3);
  await admin.close();

  const producer = new Producer({
    clientId: 'p',
    bootstrapBrokers: [t.bootstrap],
    serializers: stringSerializers,
    idempotent: true,
  });
  const messages = Array.from({ length: 300 }, (_, i) => ({ topic: 'flex', key: `k${i}`, value: `v${i}` }));
  await producer.send({ messages });
  await producer.close();

  const consumer = new Consumer({
    clientId: 'c',
    groupId: 'flex-group',
    bootstrapBrokers: [t.bootstrap],
    deserializers: stringDeserializers,
    maxWaitTime: 200,
  });
  const stream = await consumer.consume({ topics: ['flex'], mode: 'earliest' });
  const got = new Set<string>();
  for await (const message of stream) {
    got.add(`${message.key}=${message.value}`);
    if (got.size === 300) break;
  }
  await stream.close();
  await consumer.close();
  assert.deepEqual([...got].sort(), messages.map((m) => `${m.key}=${m.value}`).sort());
});

it('gives every idempotent producer its own id, even when it names one (regression: two producers shared id 0)', async () => {
  const admin = new Admin({ clientId: 'admin', bootstrapBrokers: [t.bootstrap] });
  await admin.createTopics({ topics: ['shared-seq'], partitions: 3, replicas: 1 });
  await admin.close();
  for (let round = 0; round < 3; round++) {
    const producer = new Producer({
      clientId: `p${round}`,
      bootstrapBrokers: [t.bootstrap],
      serializers: stringSerializers,
      idempotent: true,
    });
    await producer.send({
      messages: Array.from({ length: 5 }, (_, i) => ({ topic: 'shared-seq', key: `k${i}`, value: `${round}-${i}` })),
    });
    await producer.close();
  }
  const total = t.log.describeTopic('shared-seq').partitions.reduce((n, p) => n + p.logEndOffset, 0);
  assert.equal(total, 15);
});

it('deletes records below an offset with DeleteRecords (flexible v2): whole segments, past the end refused', async () => {
  await t.log.createTopic('trim', { partitions: 1, config: { segmentBytes: 2048, retentionMs: -1 } });
  for (let i = 0; i < 60; i++) await t.log.append('trim', 0, [{ key: null, value: Buffer.alloc(80, 97) }]);
  const admin = new Admin({ clientId: 'admin', bootstrapBrokers: [t.bootstrap] });
  try {
    const [deleted] = await admin.deleteRecords({
      topics: [{ name: 'trim', partitions: [{ partition: 0, offset: 40n }] }],
    });
    const low = Number(deleted!.partitions[0]!.lowWatermark);
    assert.ok(low > 0 && low <= 40, `low watermark ${low}`);
    assert.equal(t.log.describeTopic('trim').partitions[0]!.logStartOffset, low);
    await assert.rejects(
      admin.deleteRecords({ topics: [{ name: 'trim', partitions: [{ partition: 0, offset: 61n }] }] }),
    );
    assert.equal(t.log.describeTopic('trim').partitions[0]!.logStartOffset, low, 'a refused delete deletes nothing');
  } finally {
    await admin.close();
  }
});
