// The records of a page of whole batches (what readRaw returns, from the embedded log or a Kafka cluster's Fetch):
// decoded from `offset`, never a transaction marker, and where the page lists aborted transactions (read_committed),
// never one of their records. Keys, values and header values are views into the page (or a decompressed batch).
import type { RawReadResult, RecordReadResult, StoredRecord } from '../types.ts';
import { isAbortedBatch } from './control.ts';
import { decodeBatchRecords, readBatchHeader } from './record-batch.ts';

export function decodePage(offset: number, page: RawReadResult): RecordReadResult {
  const aborted = page.abortedTransactions ?? [];
  const records: StoredRecord[] = [];
  const data = page.batches;
  for (let pos = 0; ; ) {
    const header = readBatchHeader(data, pos);
    if (header === null) break;
    if (!header.isControl && !isAbortedBatch(header, aborted)) decodeBatchRecords(data, header, records, offset);
    pos += header.size;
  }
  return {
    records,
    nextOffset: page.nextOffset,
    highWatermark: page.highWatermark,
    logStartOffset: page.logStartOffset,
    lastStableOffset: page.lastStableOffset,
  };
}
