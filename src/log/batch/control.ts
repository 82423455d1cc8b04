// Transaction markers: the control batches that end a producer's transaction in a partition (Kafka's
// EndTransactionMarker). One record whose key is [version i16 = 0, type i16: 0 abort, 1 commit] and whose value is
// [version i16 = 0, coordinatorEpoch i32], in a batch flagged transactional and control, carrying the producer's
// id and epoch and no sequence number.
import { SluiceError } from '../../errors.ts';
import type { AbortedTransaction } from '../types.ts';
import { type BatchHeader, encodeRecordBatch, forEachRecord } from './record-batch.ts';

export type MarkerType = 'abort' | 'commit';

const ABORT = 0;
const COMMIT = 1;

export interface TxnMarker {
  producerId: number;
  producerEpoch: number;
  type: MarkerType;
  /** The coordinator's epoch (always 0 here: one coordinator, never moved). */
  coordinatorEpoch?: number;
  now?: number;
}

export function encodeTxnMarker(marker: TxnMarker): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(marker.type === 'commit' ? COMMIT : ABORT, 2);
  const value = Buffer.alloc(6);
  value.writeInt16BE(0, 0);
  value.writeInt32BE(marker.coordinatorEpoch ?? 0, 2);
  return encodeRecordBatch([{ key, value, timestamp: marker.now }], {
    producerId: marker.producerId,
    producerEpoch: marker.producerEpoch,
    baseSequence: -1,
    transactional: true,
    control: true,
    ownMemory: true,
  });
}

/** The marker type of a control batch (its first record's key); throws CORRUPT_MESSAGE for an unknown type. */
export function markerTypeOf(buf: Buffer, header: BatchHeader): MarkerType {
  let type = -1;
  forEachRecord(buf, header, 0, (record) => {
    if (record.keyEnd - record.keyStart >= 4) type = record.data.readInt16BE(record.keyStart + 2);
    return false;
  });
  if (type === ABORT) return 'abort';
  if (type === COMMIT) return 'commit';
  throw new SluiceError('CORRUPT_MESSAGE', `control batch at offset ${header.baseOffset} has unknown type ${type}`, {
    offset: header.baseOffset,
  });
}

/** True when the batch belongs to one of `aborted` (so a read_committed reader skips it); control batches too. */
export function isAbortedBatch(header: BatchHeader, aborted: readonly AbortedTransaction[]): boolean {
  if (header.isControl) return true;
  if (!header.isTransactional || aborted.length === 0) return false;
  for (const txn of aborted) {
    if (
      txn.producerId === header.producerId &&
      header.baseOffset >= txn.firstOffset &&
      header.baseOffset < txn.lastOffset
    ) {
      return true;
    }
  }
  return false;
}
