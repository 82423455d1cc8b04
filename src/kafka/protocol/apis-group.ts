// Layouts of the consumer-group APIs (coordinator discovery, membership, offsets), transcribed from Kafka's message
// schemas for the version ranges we serve. Field names are the schema's, in camelCase.
import { defineApi, field as f, structs } from './schema.ts';

export const FindCoordinator = defineApi({
  apiKey: 10,
  name: 'FindCoordinator',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 3,
  request: [f('key', 'string', '0-3'), f('keyType', 'int8', '1+'), f('coordinatorKeys', '[]string', '4+')],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('errorCode', 'int16', '0-3'),
    f('errorMessage', 'string?', '1-3'),
    f('nodeId', 'int32', '0-3'),
    f('host', 'string', '0-3'),
    f('port', 'int32', '0-3'),
    structs(
      'coordinators',
      [
        f('key', 'string'),
        f('nodeId', 'int32'),
        f('host', 'string'),
        f('port', 'int32'),
        f('errorCode', 'int16'),
        f('errorMessage', 'string?'),
      ],
      '4+',
    ),
  ],
});

export const JoinGroup = defineApi({
  apiKey: 11,
  name: 'JoinGroup',
  minVersion: 0,
  maxVersion: 7,
  flexibleFrom: 6,
  request: [
    f('groupId', 'string'),
    f('sessionTimeoutMs', 'int32'),
    f('rebalanceTimeoutMs', 'int32', '1+', -1),
    f('memberId', 'string'),
    f('groupInstanceId', 'string?', '5+'),
    f('protocolType', 'string'),
    structs('protocols', [f('name', 'string'), f('metadata', 'bytes')]),
  ],
  response: [
    f('throttleTimeMs', 'int32', '2+'),
    f('errorCode', 'int16'),
    f('generationId', 'int32', '0+', -1),
    f('protocolType', 'string?', '7+'),
    f('protocolName', 'string?'),
    f('leader', 'string'),
    f('memberId', 'string'),
    structs('members', [f('memberId', 'string'), f('groupInstanceId', 'string?', '5+'), f('metadata', 'bytes')]),
  ],
});

export const SyncGroup = defineApi({
  apiKey: 14,
  name: 'SyncGroup',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: 4,
  request: [
    f('groupId', 'string'),
    f('generationId', 'int32'),
    f('memberId', 'string'),
    f('groupInstanceId', 'string?', '3+'),
    f('protocolType', 'string?', '5+'),
    f('protocolName', 'string?', '5+'),
    structs('assignments', [f('memberId', 'string'), f('assignment', 'bytes')]),
  ],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('errorCode', 'int16'),
    f('protocolType', 'string?', '5+'),
    f('protocolName', 'string?', '5+'),
    f('assignment', 'bytes'),
  ],
});

export const Heartbeat = defineApi({
  apiKey: 12,
  name: 'Heartbeat',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 4,
  request: [
    f('groupId', 'string'),
    f('generationId', 'int32'),
    f('memberId', 'string'),
    f('groupInstanceId', 'string?', '3+'),
  ],
  response: [f('throttleTimeMs', 'int32', '1+'), f('errorCode', 'int16')],
});

export const LeaveGroup = defineApi({
  apiKey: 13,
  name: 'LeaveGroup',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 4,
  request: [
    f('groupId', 'string'),
    f('memberId', 'string', '0-2'),
    structs('members', [f('memberId', 'string'), f('groupInstanceId', 'string?')], '3+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('errorCode', 'int16'),
    structs('members', [f('memberId', 'string'), f('groupInstanceId', 'string?'), f('errorCode', 'int16')], '3+'),
  ],
});

export const OffsetCommit = defineApi({
  apiKey: 8,
  name: 'OffsetCommit',
  minVersion: 2,
  maxVersion: 8,
  flexibleFrom: 8,
  request: [
    f('groupId', 'string'),
    f('generationId', 'int32', '1+', -1),
    f('memberId', 'string', '1+'),
    f('groupInstanceId', 'string?', '7+'),
    f('retentionTimeMs', 'int64', '2-4', -1),
    structs('topics', [
      f('name', 'string'),
      structs('partitions', [
        f('partitionIndex', 'int32'),
        f('committedOffset', 'int64'),
        f('committedLeaderEpoch', 'int32', '6+', -1),
        f('committedMetadata', 'string?'),
      ]),
    ]),
  ],
  response: [
    f('throttleTimeMs', 'int32', '3+'),
    structs('topics', [
      f('name', 'string'),
      structs('partitions', [f('partitionIndex', 'int32'), f('errorCode', 'int16')]),
    ]),
  ],
});

export const OffsetFetch = defineApi({
  apiKey: 9,
  name: 'OffsetFetch',
  minVersion: 1,
  maxVersion: 7,
  flexibleFrom: 6,
  request: [
    f('groupId', 'string'),
    // v2+: null means every partition the group has committed.
    structs('topics', [f('name', 'string'), f('partitionIndexes', '[]int32')], '0+', true),
    f('requireStable', 'bool', '7+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '3+'),
    structs('topics', [
      f('name', 'string'),
      structs('partitions', [
        f('partitionIndex', 'int32'),
        f('committedOffset', 'int64'),
        f('committedLeaderEpoch', 'int32', '5+', -1),
        f('metadata', 'string?'),
        f('errorCode', 'int16'),
      ]),
    ]),
    f('errorCode', 'int16', '2+'),
  ],
});

export const DescribeGroups = defineApi({
  apiKey: 15,
  name: 'DescribeGroups',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: 5,
  request: [f('groups', '[]string'), f('includeAuthorizedOperations', 'bool', '3+')],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    structs('groups', [
      f('errorCode', 'int16'),
      f('groupId', 'string'),
      f('groupState', 'string'),
      f('protocolType', 'string'),
      f('protocolData', 'string'),
      structs('members', [
        f('memberId', 'string'),
        f('groupInstanceId', 'string?', '4+'),
        f('clientId', 'string'),
        f('clientHost', 'string'),
        f('memberMetadata', 'bytes'),
        f('memberAssignment', 'bytes'),
      ]),
      f('authorizedOperations', 'int32', '3+', -2147483648),
    ]),
  ],
});

export const ListGroups = defineApi({
  apiKey: 16,
  name: 'ListGroups',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 3,
  request: [f('statesFilter', '[]string', '4+')],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('errorCode', 'int16'),
    structs('groups', [f('groupId', 'string'), f('protocolType', 'string'), f('groupState', 'string', '4+')]),
  ],
});
