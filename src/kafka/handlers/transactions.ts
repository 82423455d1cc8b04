// The transaction coordinator's APIs — InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn,
// DescribeTransactions and ListTransactions — over the log's TransactionCoordinator (src/log/transactions), and what
// Produce checks of a transactional request. This broker coordinates every transactional id (FindCoordinator, in
// groups.ts). Transactions v2 (KIP-890 part 2: an epoch bump at every transaction's end) is not served.
import { isSluiceError } from '../../errors.ts';
import type { BatchHeader, TransactionalProducer, TransactionDescription } from '../../log/index.ts';
import {
  type AddOffsetsToTxnRequest,
  type AddOffsetsToTxnResponse,
  type AddPartitionsToTxnRequest,
  type AddPartitionsToTxnResponse,
  type DescribeTransactionsRequest,
  type DescribeTransactionsResponse,
  type EndTxnRequest,
  type EndTxnResponse,
  type InitProducerIdRequest,
  type InitProducerIdResponse,
  KafkaError,
  kafkaErrorOf,
  type ListTransactionsRequest,
  type ListTransactionsResponse,
  type TxnOffsetCommitRequest,
  type TxnOffsetCommitResponse,
} from '../protocol/index.ts';
import { type BrokerContext, ensureTopic, type Handler } from './context.ts';
import { commitEach } from './groups.ts';

/**
 * The first version of each API that knows PRODUCER_FENCED (KIP-588); older ones are answered INVALID_PRODUCER_EPOCH,
 * which their clients handle the same way (Kafka's KafkaApis does so for InitProducerId < 4, AddPartitionsToTxn,
 * AddOffsetsToTxn and EndTxn < 2). Produce and TxnOffsetCommit never carry it: Kafka's partitions and group
 * coordinator answer a stale epoch with INVALID_PRODUCER_EPOCH at every version.
 */
export const PRODUCER_FENCED_SINCE = {
  InitProducerId: 4,
  AddPartitionsToTxn: 2,
  AddOffsetsToTxn: 2,
  EndTxn: 2,
  TxnOffsetCommit: Number.POSITIVE_INFINITY,
  Produce: Number.POSITIVE_INFINITY,
} as const;

/** The Kafka code for an error the coordinator threw, as a request of `api` at `version` may be answered. */
export function transactionError(
  broker: BrokerContext,
  error: unknown,
  api: keyof typeof PRODUCER_FENCED_SINCE,
  version: number,
): number {
  const code = kafkaErrorOf(error);
  if (code === KafkaError.UNKNOWN_SERVER_ERROR) broker.logger.error({ err: error, api }, 'transaction request failed');
  else
    broker.logger.debug(
      { api, reason: isSluiceError(error) ? error.message : String(error) },
      'transaction request refused',
    );
  return code === KafkaError.PRODUCER_FENCED && version < PRODUCER_FENCED_SINCE[api]
    ? KafkaError.INVALID_PRODUCER_EPOCH
    : code;
}

/**
 * InitProducerId. Without a transactional id: a fresh producer id at epoch 0, whatever id and epoch the request names
 * (as Kafka does for idempotent producers: trusting a client-supplied id would let two producers share sequence state;
 * some clients send 0/0). With one: the coordinator's producer id and a bumped epoch, which fences older instances
 * and aborts a transaction they left open; v3+ may name the current id and epoch (KIP-360) to keep the producer id.
 */
export const initProducerId: Handler<InitProducerIdRequest, InitProducerIdResponse> = async (
  body,
  broker,
  { header },
) => {
  const answer = (errorCode: number, producerId = -1, producerEpoch = -1): InitProducerIdResponse => ({
    throttleTimeMs: 0,
    errorCode,
    producerId,
    producerEpoch,
  });
  const transactions = broker.log.transactions;
  if (body.transactionalId === null) return answer(KafkaError.NONE, transactions.newProducerId(), 0);
  const { producerId, producerEpoch } = body;
  // As Kafka: both -1 (a new producer), or both set (KIP-360: the current id and epoch); one without the other is bad.
  if ((producerId === -1) !== (producerEpoch === -1)) return answer(KafkaError.INVALID_REQUEST);
  try {
    const producer = await transactions.initProducer(
      body.transactionalId,
      body.transactionTimeoutMs,
      producerId === -1 ? undefined : { producerId, producerEpoch },
    );
    return answer(KafkaError.NONE, producer.producerId, producer.producerEpoch);
  } catch (error) {
    return answer(transactionError(broker, error, 'InitProducerId', header.apiVersion));
  }
};

