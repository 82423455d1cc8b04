// Consumer-group APIs: coordinator discovery, membership (through the GroupCoordinator) and committed offsets.
import {
  type DescribeGroupsRequest,
  type DescribeGroupsResponse,
  type FindCoordinatorRequest,
  type FindCoordinatorResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type JoinGroupRequest,
  type JoinGroupResponse,
  KafkaError,
  type LeaveGroupRequest,
  type LeaveGroupResponse,
  type ListGroupsRequest,
  type ListGroupsResponse,
  type OffsetCommitRequest,
  type OffsetCommitResponse,
  type OffsetFetchRequest,
  type OffsetFetchResponse,
  type SyncGroupRequest,
  type SyncGroupResponse,
} from '../protocol/index.ts';
import { type Handler, TRANSACTIONS_UNSUPPORTED } from './context.ts';

/**
 * This broker coordinates every group. Transactions do not exist here: a transaction coordinator (key type 1) is
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED, an error clients treat as fatal, so that librdkafka's init_transactions and
 * kafkajs's transaction() fail at once with it instead of retrying a COORDINATOR_NOT_AVAILABLE forever.
 */
export const findCoordinator: Handler<FindCoordinatorRequest, FindCoordinatorResponse> = (body, broker, { header }) => {
  const keyType = body.keyType;
  const errorCode =
    keyType === 0
      ? KafkaError.NONE
      : keyType === 1
        ? KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        : KafkaError.INVALID_REQUEST;
  const errorMessage =
    keyType === 0
      ? null
      : keyType === 1
        ? TRANSACTIONS_UNSUPPORTED
        : `unknown coordinator key type ${keyType} (0 is a group, 1 a transaction)`;
  const node = {
    nodeId: keyType === 0 ? broker.nodeId : -1,
    host: keyType === 0 ? broker.host : '',
    port: keyType === 0 ? broker.port : -1,
  };
  if (header.apiVersion >= 4) {
    return {
      throttleTimeMs: 0,
      coordinators: body.coordinatorKeys.map((key) => ({ key, ...node, errorCode, errorMessage })),
    };
  }
  return { throttleTimeMs: 0, errorCode, errorMessage, ...node };
};

export const joinGroup: Handler<JoinGroupRequest, JoinGroupResponse> = async (body, broker, { header, clientHost }) => {
  const result = await broker.coordinator.join({
    groupId: body.groupId,
    memberId: body.memberId,
    groupInstanceId: body.groupInstanceId,
    sessionTimeoutMs: body.sessionTimeoutMs,
    rebalanceTimeoutMs: body.rebalanceTimeoutMs,
    protocolType: body.protocolType,
    protocols: body.protocols,
    clientId: header.clientId ?? '',
    clientHost,
    requireKnownMemberId: header.apiVersion >= 4,
  });
  return { throttleTimeMs: 0, ...result };
};

export const syncGroup: Handler<SyncGroupRequest, SyncGroupResponse> = async (body, broker) => {
  const result = await broker.coordinator.sync(body.groupId, body.generationId, body.memberId, body.assignments);
  return { throttleTimeMs: 0, ...result };
};

export const heartbeat: Handler<HeartbeatRequest, HeartbeatResponse> = (body, broker) => ({
  throttleTimeMs: 0,
  errorCode: broker.coordinator.heartbeat(body.groupId, body.generationId, body.memberId),
});

export const leaveGroup: Handler<LeaveGroupRequest, LeaveGroupResponse> = (body, broker, { header }) => {
  // v3+ leaves a batch of members; before, the one member named by memberId.
  const ids = header.apiVersion >= 3 ? body.members.map((m) => m.memberId) : [body.memberId];
  const members = broker.coordinator.leave(body.groupId, ids).map((m) => ({ ...m, groupInstanceId: null }));
  const errorCode = header.apiVersion < 3 ? members[0]!.errorCode : KafkaError.NONE;
  return { throttleTimeMs: 0, errorCode, members };
};

export const offsetCommit: Handler<OffsetCommitRequest, OffsetCommitResponse> = async (body, broker) => {
  const membership = broker.coordinator.checkCommit(body.groupId, body.generationIdOrMemberEpoch, body.memberId);
  const valid: { topic: string; partition: number; offset: number; metadata: string }[] = [];
  const topics = body.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((p) => {
      let errorCode: number = membership;
      if (errorCode === KafkaError.NONE) {
        const info = broker.log.hasTopic(topic.name)
          ? broker.log.describeTopic(topic.name).partitions[p.partitionIndex]
          : undefined;
        if (info === undefined) errorCode = KafkaError.UNKNOWN_TOPIC_OR_PARTITION;
        else
          valid.push({
            topic: topic.name,
            partition: p.partitionIndex,
            offset: p.committedOffset,
            metadata: p.committedMetadata ?? '',
          });
      }
      return { partitionIndex: p.partitionIndex, errorCode };
    }),
  }));
  if (valid.length > 0) {
    const errorCode = await broker.coordinator.commit(body.groupId, valid);
    if (errorCode !== KafkaError.NONE) {
      for (const topic of topics)
        for (const p of topic.partitions) if (p.errorCode === KafkaError.NONE) p.errorCode = errorCode;
    }
  }
  return { throttleTimeMs: 0, topics };
};

export const offsetFetch: Handler<OffsetFetchRequest, OffsetFetchResponse> = (body, broker) => {
  const committed = broker.log.groups.fetch(body.groupId);
  // v2+: null asks for every partition the group has committed.
  const requested = body.topics;
  const wanted =
    requested ?? [...committed].map(([name, partitions]) => ({ name, partitionIndexes: [...partitions.keys()] }));
  const topics = wanted.map((topic) => ({
    name: topic.name,
    partitions: topic.partitionIndexes.map((partitionIndex) => {
      const c = committed.get(topic.name)?.get(partitionIndex);
      return {
        partitionIndex,
        committedOffset: c?.offset ?? -1,
        committedLeaderEpoch: -1,
        metadata: c?.metadata ?? '',
        errorCode: KafkaError.NONE,
      };
    }),
  }));
  return { throttleTimeMs: 0, topics, errorCode: KafkaError.NONE };
};

export const describeGroups: Handler<DescribeGroupsRequest, DescribeGroupsResponse> = (body, broker) => ({
  throttleTimeMs: 0,
  groups: body.groups.map((groupId) => broker.coordinator.describe(groupId)),
});

export const listGroups: Handler<ListGroupsRequest, ListGroupsResponse> = (body, broker) => {
  const filter = body.statesFilter.map((s) => s.toLowerCase());
  const groups = broker.coordinator
    .list()
    .filter((g) => filter.length === 0 || filter.includes(g.groupState.toLowerCase()));
  return { throttleTimeMs: 0, errorCode: KafkaError.NONE, groups };
};
