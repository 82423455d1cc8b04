// Kafka transactions against a broker on loopback: the seven transaction APIs and the transactional side of Produce,
// Fetch and ListOffsets on the wire (raw frames at the versions that matter: PRODUCER_FENCED only where the version
// knows it), then kafkajs — transactional producers that commit and abort, read_committed and read_uncommitted
// consumers, a zombie fenced by its successor, and consume-transform-produce whose offsets commit with the transaction.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Consumer, Kafka, logLevel } from 'kafkajs';
import {
  AddOffsetsToTxn,
  AddPartitionsToTxn,
  DescribeTransactions,
  EndTxn,
  Fetch,
  FindCoordinator,
  InitProducerId,
  KafkaError,
  ListOffsets,
  ListTransactions,
  Produce,
  TxnOffsetCommit,
} from '../src/kafka/protocol/index.ts';
import { encodeRecordBatch } from '../src/log/index.ts';
import { eventually, progresses, startTestBroker, type TestBroker } from './helpers/broker.ts';
import { call } from './helpers/kafka-wire.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
let t: TestBroker;
const kafka = () =>
  new Kafka({
    brokers: [t.bootstrap],
    clientId: 'txn-test',
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 50 },
  });

before(async () => {
  t = await startTestBroker({ autoCreateTopics: true });
});
after(async () => {
  await t?.close();
});

