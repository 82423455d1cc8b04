// Known encodings, so that a generator bug cannot survive by round-tripping through itself: requests captured from
// real clients (librdkafka 2.0.2 through kcat, kafkajs 2.x), responses laid out byte by byte from the specs' grammar,
// and cross-checks against an independent implementation (@platformatic/kafka's hand-written per-version codecs).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addOffsetsToTxnV4,
  addPartitionsToTxnV3,
  apiVersionsV3,
  describeTransactionsV0,
  endTxnV4,
  fetchV12,
  findCoordinatorV4,
  joinGroupV7,
  listTransactionsV1,
  metadataV9,
  offsetCommitV8,
  produceV9,
  Reader,
  txnOffsetCommitV4,
} from '@platformatic/kafka';
import {
  AddOffsetsToTxn,
  AddPartitionsToTxn,
  type Api,
  ApiVersions,
  DescribeTransactions,
  decodeRequest,
  EndTxn,
  encodeRequest,
  encodeResponse,
  Fetch,
  FindCoordinator,
  JoinGroup,
  ListTransactions,
  Metadata,
  OffsetCommit,
  Produce,
  TxnOffsetCommit,
} from './index.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Decodes a captured request frame, checks it, and checks that encoding the decoded body gives the same bytes. */
function captured<Req>(api: Api<Req, unknown>, frameHex: string, clientId: string, body: Partial<Req>): void {
  const frame = hex(frameHex);
  const decoded = decodeRequest(frame.subarray(4));
  assert.equal(decoded.api, api);
  assert.equal(decoded.header.clientId, clientId);
  assert.partialDeepStrictEqual(decoded.body, body);
  const { apiVersion, correlationId } = decoded.header;
  assert.deepEqual(encodeRequest(api, apiVersion, correlationId, clientId, decoded.body as Req), frame);
}

