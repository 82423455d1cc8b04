// Transactions in one partition. A producer's transaction is open here from its first transactional batch to the
// marker (a control batch) its coordinator writes when the transaction ends; the oldest open one holds the last
// stable offset (LSO) back, and read_committed readers stop there. An abort marker adds the transaction to its
// segment's aborted-transaction index, by which those readers skip its records.
//
// What survives a restart: the markers are in the data; each sealed segment persists its aborted index
// (`.txnindex`), and each segment started by a roll records the transactions open at its base (`.txnsnapshot`), so
// opening a partition scans only the active segment to know what is open — the scan open() does anyway.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../../files.ts';
import { markerTypeOf } from '../batch/control.ts';
import type { BatchHeader } from '../batch/record-batch.ts';
import { segmentFileName } from '../segment.ts';
import type { AbortedTransaction } from '../types.ts';
import type { OpenTxn, Partition } from './state.ts';

/** Notes the transaction a just-written batch opens (its producer's first transactional batch since its marker). */
export function trackBatch(p: Partition, header: BatchHeader, baseOffset: number): void {
  if (!header.isTransactional || header.isControl || p.openTxns.has(header.producerId)) return;
  p.openTxns.set(header.producerId, {
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    firstOffset: baseOffset,
  });
}

/**
 * The aborted transactions that may have records in `[from, to)`: those whose marker is at or after `from` and
 * whose first offset is before `to` (what Kafka's Fetch answers for read_committed readers).
 */
export function abortedBetween(p: Partition, from: number, to: number): AbortedTransaction[] {
  const out: AbortedTransaction[] = [];
  for (const segment of p.segments) {
    if (segment.abortedTxns.length === 0 || segment.nextOffset <= from) continue;
    for (const txn of segment.abortedTxns) {
      if (txn.lastOffset >= from && txn.firstOffset < to) out.push(txn);
    }
  }
  return out;
}

/**
 * Before a roll: records the transactions open at the new segment's base, which open() starts its scan from. (Not
 * the closing ones: their markers are in the segment being sealed, fsynced by the roll.)
 */
export function snapshotOpenTxns(p: Partition, baseOffset: number): void {
  const open = [...p.openTxns.values()];
  const file = path.join(p.dir, segmentFileName(baseOffset, '.txnsnapshot'));
  if (open.length === 0) {
    fs.rmSync(file, { force: true });
    return;
  }
  writeFileAtomicSync(file, JSON.stringify({ open }));
}

/**
 * Rebuilds what is open (and the active segment's aborted index) from the active segment's snapshot and data: on
 * open, and after a truncation. A segment without a snapshot had no transaction open at its base.
 */
export function rebuildTransactions(p: Partition): void {
  p.openTxns.clear();
  p.closingTxns = [];
  const active = p.active;
  try {
    const file = path.join(p.dir, segmentFileName(active.baseOffset, '.txnsnapshot'));
    const snapshot = JSON.parse(fs.readFileSync(file, 'utf8')) as { open: OpenTxn[] };
    for (const txn of snapshot.open) p.openTxns.set(txn.producerId, txn);
  } catch {}
  active.abortedTxns.length = 0;
  active.scan(0, active.size, false, (header, position) => {
    if (!header.isTransactional) return;
    if (!header.isControl) {
      trackBatch(p, header, header.baseOffset);
      return;
    }
    const batch = active.read(position, header.size);
    const type = markerTypeOf(batch, { ...header, position: 0 });
    const open = p.openTxns.get(header.producerId);
    if (open === undefined) return;
    p.openTxns.delete(header.producerId);
    if (type === 'abort') {
      active.abortedTxns.push({
        producerId: header.producerId,
        firstOffset: open.firstOffset,
        lastOffset: header.baseOffset,
      });
    }
  });
}