describe('the transaction APIs on the wire', () => {
  const rpc = <Req, Res>(api: Parameters<typeof call<Req, Res>>[1], version: number, body: Req) =>
    call(t.broker.port, api, version, body);
  const batch = (
    producerId: number,
    producerEpoch: number,
    baseSequence: number,
    value: string,
    transactional = true,
  ) =>
    encodeRecordBatch([{ key: null, value: Buffer.from(value) }], {
      producerId,
      producerEpoch,
      baseSequence,
      transactional,
    });
  const produce = async (transactionalId: string | null, partition: number, records: Buffer) => {
    const answer = await rpc(Produce, 9, {
      transactionalId,
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: 'wire', partitionData: [{ index: partition, records }] }],
    });
    return answer.responses[0]!.partitionResponses[0]!.errorCode;
  };
  const fetch = async (isolationLevel: number) => {
    const answer = await rpc(Fetch, 11, {
      clusterId: null,
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      isolationLevel,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          topic: 'wire',
          partitions: [
            {
              partition: 0,
              currentLeaderEpoch: -1,
              fetchOffset: 0,
              lastFetchedEpoch: -1,
              logStartOffset: -1,
              partitionMaxBytes: 1 << 20,
            },
          ],
        },
      ],
      forgottenTopicsData: [],
      rackId: '',
    });
    return answer.responses[0]!.partitions[0]!;
  };
  const latest = async (isolationLevel: number) => {
    const answer = await rpc(ListOffsets, 5, {
      replicaId: -1,
      isolationLevel,
      topics: [{ name: 'wire', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1 }] }],
    });
    return answer.topics[0]!.partitions[0]!.offset;
  };
  const add = async (version: number, producerId: number, producerEpoch: number, partitions: number[]) => {
    const answer = await rpc(AddPartitionsToTxn, version, {
      v3AndBelowTransactionalId: 'w1',
      v3AndBelowProducerId: producerId,
      v3AndBelowProducerEpoch: producerEpoch,
      v3AndBelowTopics: [{ name: 'wire', partitions }],
    });
    return answer.resultsByTopicV3AndBelow[0]!.resultsByPartition.map((r) => [r.partitionIndex, r.partitionErrorCode]);
  };
  const init = (version: number, transactionalId: string | null, timeoutMs = 60_000, producerId = -1, epoch = -1) =>
    rpc(InitProducerId, version, {
      transactionalId,
      transactionTimeoutMs: timeoutMs,
      producerId,
      producerEpoch: epoch,
    });
  const end = async (version: number, producerId: number, producerEpoch: number, committed: boolean) =>
    (await rpc(EndTxn, version, { transactionalId: 'w1', producerId, producerEpoch, committed })).errorCode;
  let producerId = -1;
  let epoch = 0;

  before(async () => {
    await t.log.createTopic('wire', { partitions: 2 });
  });

  it('finds this broker as the coordinator of a transactional id; an empty id is INVALID_REQUEST', async () => {
    const v3 = await rpc(FindCoordinator, 3, { key: 'w1', keyType: 1, coordinatorKeys: [] });
    assert.deepEqual([v3.errorCode, v3.nodeId, v3.port], [KafkaError.NONE, 0, t.broker.port]);
    const v4 = await rpc(FindCoordinator, 4, { key: '', keyType: 1, coordinatorKeys: ['a', ''] });
    assert.deepEqual(
      v4.coordinators.map((c) => [c.key, c.errorCode, c.nodeId]),
      [
        ['a', KafkaError.NONE, 0],
        ['', KafkaError.INVALID_REQUEST, -1],
      ],
    );
    const group = await rpc(FindCoordinator, 3, { key: 'g', keyType: 0, coordinatorKeys: [] });
    assert.equal(group.errorCode, KafkaError.NONE);
    const unknown = await rpc(FindCoordinator, 3, { key: 'g', keyType: 7, coordinatorKeys: [] });
    assert.equal(unknown.errorCode, KafkaError.INVALID_REQUEST);
  });

  it('gives idempotent producers distinct ids from the same allocator, transactional ones a stable id', async () => {
    const [a, b] = [await init(4, null), await init(0, null)];
    assert.notEqual(a.producerId, b.producerId);
    assert.deepEqual([a.errorCode, a.producerEpoch, b.producerEpoch], [KafkaError.NONE, 0, 0]);
    const txn = await init(4, 'w1');
    assert.equal(txn.errorCode, KafkaError.NONE);
    assert.ok(![a.producerId, b.producerId].includes(txn.producerId));
    producerId = txn.producerId;
    assert.equal((await init(1, 'w-long', 15 * 60_000 + 1)).errorCode, KafkaError.INVALID_TRANSACTION_TIMEOUT);
    assert.equal((await init(4, 'w-half', 60_000, -1, 0)).errorCode, KafkaError.INVALID_REQUEST);
    assert.equal((await init(4, '')).errorCode, KafkaError.INVALID_REQUEST);
  });

  it('adds partitions all or none, and refuses writes to partitions outside the transaction', async () => {
    assert.deepEqual(await add(3, producerId, 0, [0, 5]), [
      [0, KafkaError.OPERATION_NOT_ATTEMPTED],
      [5, KafkaError.UNKNOWN_TOPIC_OR_PARTITION],
    ]);
    assert.equal(await produce('w1', 0, batch(producerId, 0, 0, 'early')), KafkaError.INVALID_TXN_STATE);
    assert.deepEqual(await add(3, producerId, 0, [0]), [[0, KafkaError.NONE]]);
    assert.equal(await produce('w1', 0, batch(producerId, 0, 0, 'open-1')), KafkaError.NONE);
    assert.equal(await produce('w1', 0, batch(producerId, 0, 1, 'plain', false)), KafkaError.INVALID_RECORD);
    assert.equal(await produce(null, 0, batch(producerId, 0, 1, 'no-id')), KafkaError.INVALID_RECORD);
    assert.equal(await produce('w1', 1, batch(producerId, 0, 0, 'not-added')), KafkaError.INVALID_TXN_STATE);
    assert.equal(t.log.describeTopic('wire').partitions[1]!.logEndOffset, 0, 'nothing refused was written');
  });

  it('describes and lists transactions, filtered by state, producer id and duration', async () => {
    const described = await rpc(DescribeTransactions, 0, { transactionalIds: ['w1', 'nope'] });
    const [w1, nope] = described.transactionStates;
    assert.deepEqual(
      [w1!.errorCode, w1!.transactionState, w1!.producerId, w1!.transactionTimeoutMs, w1!.topics],
      [KafkaError.NONE, 'Ongoing', producerId, 60_000, [{ topic: 'wire', partitions: [0] }]],
    );
    assert.ok(w1!.transactionStartTimeMs > 0);
    assert.equal(nope!.errorCode, KafkaError.TRANSACTIONAL_ID_NOT_FOUND);
    const list = async (stateFilters: string[], producerIdFilters: number[] = [], durationFilter = -1) => {
      const answer = await rpc(ListTransactions, 1, { stateFilters, producerIdFilters, durationFilter });
      return {
        ids: answer.transactionStates.map((s) => s.transactionalId).sort(),
        unknown: answer.unknownStateFilters,
      };
    };
    assert.deepEqual((await list(['Ongoing'])).ids, ['w1']);
    assert.deepEqual(await list(['Bogus']), { ids: [], unknown: ['Bogus'] });
    assert.deepEqual((await list([], [producerId])).ids, ['w1']);
    assert.deepEqual((await list([], [producerId + 12_345])).ids, []);
    assert.deepEqual((await list(['Ongoing'], [], 3_600_000)).ids, [], 'nothing has run for an hour');
    const v0 = await rpc(ListTransactions, 0, { stateFilters: [], producerIdFilters: [] });
    assert.ok(v0.transactionStates.some((s) => s.transactionalId === 'w1' && s.transactionState === 'Ongoing'));
  });

  it('holds the last stable offset at an open transaction: Fetch and ListOffsets at both isolation levels', async () => {
    assert.equal(await latest(1), 0, 'read_committed: the open transaction starts at 0');
    assert.equal(await latest(0), 1);
    const committed = await fetch(1);
    assert.deepEqual([committed.records?.length ?? 0, committed.lastStableOffset, committed.highWatermark], [0, 0, 1]);
    assert.deepEqual(committed.abortedTransactions, []);
    const uncommitted = await fetch(0);
    assert.ok((uncommitted.records?.length ?? 0) > 0);
    assert.deepEqual([uncommitted.lastStableOffset, uncommitted.abortedTransactions], [0, null]);
  });

  it('fences the old epoch: PRODUCER_FENCED where the version knows it, INVALID_PRODUCER_EPOCH before', async () => {
    // Re-registering aborts the open transaction under a bumped epoch, then bumps it again for the new instance (as
    // Kafka does: the fencing epoch, then the one it answers).
    const bumped = await init(4, 'w1');
    assert.deepEqual([bumped.producerId, bumped.producerEpoch], [producerId, 2]);
    epoch = bumped.producerEpoch;
    assert.equal(await end(1, producerId, 0, true), KafkaError.INVALID_PRODUCER_EPOCH);
    assert.equal(await end(2, producerId, 0, true), KafkaError.PRODUCER_FENCED);
    assert.deepEqual(await add(1, producerId, 0, [0]), [[0, KafkaError.INVALID_PRODUCER_EPOCH]]);
    assert.deepEqual(await add(2, producerId, 0, [0]), [[0, KafkaError.PRODUCER_FENCED]]);
    const addOffsets = async (version: number) =>
      (await rpc(AddOffsetsToTxn, version, { transactionalId: 'w1', producerId, producerEpoch: 0, groupId: 'wg' }))
        .errorCode;
    assert.equal(await addOffsets(1), KafkaError.INVALID_PRODUCER_EPOCH);
    assert.equal(await addOffsets(3), KafkaError.PRODUCER_FENCED);
    assert.equal((await init(3, 'w1', 60_000, producerId, 7)).errorCode, KafkaError.INVALID_PRODUCER_EPOCH);
    assert.equal((await init(4, 'w1', 60_000, producerId, 7)).errorCode, KafkaError.PRODUCER_FENCED);
    // Kafka's partitions and group coordinator answer a stale epoch INVALID_PRODUCER_EPOCH at every version.
    assert.equal(await produce('w1', 0, batch(producerId, 0, 1, 'zombie')), KafkaError.INVALID_PRODUCER_EPOCH);
    const txnCommit = await rpc(TxnOffsetCommit, 3, {
      transactionalId: 'w1',
      groupId: 'wg',
      producerId,
      producerEpoch: 0,
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      topics: [{ name: 'wire', partitions: [{ partitionIndex: 0, committedOffset: 1, committedMetadata: null }] }],
    });
    assert.equal(txnCommit.topics[0]!.partitions[0]!.errorCode, KafkaError.INVALID_PRODUCER_EPOCH);
    // The aborted transaction: read_committed readers are told to skip it, and the last stable offset moves on.
    const committed = await fetch(1);
    assert.deepEqual(committed.abortedTransactions, [{ producerId, firstOffset: 0 }]);
    assert.equal(committed.lastStableOffset, committed.highWatermark);
    assert.equal(await latest(1), await latest(0));
  });

  it('commits produced records and group offsets together (TxnOffsetCommit), once', async () => {
    assert.deepEqual(await add(3, producerId, epoch, [0, 1]), [
      [0, KafkaError.NONE],
      [1, KafkaError.NONE],
    ]);
    assert.equal(await produce('w1', 0, batch(producerId, epoch, 0, 'kept-0')), KafkaError.NONE);
    assert.equal(await produce('w1', 1, batch(producerId, epoch, 0, 'kept-1')), KafkaError.NONE);
    const addOffsets = await rpc(AddOffsetsToTxn, 3, {
      transactionalId: 'w1',
      producerId,
      producerEpoch: epoch,
      groupId: 'wg',
    });
    assert.equal(addOffsets.errorCode, KafkaError.NONE);
    const offsets = await rpc(TxnOffsetCommit, 3, {
      transactionalId: 'w1',
      groupId: 'wg',
      producerId,
      producerEpoch: epoch,
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      topics: [
        {
          name: 'wire',
          partitions: [
            { partitionIndex: 0, committedOffset: 5, committedMetadata: 'meta' },
            { partitionIndex: 9, committedOffset: 1, committedMetadata: null },
          ],
        },
      ],
    });
    assert.deepEqual(
      offsets.topics[0]!.partitions.map((p) => [p.partitionIndex, p.errorCode]),
      [
        [0, KafkaError.NONE],
        [9, KafkaError.UNKNOWN_TOPIC_OR_PARTITION],
      ],
    );
    assert.equal(t.log.groups.fetchOne('wg', 'wire', 0), undefined, 'not before the commit');
    assert.equal(await end(3, producerId, epoch, true), KafkaError.NONE);
    assert.deepEqual(
      [t.log.groups.fetchOne('wg', 'wire', 0)?.offset, t.log.groups.fetchOne('wg', 'wire', 0)?.metadata],
      [5, 'meta'],
    );
    assert.equal(await end(3, producerId, epoch, true), KafkaError.NONE, 'a retried commit is answered again');
    assert.equal(await end(3, producerId, epoch, false), KafkaError.INVALID_TXN_STATE);
    const values = t.log
      .readRecords('wire', 0, 0, { isolation: 'read_committed' })
      .records.map((r) => r.value?.toString());
    assert.deepEqual(values, ['kept-0']);
    assert.equal(await latest(1), await latest(0));
  });

  it('aborts a transaction that runs past its timeout, fencing its producer', async () => {
    const short = await init(4, 'w-timeout', 500);
    const answer = await rpc(AddPartitionsToTxn, 3, {
      v3AndBelowTransactionalId: 'w-timeout',
      v3AndBelowProducerId: short.producerId,
      v3AndBelowProducerEpoch: short.producerEpoch,
      v3AndBelowTopics: [{ name: 'wire', partitions: [1] }],
    });
    assert.equal(answer.resultsByTopicV3AndBelow[0]!.resultsByPartition[0]!.partitionErrorCode, KafkaError.NONE);
    const state = () => t.log.transactions.describe('w-timeout')?.state;
    // The coordinator checks deadlines every second; on a loaded machine that can take longer, never minutes.
    await eventually(() => state() === 'CompleteAbort', 'the timed-out transaction aborted', 300_000, 50);
    const ended = await rpc(EndTxn, 3, {
      transactionalId: 'w-timeout',
      producerId: short.producerId,
      producerEpoch: short.producerEpoch,
      committed: true,
    });
    assert.equal(ended.errorCode, KafkaError.PRODUCER_FENCED);
  });
});

