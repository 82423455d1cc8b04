// Between the log's records and the Kafka client's: LogRecords become the client's messages (bytes kept as they
// are, headers in a Map keyed by distinct Buffers so that repeated header keys survive), and fetched record
// batches become StoredRecords with absolute offsets and timestamps.
import type { Consumer, MessageToProduce } from '@platformatic/kafka';
import type { LogRecord, RecordHeader, RecordReadResult, StoredRecord } from '../../log/index.ts';

/** Batch attribute bits (Kafka record batch v2). */
const LOG_APPEND_TIME = 0x08;
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

function toHeaderMap(headers: readonly RecordHeader[]): Map<Buffer, Buffer> {
  const map = new Map<Buffer, Buffer>();
  for (const h of headers) map.set(Buffer.from(h.key), h.value as Buffer);
  return map;
}

/**
 * One partition of a fetch response as a read result from `offset`: records before it (a batch may start earlier)
 * and control records are skipped; `nextOffset` follows the last batch, so compacted gaps are stepped over.
 */
export function toReadResult(offset: number, p: FetchedPartition): RecordReadResult {
  const records: StoredRecord[] = [];
  let nextOffset = offset;
  for (const batch of p.records ?? []) {
    const base = Number(batch.firstOffset);
    nextOffset = Math.max(nextOffset, base + batch.lastOffsetDelta + 1);
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
  return {
    records,
    nextOffset,
    // Read-committed: the end a reader can reach is the last stable offset (the high watermark without open
    // transactions); brokers that do not know it send -1.
    highWatermark: Number(p.lastStableOffset >= 0n ? p.lastStableOffset : p.highWatermark),
    logStartOffset: Number(p.logStartOffset),
  };
}

function fromHeaders(headers: [Buffer | null, Buffer | null][]): RecordHeader[] {
  const out = new Array<RecordHeader>(headers.length);
  for (let i = 0; i < headers.length; i++) {
    const [key, value] = headers[i]!;
    out[i] = { key: key?.toString() ?? '', value };
  }
  return out;
}