/** How many partitions the topic has (after auto-creating it the way Produce does); 0 when it does not exist. */
async function partitionCount(broker: BrokerContext, topic: string): Promise<number> {
  try {
    return (await ensureTopic(broker, topic)) ? broker.log.describeTopic(topic).partitions.length : 0;
  } catch {
    return 0;
  }
}

/**
 * AddPartitionsToTxn (v0–3, the clients' form). As Kafka: one unknown partition fails the whole request — it gets
 * UNKNOWN_TOPIC_OR_PARTITION and every other partition OPERATION_NOT_ATTEMPTED; otherwise the coordinator adds them
 * all (durably) or none, and its error (fenced, bad state…) is every partition's.
 */
export const addPartitionsToTxn: Handler<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse> = async (
  body,
  broker,
  { header },
) => {
  const producer: TransactionalProducer = {
    transactionalId: body.v3AndBelowTransactionalId,
    producerId: body.v3AndBelowProducerId,
    producerEpoch: body.v3AndBelowProducerEpoch,
  };
  const topics = await Promise.all(
    body.v3AndBelowTopics.map(async (topic) => {
      const count = await partitionCount(broker, topic.name);
      return {
        name: topic.name,
        partitions: topic.partitions.map((partition) => ({ partition, exists: partition >= 0 && partition < count })),
      };
    }),
  );
  const allExist = topics.every((t) => t.partitions.every((p) => p.exists));
  let errorCode: number = KafkaError.NONE;
  if (allExist) {
    try {
      const partitions = topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition })));
      await broker.log.transactions.addPartitions(producer, partitions);
    } catch (error) {
      errorCode = transactionError(broker, error, 'AddPartitionsToTxn', header.apiVersion);
    }
  }
  return {
    throttleTimeMs: 0,
    resultsByTopicV3AndBelow: topics.map((t) => ({
      name: t.name,
      resultsByPartition: t.partitions.map((p) => ({
        partitionIndex: p.partition,
        partitionErrorCode: allExist
          ? errorCode
          : p.exists
            ? KafkaError.OPERATION_NOT_ATTEMPTED
            : KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
      })),
    })),
  };
};

/** AddOffsetsToTxn: the group's offsets become part of the transaction (TxnOffsetCommit then names them). */
export const addOffsetsToTxn: Handler<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse> = async (
  body,
  broker,
  { header },
) => {
  const { transactionalId, producerId, producerEpoch, groupId } = body;
  if (!groupId) return { throttleTimeMs: 0, errorCode: KafkaError.INVALID_GROUP_ID };
  try {
    await broker.log.transactions.addGroup({ transactionalId, producerId, producerEpoch }, groupId);
    return { throttleTimeMs: 0, errorCode: KafkaError.NONE };
  } catch (error) {
    return { throttleTimeMs: 0, errorCode: transactionError(broker, error, 'AddOffsetsToTxn', header.apiVersion) };
  }
};

/**
 * TxnOffsetCommit: offsets the group commits if and only if the transaction commits. v3+ names the consumer's
 * generation and member id, checked as OffsetCommit checks them (a rebalance that is completing does not refuse a
 * transactional commit, as in Kafka: the offsets apply only at the commit). Errors per partition.
 */
export const txnOffsetCommit: Handler<TxnOffsetCommitRequest, TxnOffsetCommitResponse> = async (
  body,
  broker,
  { header },
) => {
  const { transactionalId, producerId, producerEpoch, groupId } = body;
  let membership: number = broker.coordinator.checkCommit(groupId, body.generationId, body.memberId);
  if (membership === KafkaError.REBALANCE_IN_PROGRESS) membership = KafkaError.NONE;
  const topics = await commitEach(broker, membership, body.topics, async (offsets) => {
    try {
      await broker.log.transactions.commitOffsets({ transactionalId, producerId, producerEpoch }, groupId, offsets);
      return KafkaError.NONE;
    } catch (error) {
      return transactionError(broker, error, 'TxnOffsetCommit', header.apiVersion);
    }
  });
  return { throttleTimeMs: 0, topics };
};

/** EndTxn: commit or abort — the markers durable in every partition (and, on commit, the group offsets) first. */
export const endTxn: Handler<EndTxnRequest, EndTxnResponse> = async (body, broker, { header }) => {
  const { transactionalId, producerId, producerEpoch, committed } = body;
  try {
    await broker.log.transactions.endTransaction({ transactionalId, producerId, producerEpoch }, committed);
    return { throttleTimeMs: 0, errorCode: KafkaError.NONE };
  } catch (error) {
    return { throttleTimeMs: 0, errorCode: transactionError(broker, error, 'EndTxn', header.apiVersion) };
  }
};

