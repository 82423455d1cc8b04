// The admin calls tools make first, through real clients: DescribeConfigs and AlterConfigs (kafkajs),
// IncrementalAlterConfigs and DescribeConfigs v4 (@platformatic/kafka), CreatePartitions (both), DescribeCluster
// (our own codec: neither client has it). Changes are durable and applied: retention deletes by the new setting,
// new partitions take records, and both survive a broker restart.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Admin, ConfigResourceTypes, IncrementalAlterConfigOperationTypes } from '@platformatic/kafka';
import kafkajs from 'kafkajs';
import {
  AlterConfigs,
  type Api,
  DescribeCluster,
  decodeResponse,
  encodeRequest,
  IncrementalAlterConfigs,
  KafkaError,
} from '../src/kafka/protocol/index.ts';
import { startTestBroker, type TestBroker } from './helpers/broker.ts';

const { ConfigResourceTypes: KafkaJSResourceTypes, Kafka, logLevel } = kafkajs;
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
let t: TestBroker;
const kafka = () =>
  new Kafka({ brokers: [t.bootstrap], clientId: 'admin-test', logLevel: logLevel.NOTHING, retry: { retries: 2 } });

before(async () => {
  t = await startTestBroker();
});
after(async () => {
  await t?.close();
});

/** One request over its own connection, decoded with our codec: for answers a client library does not show. */
async function call<Req, Res>(api: Api<Req, Res>, version: number, body: Req) {
  const socket = net.connect(t.broker.port, '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(encodeRequest(api, version, 1, 'raw', body));
    let buffered = Buffer.alloc(0);
    for await (const chunk of socket) {
      buffered = Buffer.concat([buffered, chunk as Buffer]);
      if (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) break;
    }
    return decodeResponse(api, version, buffered.subarray(4, 4 + buffered.readInt32BE(0))).body;
  } finally {
    socket.destroy();
  }
}

type Entry = { configName: string; configValue: string; readOnly: boolean; configSource: number };

