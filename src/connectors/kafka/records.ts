// Between the log's records and the cluster's: LogRecords become the Kafka client's messages (bytes kept as they
// are, headers in a Map keyed by distinct Buffers so that repeated header keys survive), and a partition of a Fetch
// answer becomes the page the embedded log's readRaw returns — its record batches as they came, undecoded, with the
// aborted transactions among them in the log's form — which the log's own decoder reads (readRecords, LogSource).
import type { MessageToProduce, ProduceResult } from '@platformatic/kafka';
import { SluiceError } from '../../errors.ts';
import {
  type AbortedTransaction,
  type BatchHeader,
  type LogRecord,
  markerTypeOf,
  type RawReadResult,
  type RecordHeader,
  readBatchHeader,
} from '../../log/index.ts';
import type { FetchAnswer } from './fetch-connection.ts';

export type FetchedPartition = FetchAnswer['responses'][number]['partitions'][number];

const EMPTY = Buffer.alloc(0);
/** An aborted transaction whose abort marker is not in the page: it runs past the page's end. */
const OPEN_ENDED = Number.MAX_SAFE_INTEGER;

export function toMessages(topic: string, partition: number, records: readonly LogRecord[]): MessageToProduce[] {
  const messages = new Array<MessageToProduce>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const headers = r.headers?.length ? toHeaderMap(r.headers) : undefined;
    // The client encodes null and undefined alike as Kafka's null (-1 length); the types say Buffer only.
    messages[i] = {
      topic,
      partition,
      key: (r.key ?? undefined) as Buffer,
      value: r.value as Buffer,
      headers,
      timestamp: r.timestamp === undefined ? undefined : BigInt(r.timestamp),
    };
  }
  return messages;
}

/** The offsets a produce acknowledgement gave `count` records sent to one partition. */
export function acknowledgedOffsets(
  result: ProduceResult,
  topic: string,
  partition: number,
  count: number,
  what: string,
): { baseOffset: number; lastOffset: number } {
  const base = result.offsets?.find((o) => o.topic === topic && o.partition === partition)?.offset;
  if (base === undefined) throw new SluiceError('APPEND_FAILED', `${what}: the cluster acknowledged no offset`);
  return { baseOffset: Number(base), lastOffset: Number(base) + count - 1 };
}

function toHeaderMap(headers: readonly RecordHeader[]): Map<Buffer, Buffer> {
  const map = new Map<Buffer, Buffer>();
  for (const h of headers) map.set(Buffer.from(h.key), h.value as Buffer);
  return map;
}

/**
 * One partition of a Fetch answer as a raw page read from `offset`: its whole record batches (a batch cut short by the
 * byte limit is left for the next read), `nextOffset` after the last of them — so compacted gaps, transaction
 * markers and aborted batches are stepped over —, and read committed, the aborted transactions Kafka listed, each
 * ending at its producer's abort marker when the page holds it (Kafka lists only where each starts; one producer may
 * have aborted several, and a marker may come in a later page: the transaction then runs past this one's end).
 */
export function toRawPage(offset: number, p: FetchedPartition, committed: boolean): RawReadResult {
  const data = p.records ?? EMPTY;
  let end = 0;
  let nextOffset = offset;
  const markers: BatchHeader[] = [];
  for (;;) {
    const header = readBatchHeader(data, end);
    if (header === null) break;
    end += header.size;
    nextOffset = Math.max(nextOffset, header.baseOffset + header.lastOffsetDelta + 1);
    if (committed && header.isControl && header.isTransactional) markers.push(header);
  }
  const highWatermark = p.highWatermark;
  const page: RawReadResult = {
    batches: end === data.length ? data : data.subarray(0, end),
    nextOffset,
    highWatermark,
    logStartOffset: p.logStartOffset ?? 0,
    // Below it every transaction has ended: where read_committed readers stop (brokers that do not know it send -1).
    lastStableOffset: p.lastStableOffset >= 0 ? p.lastStableOffset : highWatermark,
  };
  if (committed) page.abortedTransactions = abortedIn(data, p.abortedTransactions ?? [], markers);
  return page;
}

function abortedIn(
  data: Buffer,
  listed: readonly { producerId: number; firstOffset: number }[],
  markers: readonly BatchHeader[],
): AbortedTransaction[] {
  if (listed.length === 0) return [];
  const aborts = markers.filter((m) => markerTypeOf(data, m) === 'abort');
  return listed.map(({ producerId, firstOffset }) => {
    const marker = aborts.find((m) => m.producerId === producerId && m.baseOffset >= firstOffset);
    return { producerId, firstOffset, lastOffset: marker?.baseOffset ?? OPEN_ENDED };
  });
}

/** The records of a raw page from `offset`, decoded by the log's own reader (read committed where it lists aborted
 * transactions). */
export { decodePage } from '../../log/index.ts';
