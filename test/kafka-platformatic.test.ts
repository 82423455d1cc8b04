// @platformatic/kafka speaks only flexible protocol versions (compact encodings, tagged fields): admin, idempotent
// produce, and a consumer group reading everything back.
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

it('creates a topic, produces and consumes with flexible versions', { timeout: 60_000 }, async () => {
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

it('gives every idempotent producer its own id, even when it names one (regression: two producers shared id 0)', {
  timeout: 60_000,
}, async () => {
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
