// Layouts of the data-plane and admin APIs, transcribed from Kafka's message schemas (clients/src/main/resources/
// common/message/*.json) for the version ranges we serve. Field names are the schema's, in camelCase.
import { defineApi, field as f, structs } from './schema.ts';

export const ApiVersions = defineApi({
  apiKey: 18,
  name: 'ApiVersions',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: 3,
  request: [f('clientSoftwareName', 'string', '3+'), f('clientSoftwareVersion', 'string', '3+')],
  response: [
    f('errorCode', 'int16'),
    structs('apiKeys', [f('apiKey', 'int16'), f('minVersion', 'int16'), f('maxVersion', 'int16')]),
    f('throttleTimeMs', 'int32', '1+'),
  ],
});

export const Metadata = defineApi({
  apiKey: 3,
  name: 'Metadata',
  minVersion: 0,
  maxVersion: 9,
  flexibleFrom: 9,
  request: [
    // v0: an empty array means all topics; v1+: null means all topics.
    structs('topics', [f('name', 'string')], '0+', true),
    f('allowAutoTopicCreation', 'bool', '4+', true),
    f('includeClusterAuthorizedOperations', 'bool', '8+'),
    f('includeTopicAuthorizedOperations', 'bool', '8+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '3+'),
    structs('brokers', [f('nodeId', 'int32'), f('host', 'string'), f('port', 'int32'), f('rack', 'string?', '1+')]),
    f('clusterId', 'string?', '2+'),
    f('controllerId', 'int32', '1+', -1),
    structs('topics', [
      f('errorCode', 'int16'),
      f('name', 'string'),
      f('isInternal', 'bool', '1+'),
      structs('partitions', [
        f('errorCode', 'int16'),
        f('partitionIndex', 'int32'),
        f('leaderId', 'int32'),
        f('leaderEpoch', 'int32', '7+', -1),
        f('replicaNodes', '[]int32'),
        f('isrNodes', '[]int32'),
        f('offlineReplicas', '[]int32', '5+'),
      ]),
      f('topicAuthorizedOperations', 'int32', '8+', -2147483648),
    ]),
    f('clusterAuthorizedOperations', 'int32', '8+', -2147483648),
  ],
});

export const Produce = defineApi({
  apiKey: 0,
  name: 'Produce',
  // v3 is the first version whose records are record batches v2 (magic 2), the only format the log stores.
  minVersion: 3,
  maxVersion: 9,
  flexibleFrom: 9,
  request: [
    f('transactionalId', 'string?', '3+'),
    f('acks', 'int16'),
    f('timeoutMs', 'int32'),
    structs('topicData', [
      f('name', 'string'),
      structs('partitionData', [f('index', 'int32'), f('records', 'records')]),
    ]),
  ],
  response: [
    structs('responses', [
      f('name', 'string'),
      structs('partitionResponses', [
        f('index', 'int32'),
        f('errorCode', 'int16'),
        f('baseOffset', 'int64'),
        f('logAppendTimeMs', 'int64', '2+', -1),
        f('logStartOffset', 'int64', '5+', -1),
        structs('recordErrors', [f('batchIndex', 'int32'), f('batchIndexErrorMessage', 'string?')], '8+'),
        f('errorMessage', 'string?', '8+'),
      ]),
    ]),
    f('throttleTimeMs', 'int32', '1+'),
  ],
});

export const Fetch = defineApi({
  apiKey: 1,
  name: 'Fetch',
  minVersion: 4,
  maxVersion: 12,
  flexibleFrom: 12,
  request: [
    f('replicaId', 'int32'),
    f('maxWaitMs', 'int32'),
    f('minBytes', 'int32'),
    f('maxBytes', 'int32', '3+', 0x7fffffff),
    f('isolationLevel', 'int8', '4+'),
    f('sessionId', 'int32', '7+'),
    f('sessionEpoch', 'int32', '7+', -1),
    structs('topics', [
      f('topic', 'string'),
      structs('partitions', [
        f('partition', 'int32'),
        f('currentLeaderEpoch', 'int32', '9+', -1),
        f('fetchOffset', 'int64'),
        f('lastFetchedEpoch', 'int32', '12+', -1),
        f('logStartOffset', 'int64', '5+', -1),
        f('partitionMaxBytes', 'int32'),
      ]),
    ]),
    structs('forgottenTopicsData', [f('topic', 'string'), f('partitions', '[]int32')], '7+'),
    f('rackId', 'string', '11+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('errorCode', 'int16', '7+'),
    f('sessionId', 'int32', '7+'),
    structs('responses', [
      f('topic', 'string'),
      structs('partitions', [
        f('partitionIndex', 'int32'),
        f('errorCode', 'int16'),
        f('highWatermark', 'int64'),
        f('lastStableOffset', 'int64', '4+', -1),
        f('logStartOffset', 'int64', '5+', -1),
        structs('abortedTransactions', [f('producerId', 'int64'), f('firstOffset', 'int64')], '4+', true),
        f('preferredReadReplica', 'int32', '11+', -1),
        f('records', 'records'),
      ]),
    ]),
  ],
});

export const ListOffsets = defineApi({
  apiKey: 2,
  name: 'ListOffsets',
  minVersion: 1,
  maxVersion: 6,
  flexibleFrom: 6,
  request: [
    f('replicaId', 'int32'),
    f('isolationLevel', 'int8', '2+'),
    structs('topics', [
      f('name', 'string'),
      structs('partitions', [
        f('partitionIndex', 'int32'),
        f('currentLeaderEpoch', 'int32', '4+', -1),
        f('timestamp', 'int64'),
      ]),
    ]),
  ],
  response: [
    f('throttleTimeMs', 'int32', '2+'),
    structs('topics', [
      f('name', 'string'),
      structs('partitions', [
        f('partitionIndex', 'int32'),
        f('errorCode', 'int16'),
        f('timestamp', 'int64', '1+', -1),
        f('offset', 'int64', '1+', -1),
        f('leaderEpoch', 'int32', '4+', -1),
      ]),
    ]),
  ],
});

export const CreateTopics = defineApi({
  apiKey: 19,
  name: 'CreateTopics',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: 5,
  request: [
    structs('topics', [
      f('name', 'string'),
      f('numPartitions', 'int32'),
      f('replicationFactor', 'int16'),
      structs('assignments', [f('partitionIndex', 'int32'), f('brokerIds', '[]int32')]),
      structs('configs', [f('name', 'string'), f('value', 'string?')]),
    ]),
    f('timeoutMs', 'int32'),
    f('validateOnly', 'bool', '1+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '2+'),
    structs('topics', [
      f('name', 'string'),
      f('errorCode', 'int16'),
      f('errorMessage', 'string?', '1+'),
      f('numPartitions', 'int32', '5+', -1),
      f('replicationFactor', 'int16', '5+', -1),
      structs(
        'configs',
        [
          f('name', 'string'),
          f('value', 'string?'),
          f('readOnly', 'bool'),
          f('configSource', 'int8'),
          f('isSensitive', 'bool'),
        ],
        '5+',
        true,
      ),
    ]),
  ],
});

export const DeleteTopics = defineApi({
  apiKey: 20,
  name: 'DeleteTopics',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 4,
  request: [f('topicNames', '[]string'), f('timeoutMs', 'int32')],
  response: [f('throttleTimeMs', 'int32', '1+'), structs('responses', [f('name', 'string'), f('errorCode', 'int16')])],
});

export const DeleteRecords = defineApi({
  apiKey: 21,
  name: 'DeleteRecords',
  minVersion: 0,
  maxVersion: 2,
  flexibleFrom: 2,
  request: [
    structs('topics', [
      f('name', 'string'),
      structs('partitions', [f('partitionIndex', 'int32'), f('offset', 'int64')]),
    ]),
    f('timeoutMs', 'int32'),
  ],
  response: [
    f('throttleTimeMs', 'int32'),
    structs('topics', [
      f('name', 'string'),
      structs('partitions', [f('partitionIndex', 'int32'), f('lowWatermark', 'int64'), f('errorCode', 'int16')]),
    ]),
  ],
});

export const InitProducerId = defineApi({
  apiKey: 22,
  name: 'InitProducerId',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 2,
  request: [
    f('transactionalId', 'string?'),
    f('transactionTimeoutMs', 'int32'),
    f('producerId', 'int64', '3+', -1),
    f('producerEpoch', 'int16', '3+', -1),
  ],
  response: [
    f('throttleTimeMs', 'int32'),
    f('errorCode', 'int16'),
    f('producerId', 'int64', '0+', -1),
    f('producerEpoch', 'int16'),
  ],
});