describe('configs', () => {
  before(async () => {
    const admin = kafka().admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: 'cfg', numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
    });
    await admin.disconnect();
  });

  it('describes the topic settings the log applies, and the broker settings (kafkajs DescribeConfigs)', async () => {
    const admin = kafka().admin();
    await admin.connect();
    try {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: true,
        resources: [
          { type: KafkaJSResourceTypes.TOPIC, name: 'cfg' },
          { type: KafkaJSResourceTypes.BROKER, name: '0' },
          { type: KafkaJSResourceTypes.TOPIC, name: 'cfg', configNames: ['retention.bytes'] },
        ],
      });
      const topic = new Map((resources[0]!.configEntries as Entry[]).map((e) => [e.configName, e]));
      assert.deepEqual(
        [...topic.keys()],
        [
          'cleanup.policy',
          'compression.type',
          'max.message.bytes',
          'message.timestamp.type',
          'min.insync.replicas',
          'retention.bytes',
          'retention.ms',
          'segment.bytes',
          'segment.ms',
        ],
      );
      const config = t.log.describeTopic('cfg').config;
      assert.equal(topic.get('retention.ms')!.configValue, '3600000');
      assert.equal(topic.get('retention.ms')!.configSource, 1, 'set for the topic');
      assert.equal(topic.get('retention.ms')!.readOnly, false);
      assert.equal(topic.get('segment.bytes')!.configValue, String(config.segmentBytes));
      assert.equal(topic.get('segment.bytes')!.configSource, 5, 'the default');
      assert.equal(topic.get('segment.bytes')!.readOnly, true);
      assert.equal(topic.get('cleanup.policy')!.configValue, 'delete');
      assert.equal(topic.get('max.message.bytes')!.configValue, String(config.maxMessageBytes));
      const broker = new Map((resources[1]!.configEntries as Entry[]).map((e) => [e.configName, e.configValue]));
      assert.equal(broker.get('log.retention.ms'), String(t.log.topicDefaults.retentionMs));
      assert.equal(broker.get('advertised.listeners'), `PLAINTEXT://${t.bootstrap}`);
      assert.equal(broker.get('log.dirs'), t.log.dataDir);
      assert.equal(broker.get('auto.create.topics.enable'), 'false');
      assert.deepEqual(
        (resources[2]!.configEntries as Entry[]).map((e) => e.configName),
        ['retention.bytes'],
      );
      await assert.rejects(
        admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: KafkaJSResourceTypes.TOPIC, name: 'nope' }],
        }),
        { type: 'UNKNOWN_TOPIC_OR_PARTITION' },
      );
    } finally {
      await admin.disconnect();
    }
  });

  it('sets retention with AlterConfigs (kafkajs), refuses other settings by name, and keeps it over a restart', async () => {
    const admin = kafka().admin();
    await admin.connect();
    try {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: KafkaJSResourceTypes.TOPIC,
            name: 'cfg',
            configEntries: [{ name: 'retention.bytes', value: '5000' }],
          },
        ],
      });
      // AlterConfigs replaces: retention.ms, not named, is back at its default.
      assert.equal(t.log.describeTopic('cfg').config.retentionBytes, 5000);
      assert.equal(t.log.describeTopic('cfg').config.retentionMs, t.log.topicDefaults.retentionMs);
      await assert.rejects(
        admin.alterConfigs({
          validateOnly: false,
          resources: [
            {
              type: KafkaJSResourceTypes.TOPIC,
              name: 'cfg',
              configEntries: [{ name: 'segment.bytes', value: '4096' }],
            },
          ],
        }),
        { type: 'INVALID_CONFIG' },
      );
    } finally {
      await admin.disconnect();
    }
    const refused = await call(AlterConfigs, 0, {
      validateOnly: false,
      resources: [
        { resourceType: 2, resourceName: 'cfg', configs: [{ name: 'cleanup.policy', value: 'compact' }] },
        { resourceType: 2, resourceName: 'cfg', configs: [{ name: 'cleanup.policy', value: 'delete' }] },
      ],
    });
    assert.equal(refused.responses[0]!.errorCode, KafkaError.INVALID_REQUEST, 'a resource named twice');
    const named = await call(AlterConfigs, 2, {
      validateOnly: true,
      resources: [
        {
          resourceType: 2,
          resourceName: 'cfg',
          configs: [
            { name: 'cleanup.policy', value: 'delete' }, // unchanged: accepted
            { name: 'segment.ms', value: '1' },
          ],
        },
      ],
    });
    assert.equal(named.responses[0]!.errorCode, KafkaError.INVALID_CONFIG);
    assert.match(named.responses[0]!.errorMessage ?? '', /segment\.ms cannot be changed/);
    await t.restart();
    assert.equal(t.log.describeTopic('cfg').config.retentionBytes, 5000);
  });

  it('sets and deletes retention with IncrementalAlterConfigs (@platformatic/kafka), applied by retention', {
    timeout: 30_000,
  }, async () => {
    await t.log.createTopic('aged', { partitions: 1, config: { segmentBytes: 2048 } });
    const hourAgo = Date.now() - 3_600_000;
    for (let i = 0; i < 60; i++) {
      await t.log.append('aged', 0, [{ key: null, value: Buffer.alloc(80, 97), timestamp: hourAgo }]);
    }
    const retention = () => (t.log as unknown as { enforceRetention(now?: number): void }).enforceRetention();
    retention();
    assert.equal(t.log.describeTopic('aged').partitions[0]!.logStartOffset, 0, 'seven days keep an hour-old log');
    const admin = new Admin({ clientId: 'incremental', bootstrapBrokers: [t.bootstrap] });
    try {
      await admin.incrementalAlterConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: 'aged',
            configs: [
              { name: 'retention.ms', configOperation: IncrementalAlterConfigOperationTypes.SET, value: '60000' },
            ],
          },
        ],
      });
      retention();
      const after = t.log.describeTopic('aged').partitions[0]!;
      assert.ok(after.logStartOffset > 0, 'retention applied the new setting');
      assert.equal(after.logEndOffset, 60);
      const [described] = await admin.describeConfigs({
        resources: [
          { resourceType: ConfigResourceTypes.TOPIC, resourceName: 'aged', configurationKeys: ['retention.ms'] },
        ],
        includeSynonyms: true,
        includeDocumentation: true,
      });
      const entry = described!.configs[0]!;
      assert.deepEqual(
        [entry.name, entry.value, entry.configSource, entry.configType],
        ['retention.ms', '60000', 1, 5],
      );
      assert.deepEqual(
        entry.synonyms.map((s) => [s.name, s.source]),
        [
          ['retention.ms', 1],
          ['log.retention.ms', 5],
        ],
      );
      assert.match(entry.documentation ?? '', /older than this/);
      await admin.incrementalAlterConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: 'aged',
            configs: [{ name: 'retention.ms', configOperation: IncrementalAlterConfigOperationTypes.DELETE }],
          },
        ],
      });
      assert.equal(t.log.describeTopic('aged').config.retentionMs, t.log.topicDefaults.retentionMs);
      await assert.rejects(
        admin.incrementalAlterConfigs({
          resources: [
            {
              resourceType: ConfigResourceTypes.TOPIC,
              resourceName: 'aged',
              configs: [
                { name: 'max.message.bytes', configOperation: IncrementalAlterConfigOperationTypes.SET, value: '1' },
              ],
            },
          ],
        }),
      );
    } finally {
      await admin.close();
    }
    const answer = await call(IncrementalAlterConfigs, 1, {
      validateOnly: false,
      resources: [
        {
          resourceType: 2,
          resourceName: 'aged',
          configs: [{ name: 'max.message.bytes', configOperation: 0, value: '1' }],
        },
      ],
    });
    assert.equal(answer.responses[0]!.errorCode, KafkaError.INVALID_CONFIG);
    assert.match(answer.responses[0]!.errorMessage ?? '', /max\.message\.bytes cannot be changed/);
    for (const [configs, pattern] of [
      [[{ name: 'retention.ms', configOperation: 2, value: '1' }], /APPEND does not apply to retention\.ms/],
      [[{ name: 'retention.ms', configOperation: 0, value: 'soon' }], /retention\.ms must be an integer/],
      [[{ name: 'no.such.setting', configOperation: 0, value: '1' }], /unknown or unsupported topic config no\.such/],
    ] as const) {
      const refused = await call(IncrementalAlterConfigs, 0, {
        validateOnly: false,
        resources: [{ resourceType: 2, resourceName: 'aged', configs: [...configs] }],
      });
      assert.equal(refused.responses[0]!.errorCode, KafkaError.INVALID_CONFIG);
      assert.match(refused.responses[0]!.errorMessage ?? '', pattern);
    }
    const broker = await call(IncrementalAlterConfigs, 1, {
      validateOnly: false,
      resources: [
        { resourceType: 4, resourceName: '0', configs: [{ name: 'log.retention.ms', configOperation: 0, value: '1' }] },
      ],
    });
    assert.equal(broker.responses[0]!.errorCode, KafkaError.INVALID_CONFIG);
    assert.match(broker.responses[0]!.errorMessage ?? '', /log\.retention\.ms cannot be changed while the broker runs/);
  });
});

