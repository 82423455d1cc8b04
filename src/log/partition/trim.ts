// Removing a partition's records: retention and purging delete whole old segments at the head; truncation cuts
// the tail back to a batch boundary (an exactly-once sink's rollback).
import { SluiceError } from '../../errors.ts';
import { roll } from './append.ts';
import { rebuildProducerState } from './open.ts';
import type { Partition } from './state.ts';
import { syncOwed } from './sync.ts';
import { rebuildTransactions } from './transactions.ts';

/** Deletes whole old segments past the time or size limit, and rolls an idle active segment that is too old. */
export function enforceRetention(p: Partition, now = Date.now()): number {
  if (p.closed) return 0;
  const { retentionMs, retentionBytes, segmentMs } = p.config;
  if (p.active.size > 0 && now - p.active.createdAt >= segmentMs && p.nextOffset === p.highWatermark) {
    roll(p);
  }
  let total = 0;
  for (const segment of p.segments) total += segment.size;
  let deleted = 0;
  while (p.segments.length > 1) {
    const oldest = p.segments[0]!;
    const newest = oldest.maxTimestamp >= 0 ? oldest.maxTimestamp : oldest.createdAt;
    const expired = retentionMs >= 0 && now - newest > retentionMs;
    const oversize = retentionBytes >= 0 && total - oldest.size >= retentionBytes;
    if (!expired && !oversize) break;
    dropOldestSegment(p);
    total -= oldest.size;
    deleted++;
  }
  if (deleted > 0) {
    p.logger.info(
      { topic: p.topic, partition: p.id, deleted, logStartOffset: p.logStartOffset },
      'retention deleted segments',
    );
  }
  return deleted;
}

/**
 * Deletes the whole segments every record of which is below `offset` (at most the high watermark; never the
 * active segment): Kafka's DeleteRecords, for records every reader has consumed. Records below `offset` in the
 * segment holding it stay readable (Kafka would hide them; deleting whole files keeps the log's start at a
 * segment's base, which is all it persists). Returns the log start offset after it.
 */
export function purgeBefore(p: Partition, offset: number): number {
  if (p.closed) return p.logStartOffset;
  const limit = Math.min(offset, p.highWatermark);
  let deleted = 0;
  while (p.segments.length > 1 && p.segments[1]!.baseOffset <= limit) {
    dropOldestSegment(p);
    deleted++;
  }
  if (deleted > 0) {
    p.logger.info(
      { topic: p.topic, partition: p.id, deleted, logStartOffset: p.logStartOffset },
      'purged consumed segments',
    );
  }
  return p.logStartOffset;
}

/** Closes and deletes the oldest segment (retention and purging; never the active one: callers check). */
function dropOldestSegment(p: Partition): void {
  const oldest = p.segments.shift()!;
  oldest.close();
  oldest.remove(p.dir);
}

/**
 * Removes every record at and after `offset`, which must start a batch (an exactly-once sink rolls back what it
 * wrote after its last checkpoint; the offsets it recorded are always batch boundaries). Waits for appends in
 * flight first. Readers that already read past `offset` will see other records there afterwards.
 */
export async function truncateTo(p: Partition, offset: number): Promise<void> {
  p.ensureWritable();
  while (syncOwed(p)) {
    await new Promise((resolve) => setImmediate(resolve));
    p.ensureWritable();
  }
  if (offset >= p.nextOffset) return;
  if (!Number.isSafeInteger(offset) || offset < p.logStartOffset) {
    throw new SluiceError(
      'OFFSET_OUT_OF_RANGE',
      `cannot truncate ${p.topic}-${p.id} to ${offset}: the log starts at ${p.logStartOffset}`,
      { topic: p.topic, partition: p.id, offset },
    );
  }
  while (p.segments.length > 1 && p.active.baseOffset >= offset) {
    const dropped = p.segments.pop()!;
    dropped.close();
    dropped.remove(p.dir);
  }
  p.active.truncateTo(p.dir, offset);
  p.nextOffset = offset;
  p.highWatermark = offset;
  p.syncedOffset = offset; // the cut segment was fsynced, and every older one when it rolled
  p.producers.clear();
  rebuildProducerState(p);
  rebuildTransactions(p);
  p.logger.info({ topic: p.topic, partition: p.id, offset }, 'truncated the log');
}