/** A consumer group of one that collects every value it is given. */
async function collect(topic: string, groupId: string, readUncommitted: boolean) {
  const values: string[] = [];
  const consumer: Consumer = kafka().consumer({ groupId, readUncommitted, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!.toString()) });
  return { values, stop: () => consumer.disconnect() };
}

const messages = (prefix: string, partitions: number, each: number) =>
  Array.from({ length: partitions * each }, (_, i) => ({ partition: i % partitions, value: `${prefix}-${i}` }));

describe('kafkajs transactional producers', () => {
  it('commits and aborts: read_committed consumers see committed records only, read_uncommitted all of them', async () => {
    const admin = kafka().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'kjs-tx', numPartitions: 3 }] });
    await admin.disconnect();
    const producer = kafka().producer({ transactionalId: 'kjs-1', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const run = async (prefix: string, commit: boolean) => {
      const txn = await producer.transaction();
      await txn.send({ topic: 'kjs-tx', acks: -1, messages: messages(prefix, 3, 20) });
      await txn.send({ topic: 'kjs-tx', acks: -1, messages: messages(`${prefix}b`, 3, 5) });
      await (commit ? txn.commit() : txn.abort());
    };
    await run('first', true);
    await run('dropped', false);
    await run('second', true);
    const committed = await collect('kjs-tx', 'kjs-committed', false);
    const uncommitted = await collect('kjs-tx', 'kjs-uncommitted', true);
    try {
      // Every partition's last committed records come after the aborted ones: seeing them all means every aborted
      // record was passed over, not still on its way.
      await progresses(() => committed.values.length, 150, 'read_committed: both committed transactions');
      await progresses(() => uncommitted.values.length, 225, 'read_uncommitted: all three transactions');
      const kinds = (values: string[]) => [...new Set(values.map((v) => v.replace(/b?-\d+$/, '')))].sort();
      assert.deepEqual(kinds(committed.values), ['first', 'second']);
      assert.equal(new Set(committed.values).size, 150);
      assert.deepEqual(kinds(uncommitted.values), ['dropped', 'first', 'second']);

      // An open transaction holds read_committed readers back (they long-poll at the last stable offset instead
      // of spinning on data past it); read_uncommitted ones see its records at once.
      const open = await producer.transaction();
      await open.send({ topic: 'kjs-tx', acks: -1, messages: messages('open', 3, 4) });
      await progresses(() => uncommitted.values.length, 237, 'read_uncommitted: the open transaction');
      assert.equal(committed.values.length, 150, 'read_committed: nothing of the open transaction');
      await open.commit();
      await progresses(() => committed.values.length, 162, 'read_committed: the transaction once committed');
      assert.equal(committed.values.filter((v) => v.startsWith('open-')).length, 12);
    } finally {
      await committed.stop();
      await uncommitted.stop();
      await producer.disconnect();
    }
  });

  it('fences a zombie: the older instance of a transactional id can neither send nor commit', async () => {
    const zombie = kafka().producer({ transactionalId: 'kjs-zombie', idempotent: true, maxInFlightRequests: 1 });
    await zombie.connect();
    const old = await zombie.transaction();
    await old.send({ topic: 'kjs-fence', acks: -1, messages: [{ partition: 0, value: 'zombie-1' }] });
    // Its successor registers the same id: the epoch moves on and the transaction the zombie left open is aborted.
    const successor = kafka().producer({ transactionalId: 'kjs-zombie', idempotent: true, maxInFlightRequests: 1 });
    await successor.connect();
    const fresh = await successor.transaction();
    await fresh.send({ topic: 'kjs-fence', acks: -1, messages: [{ partition: 0, value: 'successor-1' }] });
    await assert.rejects(old.send({ topic: 'kjs-fence', acks: -1, messages: [{ partition: 0, value: 'zombie-2' }] }));
    await assert.rejects(old.commit());
    await fresh.commit();
    const read = t.log.readRecords('kjs-fence', 0, 0, { isolation: 'read_committed' });
    assert.deepEqual(
      read.records.map((r) => r.value?.toString()),
      ['successor-1'],
    );
    const all = t.log.readRecords('kjs-fence', 0, 0).records.map((r) => r.value?.toString());
    assert.ok(!all.includes('zombie-2'), 'the fenced send wrote nothing');
    await zombie.disconnect().catch(() => {});
    await successor.disconnect();
  });

  it('consume-transform-produce: offsets sent with the transaction commit with it, and not when it aborts', async () => {
    const source = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
    await source.connect();
    await source.send({ topic: 'ctp-in', acks: -1, messages: messages('in', 1, 40) });
    await source.disconnect();
    const producer = kafka().producer({ transactionalId: 'kjs-ctp', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const consumer = kafka().consumer({ groupId: 'ctp', maxWaitTimeInMs: 100, maxBytes: 512 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'ctp-in', fromBeginning: true });
    const committedOffset = async () => {
      const admin = kafka().admin();
      await admin.connect();
      try {
        const [topic] = await admin.fetchOffsets({ groupId: 'ctp', topics: ['ctp-in'] });
        return Number(topic!.partitions[0]!.offset);
      } finally {
        await admin.disconnect();
      }
    };
    try {
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const txn = await producer.transaction();
          await txn.send({
            topic: 'ctp-out',
            acks: -1,
            messages: batch.messages.map((m) => ({ value: m.value!.toString().toUpperCase() })),
          });
          const next = String(Number(batch.lastOffset()) + 1);
          await txn.sendOffsets({
            consumerGroupId: 'ctp',
            topics: [{ topic: 'ctp-in', partitions: [{ partition: batch.partition, offset: next }] }],
          });
          await txn.commit();
        },
      });
      await progresses(committedOffset, 40, 'the group offsets committed with the transactions');
    } finally {
      await consumer.disconnect();
    }
    const out = t.log.readRecords('ctp-out', 0, 0, { isolation: 'read_committed', maxBytes: 1 << 20 });
    assert.deepEqual(
      out.records.map((r) => r.value?.toString()),
      Array.from({ length: 40 }, (_, i) => `IN-${i}`),
    );
    // Aborted: neither the output nor the offsets.
    const txn = await producer.transaction();
    await txn.send({ topic: 'ctp-out', acks: -1, messages: [{ value: 'never' }] });
    await txn.sendOffsets({
      consumerGroupId: 'ctp',
      topics: [{ topic: 'ctp-in', partitions: [{ partition: 0, offset: '1000' }] }],
    });
    await txn.abort();
    assert.equal(await committedOffset(), 40);
    const after = t.log.readRecords('ctp-out', 0, 0, { isolation: 'read_committed', maxBytes: 1 << 20 });
    assert.equal(after.records.length, 40);
    await producer.disconnect();
  });
});
