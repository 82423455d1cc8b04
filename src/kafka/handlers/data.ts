// Produce, Fetch (with long-poll) and ListOffsets: the data plane over the log, at both isolation levels.
import { isSluiceError } from '../../errors.ts';
import { type BatchHeader, type IsolationLevel, readBatchHeader } from '../../log/index.ts';
import {
  type FetchRequest,
  type FetchResponse,
  KafkaError,
  kafkaErrorOf,
  type ListOffsetsRequest,
  type ListOffsetsResponse,
  type ProduceRequest,
  type ProduceResponse,
} from '../protocol/index.ts';
import { type BrokerContext, ensureTopic, type Handler } from './context.ts';
import { transactionalRefusal } from './transactions.ts';

type FetchPartitionData = FetchResponse['responses'][number]['partitions'][number];

/** Produce v7 is the first that may carry zstd batches (KIP-110); Kafka refuses them below it, per partition. */
const ZSTD_MIN_PRODUCE_VERSION = 7;

/** The headers of the whole batches in `records`, as far as they parse (a malformed batch is left for the log). */
function batchHeaders(records: Buffer): BatchHeader[] {
  const headers: BatchHeader[] = [];
  try {
    for (let pos = 0; ; pos += headers.at(-1)!.size) {
      const header = readBatchHeader(records, pos);
      if (header === null) return headers;
      headers.push(header);
    }
  } catch {
    return headers;
  }
}

export const produce: Handler<ProduceRequest, ProduceResponse> = async (body, broker, { header }) => {
  const zstdAllowed = header.apiVersion >= ZSTD_MIN_PRODUCE_VERSION;
  const acks = body.acks;
  const validAcks = acks === 0 || acks === 1 || acks === -1;
  const responses = await Promise.all(
    body.topicData.map(async (topic) => {
      let known = false;
      try {
        known = await ensureTopic(broker, topic.name);
      } catch {}
      const partitionResponses = await Promise.all(
        topic.partitionData.map(async (p) => {
          const response = {
            index: p.index,
            errorCode: KafkaError.NONE as number,
            baseOffset: -1,
            logAppendTimeMs: -1,
            logStartOffset: -1,
            recordErrors: [],
            errorMessage: null as string | null,
          };
          if (!validAcks) response.errorCode = KafkaError.INVALID_REQUIRED_ACKS;
          else if (!known) response.errorCode = KafkaError.UNKNOWN_TOPIC_OR_PARTITION;
          else if (p.records === null || p.records.length === 0) response.errorCode = KafkaError.CORRUPT_MESSAGE;
          else {
            const headers = batchHeaders(p.records);
            const refusal =
              !zstdAllowed && headers.some((h) => h.compression === 'zstd')
                ? {
                    errorCode: KafkaError.UNSUPPORTED_COMPRESSION_TYPE,
                    errorMessage: `Produce v${header.apiVersion} may not carry zstd batches (v${ZSTD_MIN_PRODUCE_VERSION}+ may)`,
                  }
                : transactionalRefusal(broker, header.apiVersion, body.transactionalId, topic.name, p.index, headers);
            if (refusal !== null) {
              response.errorCode = refusal.errorCode;
              response.errorMessage = refusal.errorMessage;
              return response;
            }
            try {
              // No await between the transactional check and this call: appendRaw writes before it first yields.
              const result = await broker.log.appendRaw(topic.name, p.index, p.records);
              response.baseOffset = result.baseOffset;
              response.logStartOffset = result.logStartOffset;
            } catch (error) {
              response.errorCode = kafkaErrorOf(error);
              response.errorMessage = isSluiceError(error) ? error.message : 'internal error';
              if (response.errorCode === KafkaError.UNKNOWN_SERVER_ERROR) {
                broker.logger.error({ err: error, topic: topic.name, partition: p.index }, 'produce failed');
              } else {
                broker.logger.debug(
                  { topic: topic.name, partition: p.index, reason: response.errorMessage },
                  'produce refused',
                );
              }
            }
          }
          return response;
        }),
      );
      return { name: topic.name, partitionResponses };
    }),
  );
  return { responses, throttleTimeMs: 0 };
};

interface FetchTarget {
  topic: string;
  partition: number;
  offset: number;
  maxBytes: number;
}

/**
 * One pass over the requested partitions, within the response's byte budget. read_committed stops at each
 * partition's last stable offset and names the aborted transactions among the batches (producer id and first
 * offset: the client skips their batches up to the abort marker); read_uncommitted answers them null, as Kafka does.
 */
