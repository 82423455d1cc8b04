// Group commit for one partition: an append is acknowledged once as durable as the fsync policy requires, one
// fdatasync covers every append written before it started, and a failed fsync fails the partition for good.
import fs from 'node:fs';
import { SluiceError } from '../../errors.ts';
import type { AppendResult } from '../types.ts';
import type { Partition, PendingAck } from './state.ts';
import { wakeWaiters } from './wait.ts';

/**
 * How long an append made with `durable: false` may wait for its fsync (and readers for it). Kafka Streams commits
 * exactly-once output every 100 ms; half that keeps results prompt while a busy topic's appends share an fsync.
 */
const DEFAULT_DEFERRED_MS = 50;

/** Resolves once everything up to `result.lastOffset` is as durable as the fsync policy requires (state.ts). */
export function acknowledge(p: Partition, result: AppendResult, durable: boolean): Promise<AppendResult> {
  const target = result.lastOffset + 1;
  if (p.fsync.mode !== 'batch') {
    advanceHighWatermark(p, p.nextOffset, p.active.size);
    return Promise.resolve(result);
  }
  if (!durable) {
    p.deferredTimer ??= setTimeout(() => {
      p.deferredTimer = undefined;
      if (p.syncedOffset >= p.nextOffset) return; // an fsync since has covered it
      p.deferredDue = true;
      scheduleSync(p);
    }, p.fsync.deferredMs ?? DEFAULT_DEFERRED_MS).unref();
    return Promise.resolve(result);
  }
  if (target <= p.syncedOffset) return Promise.resolve(result);
  return new Promise((resolve, reject) => {
    p.pending.push({ target, result, resolve, reject });
    scheduleSync(p);
  });
}

/**
 * Resolves once every record written so far is fsynced (records appended with `durable: false` included). Under
 * the `none` policy syncing is the OS's business, and it resolves at once.
 */
export function flushPartition(p: Partition): Promise<void> {
  if (p.failure) return Promise.reject(p.failure);
  if (p.closed || p.syncedOffset >= p.nextOffset || p.fsync.mode === 'none') return Promise.resolve();
  return new Promise((resolve, reject) => {
    p.flushes.push({ target: p.nextOffset, resolve, reject });
    scheduleSync(p);
  });
}

/** Everything below `offset` is fsynced: acknowledges the appends and flushes it covers. */
export function synced(p: Partition, offset: number): void {
  if (offset <= p.syncedOffset) return;
  p.syncedOffset = offset;
  if (p.pending.length > 0) {
    const still: PendingAck[] = [];
    for (const ack of p.pending) {
      if (ack.target <= offset) ack.resolve(ack.result);
      else still.push(ack);
    }
    p.pending = still;
  }
  if (p.flushes.length > 0) {
    const still = p.flushes.filter((flush) => flush.target > offset);
    for (const flush of p.flushes) if (flush.target <= offset) flush.resolve();
    p.flushes = still;
  }
}

/** Group commit: one fdatasync covers every append written before it started. */
function scheduleSync(p: Partition): void {
  if (p.syncing || p.closed || p.failure) return;
  if (p.pending.length === 0 && p.flushes.length === 0 && !p.deferredDue) return;
  p.deferredDue = false;
  p.syncing = true;
  const segment = p.active;
  const targetOffset = p.nextOffset;
  const targetSize = segment.size;
  fs.fdatasync(segment.fd, (error) => {
    p.syncing = false;
    if (error) {
      fail(p, new SluiceError('STORAGE_ERROR', `fsync of ${segment.logPath} failed: ${error.message}`));
      return;
    }
    synced(p, targetOffset);
    if (segment === p.active) advanceHighWatermark(p, targetOffset, targetSize);
    else advanceHighWatermark(p, targetOffset, -1);
    scheduleSync(p);
  });
}

/** Syncs the active segment now (the `interval` policy's timer). */
export function syncNow(p: Partition): void {
  if (p.closed || p.failure) return;
  const segment = p.active;
  if (segment.size === 0) return;
  const target = p.nextOffset;
  fs.fdatasyncSync(segment.fd);
  synced(p, target);
}

/** Readers see up to `offset` (`activeVisibleSize` bytes of the active segment; -1 when it just rolled). */
export function advanceHighWatermark(p: Partition, offset: number, activeVisibleSize: number): void {
  if (activeVisibleSize >= 0 && activeVisibleSize > p.active.visibleSize) p.active.visibleSize = activeVisibleSize;
  if (offset <= p.highWatermark) return;
  p.highWatermark = offset;
  wakeWaiters(p);
}

/** A failed fsync leaves the file's state unknown (fsyncgate): refuse further writes on this partition. */
function fail(p: Partition, error: Error): void {
  p.failure = error;
  p.logger.error({ topic: p.topic, partition: p.id, err: error }, 'partition failed; writes refused');
  rejectWaiting(p, error);
}

export function rejectWaiting(p: Partition, error: Error): void {
  clearTimeout(p.deferredTimer);
  p.deferredTimer = undefined;
  for (const ack of p.pending) ack.reject(error);
  for (const flush of p.flushes) flush.reject(error);
  p.pending = [];
  p.flushes = [];
}

/** Whether an fsync is running or owed (truncation and close wait until none is). */
export function syncOwed(p: Partition): boolean {
  return p.syncing || p.pending.length > 0 || p.flushes.length > 0;
}
