// Transaction markers: how a coordinator ends a producer's transaction in a partition (transactions.ts keeps what
// is open; this file writes the control batch that closes it).
import { SluiceError } from '../../errors.ts';
import { encodeTxnMarker, type MarkerType } from '../batch/control.ts';
import { readBatchHeader } from '../batch/record-batch.ts';
import { appendBatches } from './append.ts';
import type { Partition } from './state.ts';
import { wakeWaiters } from './wait.ts';

/**
 * Ends the producer's transaction in this partition with a durable marker, fencing older epochs of the producer.
 * Resolves with the marker's offset, or null when the producer has nothing open here (a marker written twice —
 * a coordinator completing a transaction again after a crash — writes nothing the second time).
 */
export async function writeMarker(
  p: Partition,
  marker: { producerId: number; producerEpoch: number; type: MarkerType },
): Promise<number | null> {
  p.ensureWritable();
  const { producerId, producerEpoch, type } = marker;
  const current = p.producers.epochOf(producerId);
  if (current !== undefined && producerEpoch < current) {
    throw new SluiceError(
      'INVALID_PRODUCER_EPOCH',
      `${p.topic}-${p.id}: a ${type} marker for producer ${producerId} has epoch ${producerEpoch}, older than ${current}`,
      { producerId, producerEpoch, current },
    );
  }
  const open = p.openTxns.get(producerId);
  if (open === undefined) {
    p.producers.fence(producerId, producerEpoch);
    return null;
  }
  const batch = encodeTxnMarker({ producerId, producerEpoch, type });
  const header = readBatchHeader(batch, 0)!;
  // The marker is written now (appendBatches writes before it returns); until it is durable the transaction still
  // holds the last stable offset, so no reader sees the outcome of a marker a crash could take back.
  p.openTxns.delete(producerId);
  p.closingTxns.push(open);
  let acknowledged: Promise<unknown>;
  try {
    acknowledged = appendBatches(p, batch, [header], true);
  } catch (error) {
    p.closingTxns.splice(p.closingTxns.indexOf(open), 1);
    p.openTxns.set(producerId, open);
    throw error;
  }
  const markerOffset = p.nextOffset - 1;
  if (type === 'abort') {
    p.active.abortedTxns.push({ producerId, firstOffset: open.firstOffset, lastOffset: markerOffset });
  }
  try {
    await acknowledged;
  } finally {
    const index = p.closingTxns.indexOf(open);
    if (index >= 0) p.closingTxns.splice(index, 1);
  }
  wakeWaiters(p);
  return markerOffset;
}
