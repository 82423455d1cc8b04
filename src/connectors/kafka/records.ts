// Between the log's records and the Kafka client's: LogRecords become the client's messages (bytes kept as they
// are, headers in a Map keyed by distinct Buffers so that repeated header keys survive), and fetched record
// batches become StoredRecords with absolute offsets and timestamps (read committed: without aborted transactions).
import type { Consumer, MessageToProduce, ProduceResult } from '@platformatic/kafka';
import { SluiceError } from '../../errors.ts';
import type { LogRecord, RecordHeader, RecordReadResult, StoredRecord } from '../../log/index.ts';

/** Batch attribute bits (Kafka record batch v2). */
const LOG_APPEND_TIME = 0x08;
const TRANSACTIONAL = 0x10;
const CONTROL = 0x20;

export type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;
export type FetchedPartition = FetchResponse['responses'][number]['partitions'][number];

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
 * One partition of a fetch response as a read result from `offset`: records before it (a batch may start earlier)
 * and control records are skipped, and so, read committed, are the batches of aborted transactions; `nextOffset`
 * follows the last batch, so compacted gaps, markers and aborted batches are stepped over.
 */
export function toReadResult(offset: number, p: FetchedPartition, committed = false): RecordReadResult {
  const records: StoredRecord[] = [];
  let nextOffset = offset;
  const aborted = committed ? new AbortedBatches(p.abortedTransactions) : undefined;
  for (const batch of p.records ?? []) {
    const base = Number(batch.firstOffset);
    nextOffset = Math.max(nextOffset, base + batch.lastOffsetDelta + 1);
    if (aborted?.skips(batch)) continue;
    if ((batch.attributes & CONTROL) !== 0) continue;
    const appendTime = (batch.attributes & LOG_APPEND_TIME) !== 0;
    const firstTimestamp = Number(batch.firstTimestamp);
    const maxTimestamp = Number(batch.maxTimestamp);
    for (const r of batch.records) {
      const recordOffset = base + r.offsetDelta;
      if (recordOffset < offset) continue;
      records.push({
        offset: recordOffset,
        timestamp: appendTime ? maxTimestamp : firstTimestamp + Number(r.timestampDelta),
        key: r.key,
        value: r.value,
        headers: r.headers.length === 0 ? [] : fromHeaders(r.headers),
      });
    }
  }
  const highWatermark = Number(p.highWatermark);
  return {
    records,
    nextOffset,
    highWatermark,
    logStartOffset: Number(p.logStartOffset),
    // Below it every transaction has ended: where read_committed readers stop (brokers that do not know it send -1).
    lastStableOffset: p.lastStableOffset >= 0n ? Number(p.lastStableOffset) : highWatermark,
  };
}

type FetchedBatch = NonNullable<FetchedPartition['records']>[number];

/**
 * Which batches of a read_committed fetch belong to aborted transactions, as Kafka's own consumer decides: the
 * response lists each aborted transaction by producer id and first offset; from that offset on, the producer's
 * transactional batches are aborted until its abort marker. (The marker need not be in the same response, and one
 * producer may have aborted several transactions in it: the client's own filter misses both cases.)
 */
export class AbortedBatches {
  /** Aborted transactions not reached yet, by first offset. */
  private readonly pending: { producerId: bigint; firstOffset: bigint }[];
  private next = 0;
  /** Producers whose aborted transaction the batches have reached, and whose abort marker they have not. */
  private readonly open = new Set<bigint>();

  constructor(aborted: readonly { producerId: bigint; firstOffset: bigint }[] | null | undefined) {
    this.pending = [...(aborted ?? [])].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1));
  }

  /** True for a batch a read_committed reader skips as aborted (an abort marker ends its producer's range). */
  skips(batch: FetchedBatch): boolean {
    if (batch.producerId < 0n) return false;
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    while (this.next < this.pending.length && this.pending[this.next]!.firstOffset <= last) {
      this.open.add(this.pending[this.next++]!.producerId);
    }
    if ((batch.attributes & CONTROL) !== 0) {
      if (isAbortMarker(batch)) this.open.delete(batch.producerId);
      return false;
    }
    return (batch.attributes & TRANSACTIONAL) !== 0 && this.open.has(batch.producerId);
  }
}

/** A control batch's record key is version (int16) and type (int16): 0 abort, 1 commit. */
function isAbortMarker(batch: FetchedBatch): boolean {
  const key = batch.records[0]?.key;
  return key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === 0;
}

function fromHeaders(headers: [Buffer | null, Buffer | null][]): RecordHeader[] {
  const out = new Array<RecordHeader>(headers.length);
  for (let i = 0; i < headers.length; i++) {
    const [key, value] = headers[i]!;
    out[i] = { key: key?.toString() ?? '', value };
  }
  return out;
}
