// Consumer-group APIs: coordinator discovery (of transactional ids too), membership (through the GroupCoordinator) and
// committed offsets.
import type { OffsetCommit } from '../../log/index.ts';
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
import type { BrokerContext, Handler } from './context.ts';

/** The coordinator of one key: this broker, for a group (key type 0) and for a transactional id (key type 1). */
function coordinatorOf(broker: BrokerContext, keyType: number, key: string) {
  let errorMessage: string | null = null;
  if (keyType !== 0 && keyType !== 1) {
    errorMessage = `unknown coordinator key type ${keyType} (0 is a group, 1 a transaction)`;
  } else if (keyType === 1 && key === '') errorMessage = 'a transactional id must not be empty';
  if (errorMessage !== null)
    return { errorCode: KafkaError.INVALID_REQUEST, errorMessage, nodeId: -1, host: '', port: -1 };
  return { errorCode: KafkaError.NONE, errorMessage, nodeId: broker.nodeId, host: broker.host, port: broker.port };
}

/** This broker coordinates every group and every transactional id (v4 looks up a batch of keys). */
export const findCoordinator: Handler<FindCoordinatorRequest, FindCoordinatorResponse> = (body, broker, { header }) => {
  if (header.apiVersion >= 4) {
    return {
      throttleTimeMs: 0,
      coordinators: body.coordinatorKeys.map((key) => ({ key, ...coordinatorOf(broker, body.keyType, key) })),
    };
  }
  return { throttleTimeMs: 0, ...coordinatorOf(broker, body.keyType, body.key) };
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

/** The partitions of an OffsetCommit or TxnOffsetCommit request. */
interface CommitRequestTopic {
  name: string;
  partitions: { partitionIndex: number; committedOffset: number; committedMetadata: string | null }[];
}

/**
 * Answers an offset commit (OffsetCommit, TxnOffsetCommit) partition by partition: `membership` (the group check's
 * error) for all when it is one, UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist; the others go to
 * `commit` together, whose error becomes each of theirs.
 */
export async function commitEach(
  broker: BrokerContext,
  membership: number,
  requested: readonly CommitRequestTopic[],
  commit: (offsets: Required<OffsetCommit>[]) => Promise<number>,
) {
  const valid: Required<OffsetCommit>[] = [];
  const topics = requested.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((p) => {
      let errorCode = membership;
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
    const errorCode = await commit(valid);
    if (errorCode !== KafkaError.NONE) {
      for (const topic of topics)
        for (const p of topic.partitions) if (p.errorCode === KafkaError.NONE) p.errorCode = errorCode;
    }
  }
  return topics;
}

export const offsetCommit: Handler<OffsetCommitRequest, OffsetCommitResponse> = async (body, broker) => {
  const membership = broker.coordinator.checkCommit(body.groupId, body.generationIdOrMemberEpoch, body.memberId);
  const topics = await commitEach(broker, membership, body.topics, (offsets) =>
    broker.coordinator.commit(body.groupId, offsets),
  );
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
