// Fetched batches as read results: read committed, the batches of aborted transactions are skipped as Kafka's own
// consumer skips them — from each aborted transaction's first offset up to its producer's abort marker, whether or
// not the marker is in the same response, several aborted transactions of one producer included.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FetchedPartition, toReadResult } from './records.ts';

const TRANSACTIONAL = 0x10;
const CONTROL = 0x20;

type Batch = NonNullable<FetchedPartition['records']>[number];

/** A batch of `count` one-byte records (values: their offsets) at `offset`. */
function data(offset: number, count: number, producerId: bigint, transactional = true): Batch {
  return {
    firstOffset: BigInt(offset),
    length: 0,
    partitionLeaderEpoch: 0,
    magic: 2,
    crc: 0,
    attributes: transactional ? TRANSACTIONAL : 0,
    lastOffsetDelta: count - 1,
    firstTimestamp: 1_000n,
    maxTimestamp: 1_000n,
    producerId,
    producerEpoch: 0,
    firstSequence: 0,
    records: Array.from({ length: count }, (_, i) => ({
      length: 0,
      attributes: 0,
      timestampDelta: 0n,
      offsetDelta: i,
      key: null,
      value: Buffer.from(String(offset + i)),
      headers: [],
    })),
  };
}

/** A commit or abort marker of `producerId` at `offset`. */
function marker(offset: number, producerId: bigint, commit: boolean): Batch {
  const key = Buffer.alloc(4);
  key.writeInt16BE(commit ? 1 : 0, 2);
  return {
    ...data(offset, 1, producerId),
    attributes: TRANSACTIONAL | CONTROL,
    records: [{ length: 0, attributes: 0, timestampDelta: 0n, offsetDelta: 0, key, value: null, headers: [] }],
  };
}

function partition(
  records: Batch[],
  aborted: { producerId: bigint; firstOffset: bigint }[],
  ends = { highWatermark: 100n, lastStableOffset: 90n },
): FetchedPartition {
  return {
    partitionIndex: 0,
    errorCode: 0,
    logStartOffset: 0n,
    preferredReadReplica: -1,
    abortedTransactions: aborted,
    records,
    ...ends,
  } as FetchedPartition;
}

const values = (p: FetchedPartition, committed: boolean, from = 0) =>
  toReadResult(from, p, committed).records.map((r) => Number(r.value!.toString()));

describe('fetched batches as read results', () => {
  it('read committed, skips aborted transactions up to their abort markers, and every marker', () => {
    // Producer 7: aborted [0, 2), committed [3, 5), aborted again [6, 7) — its second abort marker comes in a later
    // response. Producer 8 (committed) and a plain batch interleave.
    const p = partition(
      [
        data(0, 2, 7n),
        data(2, 1, -1n, false),
        marker(3, 7n, false),
        data(4, 2, 7n),
        data(6, 1, 8n),
        marker(7, 7n, true),
        data(8, 1, 7n),
        marker(9, 8n, true),
        data(10, 1, -1n, false),
      ],
      [
        { producerId: 7n, firstOffset: 8n },
        { producerId: 7n, firstOffset: 0n },
      ],
    );
    assert.deepEqual(values(p, true), [2, 4, 5, 6, 10]);
    assert.deepEqual(values(p, false), [0, 1, 2, 4, 5, 6, 8, 10], 'read uncommitted: all but the markers');
    const page = toReadResult(0, p, true);
    assert.equal(page.nextOffset, 11, 'past the last batch, markers and aborted batches included');
    assert.equal(page.highWatermark, 100);
    assert.equal(page.lastStableOffset, 90);
  });

  it('a page of markers and aborted batches only: no records, the next offset past them', () => {
    const p = partition(
      [data(20, 3, 5n), marker(23, 5n, false), marker(24, 6n, true)],
      [{ producerId: 5n, firstOffset: 20n }],
    );
    const page = toReadResult(20, p, true);
    assert.deepEqual(page.records, []);
    assert.equal(page.nextOffset, 25);
  });

  it('a broker that knows no last stable offset (-1): the high watermark stands in', () => {
    const p = partition([], [], { highWatermark: 12n, lastStableOffset: -1n });
    assert.equal(toReadResult(12, p, true).lastStableOffset, 12);
  });
});