function readOnce(broker: BrokerContext, targets: FetchTarget[], responseMaxBytes: number, isolation: IsolationLevel) {
  const committed = isolation === 'read_committed';
  let total = 0;
  let errors = 0;
  const byTopic = new Map<string, FetchPartitionData[]>();
  for (const t of targets) {
    const part: FetchPartitionData = {
      partitionIndex: t.partition,
      errorCode: KafkaError.NONE,
      highWatermark: -1,
      lastStableOffset: -1,
      logStartOffset: -1,
      abortedTransactions: null,
      preferredReadReplica: -1,
      records: null,
    };
    try {
      const budget = Math.min(t.maxBytes, Math.max(responseMaxBytes - total, 0));
      // The first non-empty partition gets at least one whole batch even if it exceeds the budget (KIP-74).
      const raw = broker.log.readRaw(t.topic, t.partition, t.offset, {
        maxBytes: budget > 0 ? budget : 1,
        isolation,
      });
      const batches = budget > 0 || total === 0 ? raw.batches : raw.batches.subarray(0, 0);
      part.highWatermark = raw.highWatermark;
      part.lastStableOffset = raw.lastStableOffset ?? raw.highWatermark;
      part.logStartOffset = raw.logStartOffset;
      if (committed) {
        // In first-offset order: kafkajs walks the list in that order (Kafka's clients sort it themselves).
        const aborted = batches.length > 0 ? (raw.abortedTransactions ?? []) : [];
        part.abortedTransactions = aborted
          .map(({ producerId, firstOffset }) => ({ producerId, firstOffset }))
          .sort((a, b) => a.firstOffset - b.firstOffset);
      }
      part.records = batches;
      total += batches.length;
    } catch (error) {
      part.errorCode = kafkaErrorOf(error);
      errors++;
      if (part.errorCode === KafkaError.OFFSET_OUT_OF_RANGE || part.errorCode === KafkaError.NONE) {
        try {
          const info = broker.log.describeTopic(t.topic).partitions[t.partition];
          if (info) {
            part.highWatermark = info.logEndOffset;
            part.lastStableOffset = info.lastStableOffset;
            part.logStartOffset = info.logStartOffset;
          }
        } catch {}
      }
    }
    let list = byTopic.get(t.topic);
    if (!list) byTopic.set(t.topic, (list = []));
    list.push(part);
  }
  return { total, errors, responses: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) };
}

export const fetch: Handler<FetchRequest, FetchResponse> = async (body, broker) => {
  const isolation: IsolationLevel = body.isolationLevel === 1 ? 'read_committed' : 'read_uncommitted';
  const targets: FetchTarget[] = [];
  for (const topic of body.topics) {
    for (const p of topic.partitions) {
      targets.push({
        topic: topic.topic,
        partition: p.partition,
        offset: p.fetchOffset,
        maxBytes: Math.max(0, p.partitionMaxBytes),
      });
    }
  }
  const maxBytes = Math.max(0, body.maxBytes);
  const minBytes = Math.max(0, body.minBytes);
  const deadline = Date.now() + Math.max(0, Math.min(body.maxWaitMs, 60_000));
  for (;;) {
    const result = readOnce(broker, targets, maxBytes, isolation);
    const remaining = deadline - Date.now();
    // Errors (unknown partition, offset out of range) are answered at once, as Kafka does: waiting cannot fix them.
    if (result.total >= Math.max(minBytes, 1) || result.errors > 0 || remaining <= 0 || targets.length === 0) {
      return { throttleTimeMs: 0, errorCode: KafkaError.NONE, sessionId: 0, responses: result.responses };
    }
    // Long-poll: sleep until any requested partition gets new data — read_committed, data below its last stable
    // offset (records of an open transaction would wake it to read nothing) — or the wait runs out.
    const controller = new AbortController();
    const waits = targets.map((t) => {
      try {
        return broker.log.waitForData(t.topic, t.partition, t.offset, {
          timeoutMs: remaining,
          signal: controller.signal,
          isolation,
        });
      } catch {
        return Promise.resolve(true); // the partition vanished: wake, and the next read reports the error
      }
    });
    const woken = await Promise.race(waits);
    controller.abort();
    if (!woken && Date.now() >= deadline) {
      const last = readOnce(broker, targets, maxBytes, isolation);
      return { throttleTimeMs: 0, errorCode: KafkaError.NONE, sessionId: 0, responses: last.responses };
    }
  }
};

/**
 * ListOffsets. Under read_committed (isolation level 1, v2+) the latest offset is the last stable offset, and a
 * lookup by time finds only offsets below it, as in Kafka.
 */
export const listOffsets: Handler<ListOffsetsRequest, ListOffsetsResponse> = (body, broker) => {
  const committed = body.isolationLevel === 1;
  const topics = body.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((p) => {
      const out = {
        partitionIndex: p.partitionIndex,
        errorCode: KafkaError.NONE as number,
        timestamp: -1,
        offset: -1,
        leaderEpoch: 0,
      };
      try {
        const info = broker.log.describeTopic(topic.name).partitions[p.partitionIndex];
        if (info === undefined) {
          out.errorCode = KafkaError.UNKNOWN_TOPIC_OR_PARTITION;
        } else if (p.timestamp === -1) {
          out.offset = committed ? info.lastStableOffset : info.logEndOffset;
        } else if (p.timestamp === -2) {
          out.offset = info.logStartOffset;
        } else {
          const offset = broker.log.offsetForTimestamp(topic.name, p.partitionIndex, p.timestamp);
          if (offset !== null && offset < (committed ? info.lastStableOffset : info.logEndOffset)) {
            out.offset = offset;
            out.timestamp =
              broker.log.readRecords(topic.name, p.partitionIndex, offset, { maxBytes: 1 }).records[0]?.timestamp ?? -1;
          }
        }
      } catch (error) {
        out.errorCode = kafkaErrorOf(error);
      }
      return out;
    }),
  }));
  return { throttleTimeMs: 0, topics };
};