describe('requests as real clients send them', () => {
  it('ApiVersions v3 from librdkafka (flexible: compact strings, tag buffers)', () => {
    captured(
      ApiVersions,
      '00000024 0012 0003 00000001 0007 72646b61666b61 00' + // size, key 18, v3, correlation 1, 'rdkafka', header tags
        '0b 6c696272646b61666b61 06 322e302e32 00', // compact 'librdkafka', compact '2.0.2', tags
      'rdkafka',
      { clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' },
    );
  });

  it('ApiVersions v2 from kafkajs (an empty body)', () => {
    captured(ApiVersions, '00000010 0012 0002 00000000 0006 676f6c64656e', 'golden', {});
  });

  it('Metadata v4 from librdkafka and v6 from kafkajs', () => {
    captured(Metadata, '0000001e 0003 0004 00000002 0007 72646b61666b61 00000001 0006 676f6c64656e 01', 'rdkafka', {
      topics: [{ name: 'golden' }],
      allowAutoTopicCreation: true,
    });
    captured(Metadata, '0000001d 0003 0006 00000001 0006 676f6c64656e 00000001 0006 676f6c64656e 00', 'golden', {
      topics: [{ name: 'golden' }],
      allowAutoTopicCreation: false,
    });
  });
});

describe('responses laid out from the spec', () => {
  it('ApiVersions v3: header v0 (no tag buffer), compact array, a tagged field', () => {
    const frame = Buffer.concat(
      encodeResponse(ApiVersions, 3, 7, {
        errorCode: 0,
        apiKeys: [
          { apiKey: 0, minVersion: 3, maxVersion: 9 },
          { apiKey: 18, minVersion: 0, maxVersion: 3 },
        ],
        throttleTimeMs: 0,
        finalizedFeaturesEpoch: 5,
        zkMigrationReady: false, // at its default: not written
      }),
    );
    const expected = hex(
      '00000024 00000007' + // size, correlation id (no header tags: ApiVersions answers with header v0)
        '0000 03' + // error_code, api_keys: 2 entries (compact: n + 1)
        '0000 0003 0009 00   0012 0000 0003 00' + // Produce 3-9 (+ tags), ApiVersions 0-3 (+ tags)
        '00000000' + // throttle_time_ms
        '01 01 08 0000000000000005', // 1 tagged field: tag 1 (finalized_features_epoch), 8 bytes, 5
    );
    assert.deepEqual(frame, expected);
  });

  it('Metadata v9: compact strings and arrays, nullable rack, tag buffers in every struct', () => {
    const frame = Buffer.concat(
      encodeResponse(Metadata, 9, 7, {
        throttleTimeMs: 0,
        brokers: [{ nodeId: 0, host: '127.0.0.1', port: 9092, rack: null }],
        clusterId: 'sluice',
        controllerId: 0,
        topics: [
          {
            errorCode: 0,
            name: 'golden',
            isInternal: false,
            partitions: [
              {
                errorCode: 0,
                partitionIndex: 0,
                leaderId: 0,
                leaderEpoch: 0,
                replicaNodes: [0],
                isrNodes: [0],
                offlineReplicas: [],
              },
            ],
          },
        ],
      }),
    );
    const expected = hex(
      '00000059 00000007 00' + // size, correlation id, header tags (header v1)
        '00000000' + // throttle_time_ms
        '02 00000000 0a 3132372e302e302e31 00002384 00 00' + // 1 broker: node 0, '127.0.0.1', 9092, rack null, tags
        '07 736c75696365 00000000' + // cluster_id 'sluice', controller_id 0
        '02 0000 07 676f6c64656e 00' + // 1 topic: error 0, 'golden', not internal
        '02 0000 00000000 00000000 00000000' + // 1 partition: error 0, index 0, leader 0, leader epoch 0
        '02 00000000 02 00000000 01 00' + // replicas [0], isr [0], offline [], tags
        '80000000 00' + // topic_authorized_operations (default -2^31), topic tags
        '80000000 00', // cluster_authorized_operations (default), tags
    );
    assert.deepEqual(frame, expected);
  });

  it('Fetch v12: tagged structs (diverging epoch, current leader) carry their own tag buffers', () => {
    const frame = Buffer.concat(
      encodeResponse(Fetch, 12, 7, {
        throttleTimeMs: 0,
        errorCode: 0,
        sessionId: 0,
        responses: [
          {
            topic: 'golden',
            partitions: [
              {
                partitionIndex: 0,
                errorCode: 0,
                highWatermark: 10,
                lastStableOffset: 10,
                logStartOffset: 0,
                divergingEpoch: { epoch: 3, endOffset: 8 },
                currentLeader: { leaderId: 0, leaderEpoch: 5 },
                snapshotId: { endOffset: -1, epoch: -1 }, // at its default: not written
                abortedTransactions: null,
                preferredReadReplica: -1,
                records: Buffer.alloc(0),
              },
            ],
          },
        ],
      }),
    );
    const expected = hex(
      '00000059 00000007 00' + // size, correlation id, header tags
        '00000000 0000 00000000' + // throttle_time_ms, error_code, session_id
        '02 07 676f6c64656e' + // 1 topic: 'golden'
        '02 00000000 0000' + // 1 partition: index 0, error 0
        '000000000000000a 000000000000000a 0000000000000000' + // high watermark, last stable, log start
        '00 ffffffff 01' + // aborted_transactions null, preferred_read_replica -1, records: 0 bytes
        '02' + // 2 tagged fields, in tag order:
        '00 0d 00000003 0000000000000008 00' + // tag 0 diverging_epoch, 13 bytes: epoch 3, end offset 8, tags
        '01 09 00000000 00000005 00' + // tag 1 current_leader, 9 bytes: leader 0, epoch 5, tags
        '00 00', // topic tags, response tags
    );
    assert.deepEqual(frame, expected);
  });
});

describe('transaction responses laid out from the spec', () => {
  it('AddPartitionsToTxn v2: classic strings and arrays, the v0-3 field names (results_by_topic on the wire)', () => {
    const frame = Buffer.concat(
      encodeResponse(AddPartitionsToTxn, 2, 7, {
        throttleTimeMs: 0,
        resultsByTopicV3AndBelow: [
          {
            name: 'golden',
            resultsByPartition: [
              { partitionIndex: 0, partitionErrorCode: 0 },
              { partitionIndex: 1, partitionErrorCode: 47 },
            ],
          },
        ],
      }),
    );
    const expected = hex(
      '00000024 00000007' + // size, correlation id (header v0)
        '00000000' + // throttle_time_ms
        '00000001 0006 676f6c64656e' + // 1 topic: 'golden'
        '00000002 00000000 0000 00000001 002f', // 2 partitions: 0 ok, 1 INVALID_PRODUCER_EPOCH (47)
    );
    assert.deepEqual(frame, expected);
  });

  it('EndTxn v3: flexible, the header and body tag buffers empty', () => {
    const frame = Buffer.concat(encodeResponse(EndTxn, 3, 7, { throttleTimeMs: 0, errorCode: 48 }));
    // size, correlation id, header tags; throttle_time_ms, INVALID_TXN_STATE (48), body tags
    assert.deepEqual(frame, hex('0000000c 00000007 00 00000000 0030 00'));
  });
});

/** BigInts (platformatic's int64) as numbers, for comparison with our values. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** A request body as platformatic encodes it (flexible versions), behind a request header v2, through our decoder. */
function platformaticRequest(api: Api, version: number, writer: { buffer: Buffer }): unknown {
  const header = Buffer.alloc(14); // api key, version, correlation id, client id 'plt', no header tags
  header.writeInt16BE(api.apiKey, 0);
  header.writeInt16BE(version, 2);
  header.writeInt32BE(1, 4);
  header.writeInt16BE(3, 8);
  header.write('plt', 10);
  return decodeRequest(Buffer.concat([header, writer.buffer])).body;
}

/** Our response body for platformatic's parser (without size, correlation id and header tags). */
function forPlatformatic(frames: Buffer[]): InstanceType<typeof Reader> {
  return Reader.from(Buffer.concat(frames).subarray(9));
}

describe('against @platformatic/kafka, an independent codec', () => {
  it('decodes its flexible requests', () => {
    assert.partialDeepStrictEqual(platformaticRequest(ApiVersions, 3, apiVersionsV3.createRequest('plt', '1.0')), {
      clientSoftwareName: 'plt',
      clientSoftwareVersion: '1.0',
    });
    assert.deepEqual(platformaticRequest(Metadata, 9, metadataV9.createRequest(['a', 'b'], false, true, false)), {
      topics: [{ name: 'a' }, { name: 'b' }],
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: true,
    });
    const fetch = fetchV12.createRequest(
      500,
      1,
      1 << 20,
      1,
      0,
      -1,
      [
        {
          topicId: 'golden',
          partitions: [
            { partition: 2, currentLeaderEpoch: 4, fetchOffset: 42n, lastFetchedEpoch: 3, partitionMaxBytes: 65536 },
          ],
        },
      ],
      [],
      '',
    );
    assert.deepEqual(platformaticRequest(Fetch, 12, fetch), {
      clusterId: null,
      replicaId: -1,
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 1,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          topic: 'golden',
          partitions: [
            {
              partition: 2,
              currentLeaderEpoch: 4,
              fetchOffset: 42,
              lastFetchedEpoch: 3,
              logStartOffset: -1,
              partitionMaxBytes: 65536,
            },
          ],
        },
      ],
      forgottenTopicsData: [],
      rackId: '',
    });
    const produce = platformaticRequest(
      Produce,
      9,
      produceV9.createRequest(-1, 1000, [{ topic: 'golden', partition: 1, value: Buffer.from('hello') }]),
    ) as { topicData: { name: string; partitionData: { index: number; records: Buffer }[] }[] };
    assert.equal(produce.topicData[0]!.name, 'golden');
    assert.equal(produce.topicData[0]!.partitionData[0]!.index, 1);
    assert.equal(produce.topicData[0]!.partitionData[0]!.records.readInt8(16), 2); // a record batch, magic 2
    assert.deepEqual(platformaticRequest(FindCoordinator, 4, findCoordinatorV4.createRequest(0, ['g1', 'g2'])), {
      key: '',
      keyType: 0,
      coordinatorKeys: ['g1', 'g2'],
    });
    const protocols = [{ name: 'range', metadata: Buffer.from([1, 2]) }];
    assert.deepEqual(
      platformaticRequest(
        JoinGroup,
        7,
        joinGroupV7.createRequest('g', 10_000, 30_000, 'm', null, 'consumer', protocols),
      ),
      {
        groupId: 'g',
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 30_000,
        memberId: 'm',
        groupInstanceId: null,
        protocolType: 'consumer',
        protocols,
      },
    );
    const partitions = [{ partitionIndex: 0, committedOffset: 5n, committedLeaderEpoch: -1, committedMetadata: null }];
    const commit = offsetCommitV8.createRequest('g', 3, 'm', null, [{ name: 't', partitions }]);
    assert.deepEqual(platformaticRequest(OffsetCommit, 8, commit), {
      groupId: 'g',
      generationIdOrMemberEpoch: 3,
      memberId: 'm',
      groupInstanceId: null,
      retentionTimeMs: -1,
      topics: [{ name: 't', partitions: [{ ...partitions[0], committedOffset: 5 }] }],
    });
  });

  it('decodes its transaction requests and parses our transaction responses', () => {
    const addPartitions = addPartitionsToTxnV3.createRequest([
      // verifyOnly is a v4+ field: platformatic's v3 writer leaves it out
      {
        transactionalId: 'tx',
        producerId: 7n,
        producerEpoch: 2,
        verifyOnly: false,
        topics: [{ name: 't', partitions: [0, 3] }],
      },
    ]);
    assert.deepEqual(platformaticRequest(AddPartitionsToTxn, 3, addPartitions), {
      v3AndBelowTransactionalId: 'tx',
      v3AndBelowProducerId: 7,
      v3AndBelowProducerEpoch: 2,
      v3AndBelowTopics: [{ name: 't', partitions: [0, 3] }],
    });
    assert.deepEqual(platformaticRequest(AddOffsetsToTxn, 4, addOffsetsToTxnV4.createRequest('tx', 7n, 2, 'g')), {
      transactionalId: 'tx',
      producerId: 7,
      producerEpoch: 2,
      groupId: 'g',
    });
    assert.deepEqual(platformaticRequest(EndTxn, 4, endTxnV4.createRequest('tx', 7n, 2, true)), {
      transactionalId: 'tx',
      producerId: 7,
      producerEpoch: 2,
      committed: true,
    });
    const offsets = [{ partitionIndex: 1, committedOffset: 42n, committedLeaderEpoch: 5, committedMetadata: null }];
    const txnCommit = txnOffsetCommitV4.createRequest('tx', 'g', 7n, 2, 3, 'm', null, [
      { name: 't', partitions: offsets },
    ]);
    assert.deepEqual(platformaticRequest(TxnOffsetCommit, 4, txnCommit), {
      transactionalId: 'tx',
      groupId: 'g',
      producerId: 7,
      producerEpoch: 2,
      generationId: 3,
      memberId: 'm',
      groupInstanceId: null,
      topics: [{ name: 't', partitions: [{ ...offsets[0], committedOffset: 42 }] }],
    });
    assert.deepEqual(platformaticRequest(DescribeTransactions, 0, describeTransactionsV0.createRequest(['a', 'b'])), {
      transactionalIds: ['a', 'b'],
    });
    assert.deepEqual(
      platformaticRequest(ListTransactions, 1, listTransactionsV1.createRequest(['Ongoing'], [7n], 60_000n, null)),
      {
        stateFilters: ['Ongoing'],
        producerIdFilters: [7],
        durationFilter: 60_000,
      },
    );

    const topicResults = [{ name: 't', resultsByPartition: [{ partitionIndex: 3, partitionErrorCode: 0 }] }];
    const added = addPartitionsToTxnV3.parseResponse(
      1,
      24,
      3,
      forPlatformatic(
        encodeResponse(AddPartitionsToTxn, 3, 1, { throttleTimeMs: 0, resultsByTopicV3AndBelow: topicResults }),
      ),
    );
    assert.deepEqual(added.resultsByTransaction[0]!.topicResults, topicResults);
    const status = { throttleTimeMs: 0, errorCode: 0 };
    const addOffsets = forPlatformatic(encodeResponse(AddOffsetsToTxn, 4, 1, status));
    assert.deepEqual(addOffsetsToTxnV4.parseResponse(1, 25, 4, addOffsets), status);
    assert.deepEqual(endTxnV4.parseResponse(1, 26, 4, forPlatformatic(encodeResponse(EndTxn, 4, 1, status))), status);
    const committed = { throttleTimeMs: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 1, errorCode: 0 }] }] };
    const parsedCommit = txnOffsetCommitV4.parseResponse(
      1,
      28,
      4,
      forPlatformatic(encodeResponse(TxnOffsetCommit, 4, 1, committed)),
    );
    assert.deepEqual(parsedCommit, committed);
    const described = {
      throttleTimeMs: 0,
      transactionStates: [
        {
          errorCode: 0,
          transactionalId: 'tx',
          transactionState: 'Ongoing',
          transactionTimeoutMs: 60_000,
          transactionStartTimeMs: 1_700_000_000_000,
          producerId: 7,
          producerEpoch: 2,
          topics: [{ topic: 't', partitions: [0, 3] }],
        },
      ],
    };
    const parsedDescribe = describeTransactionsV0.parseResponse(
      1,
      65,
      0,
      forPlatformatic(encodeResponse(DescribeTransactions, 0, 1, described)),
    );
    assert.deepEqual(plain(parsedDescribe), described);
    const listed = {
      throttleTimeMs: 0,
      errorCode: 0,
      unknownStateFilters: ['Sleeping'],
      transactionStates: [{ transactionalId: 'tx', producerId: 7, transactionState: 'Ongoing' }],
    };
    const parsedList = listTransactionsV1.parseResponse(
      1,
      66,
      1,
      forPlatformatic(encodeResponse(ListTransactions, 1, 1, listed)),
    );
    assert.deepEqual(plain(parsedList), listed);
  });

  it('parses our flexible responses, tagged fields included', () => {
    const versions = apiVersionsV3.parseResponse(
      1,
      18,
      3,
      Reader.from(
        Buffer.concat(
          encodeResponse(ApiVersions, 3, 1, {
            errorCode: 0,
            apiKeys: [{ apiKey: 1, minVersion: 4, maxVersion: 12 }],
            throttleTimeMs: 0,
            supportedFeatures: [{ name: 'f', minVersion: 1, maxVersion: 2 }],
            finalizedFeaturesEpoch: 5,
          }),
        ).subarray(8), // ApiVersions: no header tags
      ),
    );
    assert.partialDeepStrictEqual(plain(versions), {
      apiKeys: [{ apiKey: 1, minVersion: 4, maxVersion: 12 }],
      supportedFeatures: [{ name: 'f', minVersion: 1, maxVersion: 2 }],
      finalizedFeaturesEpoch: 5,
    });
    const partition = {
      partitionIndex: 0,
      errorCode: 0,
      highWatermark: 10,
      lastStableOffset: 10,
      logStartOffset: 0,
      divergingEpoch: { epoch: 3, endOffset: 8 },
      currentLeader: { leaderId: 0, leaderEpoch: 5 },
      snapshotId: { endOffset: 9, epoch: 2 },
      abortedTransactions: [{ producerId: 7, firstOffset: 1 }],
      preferredReadReplica: -1,
      records: null,
    };
    const fetch = {
      throttleTimeMs: 0,
      errorCode: 0,
      sessionId: 0,
      responses: [{ topic: 'golden', partitions: [partition] }],
    };
    const parsedFetch = fetchV12.parseResponse(1, 1, 12, forPlatformatic(encodeResponse(Fetch, 12, 1, fetch)));
    assert.deepEqual(plain(parsedFetch), { ...fetch, responses: [{ topicId: 'golden', partitions: [partition] }] });
    const coordinators = [{ key: 'g', nodeId: 0, host: 'h', port: 9092, errorCode: 0, errorMessage: null }];
    const find = findCoordinatorV4.parseResponse(
      1,
      10,
      4,
      forPlatformatic(encodeResponse(FindCoordinator, 4, 1, { throttleTimeMs: 0, coordinators })),
    );
    assert.deepEqual(find, { throttleTimeMs: 0, coordinators });
    const join = {
      throttleTimeMs: 0,
      errorCode: 0,
      generationId: 2,
      protocolType: 'consumer',
      protocolName: 'range',
      leader: 'm',
      memberId: 'm',
      members: [{ memberId: 'm', groupInstanceId: null, metadata: Buffer.from([1]) }],
    };
    const parsedJoin = joinGroupV7.parseResponse(1, 11, 7, forPlatformatic(encodeResponse(JoinGroup, 7, 1, join)));
    assert.partialDeepStrictEqual(parsedJoin, join);
  });
});
