// Idempotent-producer bookkeeping for one partition: per producer id, its epoch and its last five batches'
// sequence ranges and offsets (Kafka keeps five in flight), so a retried batch is recognised and not written twice.
import { SluiceError } from '../errors.ts';
import type { BatchHeader } from './batch/record-batch.ts';

const CACHED_BATCHES = 5;
const SEQUENCE_MODULUS = 2 ** 31;

interface CachedBatch {
  firstSequence: number;
  lastSequence: number;
  baseOffset: number;
  lastOffset: number;
}

interface ProducerEntry {
  epoch: number;
  batches: CachedBatch[];
}

/** What to do with an incoming batch. */
export type SequenceCheck = { kind: 'append' } | { kind: 'duplicate'; baseOffset: number; lastOffset: number };

export class ProducerStateTable {
  private readonly producers = new Map<number, ProducerEntry>();

  clear(): void {
    this.producers.clear();
  }

  /** Classifies a batch; throws OUT_OF_ORDER_SEQUENCE_NUMBER or INVALID_PRODUCER_EPOCH when it must be refused. */
  check(header: BatchHeader, where: string): SequenceCheck {
    if (header.producerId < 0 || header.baseSequence < 0) return { kind: 'append' };
    const entry = this.producers.get(header.producerId);
    if (entry === undefined) return { kind: 'append' };
    if (header.producerEpoch < entry.epoch) {
      throw new SluiceError(
        'INVALID_PRODUCER_EPOCH',
        `${where}: producer ${header.producerId} epoch ${header.producerEpoch} is older than the current epoch ${entry.epoch}`,
        { producerId: header.producerId },
      );
    }
    if (header.producerEpoch > entry.epoch) {
      if (header.baseSequence !== 0) throw outOfOrder(where, header, 0);
      return { kind: 'append' };
    }
    const lastSequence = (header.baseSequence + header.lastOffsetDelta) % SEQUENCE_MODULUS;
    for (const cached of entry.batches) {
      if (cached.firstSequence === header.baseSequence && cached.lastSequence === lastSequence) {
        return { kind: 'duplicate', baseOffset: cached.baseOffset, lastOffset: cached.lastOffset };
      }
    }
    const last = entry.batches.at(-1);
    const expected = last === undefined ? header.baseSequence : (last.lastSequence + 1) % SEQUENCE_MODULUS;
    if (header.baseSequence !== expected) throw outOfOrder(where, header, expected);
    return { kind: 'append' };
  }

  /** Records an appended batch (also used to rebuild the table from the log on open). */
  record(header: BatchHeader, baseOffset: number): void {
    // A transaction marker may carry a newer epoch (the coordinator fenced the producer): older ones are refused.
    if (header.isControl && header.producerId >= 0) {
      this.fence(header.producerId, header.producerEpoch);
      return;
    }
    if (header.producerId < 0 || header.baseSequence < 0) return;
    let entry = this.producers.get(header.producerId);
    if (entry === undefined || header.producerEpoch > entry.epoch) {
      entry = { epoch: header.producerEpoch, batches: [] };
      this.producers.set(header.producerId, entry);
    } else if (header.producerEpoch < entry.epoch) {
      return;
    }
    entry.batches.push({
      firstSequence: header.baseSequence,
      lastSequence: (header.baseSequence + header.lastOffsetDelta) % SEQUENCE_MODULUS,
      baseOffset,
      lastOffset: baseOffset + header.lastOffsetDelta,
    });
    if (entry.batches.length > CACHED_BATCHES) entry.batches.shift();
  }

  /** From now on, batches of `producerId` with an epoch older than `epoch` are refused (INVALID_PRODUCER_EPOCH). */
  fence(producerId: number, epoch: number): void {
    const entry = this.producers.get(producerId);
    if (entry === undefined || epoch > entry.epoch) this.producers.set(producerId, { epoch, batches: [] });
  }

  /** The producer's current epoch here, if it wrote here. */
  epochOf(producerId: number): number | undefined {
    return this.producers.get(producerId)?.epoch;
  }

  get size(): number {
    return this.producers.size;
  }
}

function outOfOrder(where: string, header: BatchHeader, expected: number): SluiceError {
  return new SluiceError(
    'OUT_OF_ORDER_SEQUENCE_NUMBER',
    `${where}: producer ${header.producerId} sent sequence ${header.baseSequence}, expected ${expected}`,
    { producerId: header.producerId, sequence: header.baseSequence, expected },
  );
}
