// ApiVersions, Metadata, CreateTopics, DeleteTopics and DeleteRecords: what clients ask before they produce or
// consume, and the admin calls on topics.
import { isSluiceError } from '../../errors.ts';
import { APIS, KafkaError, kafkaErrorOf, type Message } from '../protocol/index.ts';
import { type BrokerContext, ensureTopic, type Handler, topicConfigFrom } from './context.ts';

export function apiVersionsBody(errorCode: number): Message {
  return {
    errorCode,
    apiKeys: [...APIS.values()].map((api) => ({
      apiKey: api.apiKey,
      minVersion: api.minVersion,
      maxVersion: api.maxVersion,
    })),
    throttleTimeMs: 0,
  };
}

export const apiVersions: Handler = () => apiVersionsBody(KafkaError.NONE);

export const metadata: Handler = async (body, broker, { header }) => {
  const requested = body.topics as { name: string }[] | null;
  const all = requested === null || (header.apiVersion === 0 && requested.length === 0);
  const names = all ? broker.log.listTopics().map((t) => t.name) : requested.map((t) => t.name);
  const topics = [];
  for (const name of names) {
    let errorCode: number = KafkaError.NONE;
    try {
      if (!(await ensureTopic(broker, name, body.allowAutoTopicCreation !== false))) {
        errorCode = KafkaError.UNKNOWN_TOPIC_OR_PARTITION;
      }
    } catch (error) {
      errorCode = kafkaErrorOf(error);
    }
    if (errorCode !== KafkaError.NONE) {
      topics.push({ errorCode, name, isInternal: false, partitions: [] });
      continue;
    }
    const info = broker.log.describeTopic(name);
    topics.push({
      errorCode,
      name,
      isInternal: false,
      partitions: info.partitions.map((p) => ({
        errorCode: KafkaError.NONE,
        partitionIndex: p.partition,
        leaderId: broker.nodeId,
        leaderEpoch: 0,
        replicaNodes: [broker.nodeId],
        isrNodes: [broker.nodeId],
        offlineReplicas: [],
      })),
    });
  }
  return {
    throttleTimeMs: 0,
    brokers: [{ nodeId: broker.nodeId, host: broker.host, port: broker.port, rack: null }],
    clusterId: broker.clusterId,
    controllerId: broker.nodeId,
    topics,
  };
};

export const createTopics: Handler = async (body, broker) => {
  const topics = [];
  for (const t of body.topics as Message[]) {
    const result = {
      name: t.name,
      errorCode: KafkaError.NONE as number,
      errorMessage: null as string | null,
      numPartitions: -1,
      replicationFactor: -1,
      configs: [],
    };
    try {
      const assignments = t.assignments as unknown[];
      const partitions =
        assignments.length > 0
          ? assignments.length
          : t.numPartitions === -1
            ? broker.defaultPartitions
            : t.numPartitions;
      if (t.replicationFactor !== -1 && t.replicationFactor !== 1) {
        result.errorCode = KafkaError.INVALID_REPLICATION_FACTOR;
        result.errorMessage = `replication factor ${t.replicationFactor}: this broker is a single replica (use 1 or -1)`;
      } else {
        const config = topicConfigFrom(t.configs);
        if (body.validateOnly) {
          if (broker.log.hasTopic(t.name)) {
            result.errorCode = KafkaError.TOPIC_ALREADY_EXISTS;
            result.errorMessage = `topic ${t.name} already exists`;
          }
        } else {
          await broker.log.createTopic(t.name, { partitions, config });
        }
        result.numPartitions = partitions;
        result.replicationFactor = 1;
      }
    } catch (error) {
      result.errorCode = kafkaErrorOf(error);
      result.errorMessage = isSluiceError(error) ? error.message : String(error);
    }
    topics.push(result);
  }
  return { throttleTimeMs: 0, topics };
};

export const deleteTopics: Handler = async (body, broker: BrokerContext) => {
  const responses = [];
  for (const name of body.topicNames as string[]) {
    try {
      await broker.log.deleteTopic(name);
      responses.push({ name, errorCode: KafkaError.NONE });
    } catch (error) {
      responses.push({ name, errorCode: kafkaErrorOf(error) });
    }
  }
  return { throttleTimeMs: 0, responses };
};

/**
 * Deletes the records below each offset (-1: the high watermark). The log deletes whole segments, so the low
 * watermark it answers can be below the offset asked for (records there stay readable until their segment goes);
 * an offset past the high watermark is refused, as Kafka does.
 */
export const deleteRecords: Handler = (body, broker: BrokerContext) => {
  const topics = (body.topics as Message[]).map((topic) => ({
    name: topic.name,
    partitions: (topic.partitions as Message[]).map((p) => {
      const out = { partitionIndex: p.partitionIndex, lowWatermark: -1, errorCode: KafkaError.NONE as number };
      try {
        const info = broker.log.describeTopic(topic.name as string).partitions[p.partitionIndex as number];
        const offset = Number(p.offset);
        if (info === undefined) out.errorCode = KafkaError.UNKNOWN_TOPIC_OR_PARTITION;
        else if (offset !== -1 && (offset < 0 || offset > info.logEndOffset)) {
          out.errorCode = KafkaError.OFFSET_OUT_OF_RANGE;
        } else {
          const before = offset === -1 ? info.logEndOffset : offset;
          out.lowWatermark = broker.log.purgeBefore(topic.name as string, p.partitionIndex as number, before);
        }
      } catch (error) {
        out.errorCode = kafkaErrorOf(error);
      }
      return out;
    }),
  }));
  return { throttleTimeMs: 0, topics };
};
