// Metadata, DescribeCluster, CreateTopics, CreatePartitions, DeleteTopics and DeleteRecords: what clients ask before
// they produce or consume, and the admin calls on topics. (ApiVersions answers from the registry, in index.ts;
// configs are configs.ts's.)
import { isSluiceError } from '../../errors.ts';
import {
  type CreatePartitionsRequest,
  type CreatePartitionsResponse,
  type CreateTopicsRequest,
  type CreateTopicsResponse,
  type DeleteRecordsRequest,
  type DeleteRecordsResponse,
  type DeleteTopicsRequest,
  type DeleteTopicsResponse,
  type DescribeClusterRequest,
  type DescribeClusterResponse,
  KafkaError,
  kafkaErrorOf,
  type MetadataRequest,
  type MetadataResponse,
} from '../protocol/index.ts';
import { ensureTopic, type Handler, topicConfigFrom } from './context.ts';

type CreatableTopicResult = CreateTopicsResponse['topics'][number];
type MetadataResponseTopic = MetadataResponse['topics'][number];

export const metadata: Handler<MetadataRequest, MetadataResponse> = async (body, broker, { header }) => {
  const requested = body.topics;
  // v0: an empty array means all topics; v1+: null does.
  const all = requested === null || (header.apiVersion === 0 && requested.length === 0);
  const names = all ? broker.log.listTopics().map((t) => t.name) : requested.map((t) => t.name);
  const topics: MetadataResponseTopic[] = [];
  for (const name of names) {
    let errorCode: number = KafkaError.NONE;
    try {
      if (!(await ensureTopic(broker, name, body.allowAutoTopicCreation))) {
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

/** The cluster is this one broker, its own controller; only brokers are described (endpoint type 1), as Kafka's do. */
export const describeCluster: Handler<DescribeClusterRequest, DescribeClusterResponse> = (body, broker) => {
  const endpointType = body.endpointType ?? 1;
  const brokers =
    endpointType === 1 ? [{ brokerId: broker.nodeId, host: broker.host, port: broker.port, rack: null }] : [];
  return {
    throttleTimeMs: 0,
    errorCode: endpointType === 1 ? KafkaError.NONE : KafkaError.UNSUPPORTED_ENDPOINT_TYPE,
    errorMessage: endpointType === 1 ? null : `endpoint type ${endpointType}: a broker describes brokers (1) only`,
    endpointType,
    clusterId: broker.clusterId,
    controllerId: broker.nodeId,
    brokers,
    clusterAuthorizedOperations: -2147483648,
  };
};

export const createTopics: Handler<CreateTopicsRequest, CreateTopicsResponse> = async (body, broker) => {
  const topics: CreatableTopicResult[] = [];
  for (const t of body.topics) {
    const result = {
      name: t.name,
      errorCode: KafkaError.NONE as number,
      errorMessage: null as string | null,
      numPartitions: -1,
      replicationFactor: -1,
      configs: [],
    };
    try {
      const assignments = t.assignments;
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

/**
 * Grows topics to the partition counts asked for; fewer or as many as now is INVALID_PARTITIONS, as in Kafka. Replica
 * assignments may only name this broker. Each topic on its own: one topic's failure leaves the others grown.
 */
export const createPartitions: Handler<CreatePartitionsRequest, CreatePartitionsResponse> = async (body, broker) => {
  const counts = new Map<string, number>();
  for (const t of body.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
  const results: CreatePartitionsResponse['results'] = [];
  for (const t of body.topics) {
    const result = { name: t.name, errorCode: KafkaError.NONE as number, errorMessage: null as string | null };
    try {
      const current = broker.log.hasTopic(t.name) ? broker.log.describeTopic(t.name).partitions.length : 0;
      if (counts.get(t.name)! > 1) {
        result.errorCode = KafkaError.INVALID_REQUEST;
        result.errorMessage = `topic ${t.name} is named more than once`;
      } else if (
        t.assignments !== null &&
        (t.assignments.length !== t.count - current ||
          t.assignments.some((a) => a.brokerIds.length !== 1 || a.brokerIds[0] !== broker.nodeId))
      ) {
        result.errorCode = KafkaError.INVALID_REPLICA_ASSIGNMENT;
        result.errorMessage = `assignments must give each of the ${t.count - current} new partitions one replica, on broker ${broker.nodeId}`;
      } else {
        await broker.log.createPartitions(t.name, t.count, { validateOnly: body.validateOnly });
      }
    } catch (error) {
      result.errorCode = kafkaErrorOf(error);
      result.errorMessage = isSluiceError(error) ? error.message : String(error);
    }
    results.push(result);
  }
  return { throttleTimeMs: 0, results };
};

export const deleteTopics: Handler<DeleteTopicsRequest, DeleteTopicsResponse> = async (body, broker) => {
  const responses: DeleteTopicsResponse['responses'] = [];
  for (const name of body.topicNames) {
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
export const deleteRecords: Handler<DeleteRecordsRequest, DeleteRecordsResponse> = (body, broker) => {
  const topics = body.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((p) => {
      const out = { partitionIndex: p.partitionIndex, lowWatermark: -1, errorCode: KafkaError.NONE as number };
      try {
        const info = broker.log.describeTopic(topic.name).partitions[p.partitionIndex];
        const offset = p.offset;
        if (info === undefined) out.errorCode = KafkaError.UNKNOWN_TOPIC_OR_PARTITION;
        else if (offset !== -1 && (offset < 0 || offset > info.logEndOffset)) {
          out.errorCode = KafkaError.OFFSET_OUT_OF_RANGE;
        } else {
          const before = offset === -1 ? info.logEndOffset : offset;
          out.lowWatermark = broker.log.purgeBefore(topic.name, p.partitionIndex, before);
        }
      } catch (error) {
        out.errorCode = kafkaErrorOf(error);
      }
      return out;
    }),
  }));
  return { throttleTimeMs: 0, topics };
};