/** The partitions of a transaction, by topic, in first-seen order. */
function byTopic(partitions: readonly { topic: string; partition: number }[]) {
  const topics = new Map<string, number[]>();
  for (const { topic, partition } of partitions) {
    let list = topics.get(topic);
    if (list === undefined) topics.set(topic, (list = []));
    list.push(partition);
  }
  return [...topics].map(([topic, list]) => ({ topic, partitions: list }));
}

/** DescribeTransactions: an id this coordinator does not know is TRANSACTIONAL_ID_NOT_FOUND, as in Kafka. */
export const describeTransactions: Handler<DescribeTransactionsRequest, DescribeTransactionsResponse> = (
  body,
  broker,
) => ({
  throttleTimeMs: 0,
  transactionStates: body.transactionalIds.map((transactionalId) => {
    const txn = broker.log.transactions.describe(transactionalId);
    if (txn === undefined) {
      return {
        errorCode: KafkaError.TRANSACTIONAL_ID_NOT_FOUND,
        transactionalId,
        transactionState: '',
        transactionTimeoutMs: 0,
        transactionStartTimeMs: -1,
        producerId: -1,
        producerEpoch: -1,
        topics: [],
      };
    }
    return {
      errorCode: KafkaError.NONE,
      transactionalId,
      transactionState: txn.state,
      transactionTimeoutMs: txn.timeoutMs,
      transactionStartTimeMs: txn.startTimeMs,
      producerId: txn.producerId,
      producerEpoch: txn.producerEpoch,
      topics: byTopic(txn.partitions),
    };
  }),
});

/** Kafka's transaction states by name (TransactionState.fromName): filters naming anything else are unknown. */
const KNOWN_STATES: ReadonlySet<string> = new Set([
  'Empty',
  'Ongoing',
  'PrepareCommit',
  'PrepareAbort',
  'CompleteCommit',
  'CompleteAbort',
  'Dead',
  'PrepareEpochFence',
]);

/**
 * ListTransactions, filtered as Kafka filters: by state (names it does not know are listed back as unknown and match
 * nothing), by producer id, and (v1, KIP-994) to transactions running longer than a duration.
 */
export const listTransactions: Handler<ListTransactionsRequest, ListTransactionsResponse> = (body, broker) => {
  const states = new Set(body.stateFilters);
  const producerIds = new Set(body.producerIdFilters);
  const now = Date.now();
  const include = (txn: TransactionDescription) =>
    (producerIds.size === 0 || producerIds.has(txn.producerId)) &&
    (states.size === 0 || states.has(txn.state)) &&
    (body.durationFilter < 0 || now - txn.startTimeMs > body.durationFilter);
  return {
    throttleTimeMs: 0,
    errorCode: KafkaError.NONE,
    unknownStateFilters: body.stateFilters.filter((s) => !KNOWN_STATES.has(s)),
    transactionStates: broker.log.transactions
      .list()
      .filter(include)
      .map((txn) => ({
        transactionalId: txn.transactionalId,
        producerId: txn.producerId,
        transactionState: txn.state,
      })),
  };
};

/**
 * Why Produce refuses the transactional side of one partition's batches, or null when they may be appended: a request
 * with a transactional id carries only transactional batches, each of a producer whose open transaction includes the
 * partition (AddPartitionsToTxn first); one without carries none. Checked synchronously right before the append, so
 * no marker can slip between the check and the batch.
 */
export function transactionalRefusal(
  broker: BrokerContext,
  version: number,
  transactionalId: string | null,
  topic: string,
  partition: number,
  headers: readonly BatchHeader[],
): { errorCode: number; errorMessage: string } | null {
  for (const header of headers) {
    if (transactionalId === null) {
      if (header.isTransactional) {
        return {
          errorCode: KafkaError.INVALID_RECORD,
          errorMessage: 'a transactional record batch in a produce request without a transactional id',
        };
      }
      continue;
    }
    if (!header.isTransactional) {
      return {
        errorCode: KafkaError.INVALID_RECORD,
        errorMessage: `a produce request of transactional id ${transactionalId} carries a non-transactional record batch`,
      };
    }
    try {
      broker.log.transactions.verifyPartition(
        { transactionalId, producerId: header.producerId, producerEpoch: header.producerEpoch },
        topic,
        partition,
      );
    } catch (error) {
      return {
        errorCode: transactionError(broker, error, 'Produce', version),
        errorMessage: isSluiceError(error) ? error.message : 'internal error',
      };
    }
  }
  return null;
}
