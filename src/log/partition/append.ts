// The partition's append path (hot: bench/log.ts): assigns offsets to whole record batches, writes them to the
// active segment, and rolls the segment when it is too big or too old. Acknowledgement is sync.ts's business.
import fs from 'node:fs';
import { type BatchHeader, setBaseOffset } from '../batch/record-batch.ts';
import { type AppendedBatch, Segment } from '../segment.ts';
import type { AppendResult } from '../types.ts';
import type { Partition } from './state.ts';
import { acknowledge, advanceHighWatermark, synced } from './sync.ts';
import { snapshotOpenTxns, trackBatch } from './transactions.ts';

/**
 * Appends whole batches held in `data` (headers already validated, positions relative to `data`), assigning
 * offsets. Retried idempotent batches are acknowledged with their original offsets and not written again.
 */
export function appendBatches(
  p: Partition,
  data: Buffer,
  headers: readonly BatchHeader[],
  durable = true,
): Promise<AppendResult> {
  p.ensureWritable();
  const where = `${p.topic}-${p.id}`;
  const checks = headers.map((header) => p.producers.check(header, where));
  if (checks.every((check) => check.kind === 'duplicate')) {
    const first = checks[0] as { baseOffset: number };
    const last = checks.at(-1) as { lastOffset: number };
    const result = {
      baseOffset: first.baseOffset,
      lastOffset: last.lastOffset,
      logAppendTime: Date.now(),
      logStartOffset: p.logStartOffset,
    };
    return acknowledge(p, result, durable);
  }
  // Keep only the batches to write (a mix of retried and new batches is rare but legal).
  let toWrite = data;
  let toWriteHeaders = headers;
  if (checks.some((check) => check.kind === 'duplicate')) {
    toWriteHeaders = headers.filter((_, i) => checks[i]!.kind === 'append');
    toWrite = Buffer.concat(toWriteHeaders.map((h) => data.subarray(h.position, h.position + h.size)));
    let position = 0;
    toWriteHeaders = toWriteHeaders.map((h) => {
      const moved = { ...h, position };
      position += h.size;
      return moved;
    });
  }
  maybeRoll(p, toWrite.length);
  const baseOffset = p.nextOffset;
  const appended: AppendedBatch[] = [];
  let offset = baseOffset;
  for (const header of toWriteHeaders) {
    setBaseOffset(toWrite, header.position, offset);
    appended.push({
      baseOffset: offset,
      lastOffset: offset + header.lastOffsetDelta,
      maxTimestamp: header.maxTimestamp,
      size: header.size,
    });
    offset += header.lastOffsetDelta + 1;
  }
  p.active.append(toWrite, appended);
  p.nextOffset = offset;
  for (let i = 0; i < toWriteHeaders.length; i++) {
    const header = toWriteHeaders[i]!;
    p.producers.record(header, appended[i]!.baseOffset);
    if (header.isTransactional) trackBatch(p, header, appended[i]!.baseOffset);
  }
  const result = {
    baseOffset,
    lastOffset: offset - 1,
    logAppendTime: Date.now(),
    logStartOffset: p.logStartOffset,
  };
  return acknowledge(p, result, durable);
}

function maybeRoll(p: Partition, incomingBytes: number): void {
  const active = p.active;
  if (active.size === 0) return;
  const tooBig = active.size + incomingBytes > p.config.segmentBytes;
  const tooOld = Date.now() - active.createdAt >= p.config.segmentMs;
  if (tooBig || tooOld) roll(p);
}

/** Seals the active segment (fsync + indexes) and starts a new one at the log end offset. */
export function roll(p: Partition): void {
  const old = p.active;
  fs.fdatasyncSync(old.fd);
  old.writeIndexes(p.dir);
  old.visibleSize = old.size;
  snapshotOpenTxns(p, p.nextOffset);
  p.segments.push(Segment.create(p.dir, p.nextOffset));
  // Everything written so far is now durable.
  synced(p, p.nextOffset);
  advanceHighWatermark(p, p.nextOffset, -1);
}
