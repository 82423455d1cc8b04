// The partition's read path (hot: bench/log.ts): whole stored batches from an offset up to a byte budget, the
// records decoded from them, and the first offset at or after a timestamp. Readers see only the high watermark.
import { SluiceError } from '../../errors.ts';
import { decodePage } from '../batch/page.ts';
import { decodeBatchRecords, readBatchHeader } from '../batch/record-batch.ts';
import type { Segment } from '../segment.ts';
import type { IsolationLevel, RawReadResult, RecordReadResult, StoredRecord } from '../types.ts';
import type { Partition } from './state.ts';
import { abortedBetween } from './transactions.ts';

const DEFAULT_MAX_READ_BYTES = 1 << 20;

/**
 * Whole batches from `offset` up to the high watermark — or, read_committed, up to the last stable offset, with the
 * aborted transactions among them (the reader skips those: `isAbortedBatch`).
 */
export function readRaw(
  p: Partition,
  offset: number,
  maxBytes = DEFAULT_MAX_READ_BYTES,
  into?: Buffer,
  isolation: IsolationLevel = 'read_uncommitted',
): RawReadResult {
  ensureReadable(p, offset);
  const committed = isolation === 'read_committed';
  const lastStableOffset = p.lastStableOffset;
  const upTo = committed ? lastStableOffset : p.highWatermark;
  const result = readUpTo(p, offset, upTo, maxBytes, into);
  result.lastStableOffset = lastStableOffset;
  if (committed) {
    result.abortedTransactions = result.nextOffset > offset ? abortedBetween(p, offset, result.nextOffset) : [];
  }
  return result;
}

function readUpTo(p: Partition, offset: number, upTo: number, maxBytes: number, into?: Buffer): RawReadResult {
  const empty = {
    batches: Buffer.alloc(0),
    nextOffset: offset,
    highWatermark: p.highWatermark,
    logStartOffset: p.logStartOffset,
  };
  if (offset >= upTo) return empty;
  const segment = segmentFor(p, offset);
  let position = segment.positionFor(offset);
  const limit = Math.max(maxBytes, 1);
  // Read a window that usually holds the indexed batch, the skipped ones and `maxBytes` of wanted ones.
  let window = segment.read(position, limit + 2 * 4096 + 256, into);
  let pos = 0;
  let start = -1;
  let end = -1;
  let nextOffset = offset;
  for (;;) {
    const header = readBatchHeader(window, pos);
    if (header === null) {
      if (start >= 0 || position + pos >= segment.visibleSize) break;
      // The next batch does not fit in the window: read again from it, large enough for that batch.
      position += pos;
      const needed = pos < window.length - 12 ? 12 + window.readInt32BE(pos + 8) : 4096;
      window = segment.read(position, Math.max(needed, limit + 4096));
      pos = 0;
      if (window.length === 0) break;
      continue;
    }
    const lastOffset = header.baseOffset + header.lastOffsetDelta;
    if (lastOffset < offset) {
      pos += header.size;
      continue;
    }
    if (header.baseOffset >= upTo) break; // the last stable offset always starts a batch
    if (start < 0) start = pos;
    else if (pos + header.size - start > limit) break;
    end = pos + header.size;
    nextOffset = lastOffset + 1;
    pos += header.size;
    if (end - start >= limit) break;
  }
  if (start < 0) {
    // The offset lies past this segment's data (e.g. at a segment boundary): continue in the next segment.
    const next = p.segments[p.segments.indexOf(segment) + 1];
    if (next !== undefined && offset >= segment.nextOffset) return readUpTo(p, next.baseOffset, upTo, maxBytes, into);
    return empty;
  }
  return {
    batches: window.subarray(start, end),
    nextOffset: Math.min(nextOffset, upTo),
    highWatermark: p.highWatermark,
    logStartOffset: p.logStartOffset,
  };
}

/** Decoded records from `offset`: never a transaction marker, and read_committed, never an aborted record. */
export function readRecords(
  p: Partition,
  offset: number,
  maxBytes = DEFAULT_MAX_READ_BYTES,
  isolation: IsolationLevel = 'read_uncommitted',
): RecordReadResult {
  return decodePage(offset, readRaw(p, offset, maxBytes, undefined, isolation));
}

export function offsetForTimestamp(p: Partition, timestamp: number): number | null {
  for (const segment of p.segments) {
    if (segment.maxTimestamp < timestamp) continue;
    let result: number | null = null;
    const start = segment.positionForTimestamp(timestamp);
    try {
      segment.scan(start, segment.visibleSize, false, (header, position) => {
        if (header.maxTimestamp < timestamp) return;
        const window = segment.read(position, header.size);
        const records: StoredRecord[] = [];
        decodeBatchRecords(window, { ...header, position: 0 }, records);
        for (const record of records) {
          if (record.timestamp >= timestamp) {
            result = record.offset;
            throw FOUND;
          }
        }
      });
    } catch (error) {
      if (error !== FOUND) throw error;
    }
    if (result !== null) return result;
  }
  return null;
}

function segmentFor(p: Partition, offset: number): Segment {
  const segments = p.segments;
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (segments[mid]!.baseOffset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return segments[lo]!;
}

function ensureReadable(p: Partition, offset: number): void {
  if (p.closed) throw new SluiceError('LOG_CLOSED', `partition ${p.topic}-${p.id} is closed`);
  if (!Number.isSafeInteger(offset) || offset < p.logStartOffset || offset > p.nextOffset) {
    throw new SluiceError(
      'OFFSET_OUT_OF_RANGE',
      `offset ${offset} is out of range for ${p.topic}-${p.id} (log start ${p.logStartOffset}, end ${p.highWatermark})`,
      {
        topic: p.topic,
        partition: p.id,
        offset,
        logStartOffset: p.logStartOffset,
        logEndOffset: p.highWatermark,
      },
    );
  }
}

const FOUND = Symbol('found');