describe('partitions and cluster', () => {
  it('grows a topic with CreatePartitions (kafkajs, @platformatic/kafka), refuses to shrink it, and keeps it', {
    timeout: 60_000,
  }, async () => {
    const admin = kafka().admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'grow', numPartitions: 2 }] });
      await admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 4 }] });
      const meta = await admin.fetchTopicMetadata({ topics: ['grow'] });
      assert.equal(meta.topics[0]!.partitions.length, 4);
      await assert.rejects(admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 3 }] }), {
        type: 'INVALID_PARTITIONS',
      });
      await assert.rejects(admin.createPartitions({ topicPartitions: [{ topic: 'nope', count: 3 }] }), {
        type: 'UNKNOWN_TOPIC_OR_PARTITION',
      });
    } finally {
      await admin.disconnect();
    }
    const flexible = new Admin({ clientId: 'grow', bootstrapBrokers: [t.bootstrap] });
    try {
      await flexible.createPartitions({ topics: [{ name: 'grow', count: 6 }] });
      await assert.rejects(flexible.createPartitions({ topics: [{ name: 'grow', count: 6 }] }));
      await assert.rejects(
        flexible.createPartitions({ topics: [{ name: 'grow', count: 7, assignments: [{ brokerIds: [5] }] }] }),
      );
    } finally {
      await flexible.close();
    }
    const producer = kafka().producer();
    await producer.connect();
    await producer.send({ topic: 'grow', messages: [{ partition: 5, value: 'in a new partition' }] });
    await producer.disconnect();
    await t.restart();
    const info = t.log.describeTopic('grow');
    assert.equal(info.partitions.length, 6);
    assert.equal(t.log.readRecords('grow', 5, 0).records[0]!.value!.toString(), 'in a new partition');
  });

  it('describes the cluster: this one broker, its own controller (DescribeCluster v0, v1)', async () => {
    for (const version of [0, 1]) {
      const body = await call(DescribeCluster, version, { includeClusterAuthorizedOperations: false, endpointType: 1 });
      assert.equal(body.errorCode, KafkaError.NONE);
      assert.match(body.clusterId, /^sluice-/);
      assert.equal(body.controllerId, 0);
      assert.deepEqual(
        body.brokers.map((b) => `${b.brokerId}@${b.host}:${b.port}`),
        [`0@${t.bootstrap}`],
      );
    }
    const controllers = await call(DescribeCluster, 1, { includeClusterAuthorizedOperations: false, endpointType: 2 });
    assert.equal(controllers.errorCode, KafkaError.UNSUPPORTED_ENDPOINT_TYPE);
  });
});
