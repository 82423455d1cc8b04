// Fetched partitions as raw pages, decoded by the log's own decoder: read committed, the batches of aborted
// transactions are skipped as Kafka's own consumer skips them — from each aborted transaction's first offset up to its
// producer's abort marker, whether or not the marker is in the same response, several aborted transactions of one
// producer included —; a batch cut short by the byte limit is left for the next read; compressed batches decode.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeTxnMarker } from '../../log/batch/control.ts';
import { setBaseOffset } from '../../log/batch/record-batch.ts';
import { type CompressionType, encodeRecordBatch, forEachRecordIn, isAbortedBatch } from '../../log/index.ts';
import { decodePage, type FetchedPartition, toRawPage } from './records.ts';

/** A batch of `count` records (values: their offsets) at `offset`. */
function data(
  offset: number,
  count: number,
  producerId: number,
  transactional = true,
  compression: CompressionType = 'none',
): Buffer {
  const records = Array.from({ length: count }, (_, i) => ({
    key: i === 0 ? null : Buffer.from(`k${i}`),
    value: Buffer.from(String(offset + i)),
    timestamp: 1_000 + i,
    headers: i === 1 ? [{ key: 'h', value: null }] : undefined,
  }));
  const batch = encodeRecordBatch(records, {
    producerId,
    producerEpoch: 0,
    baseSequence: producerId < 0 ? -1 : 0,
    transactional,
    compression,
    ownMemory: true,
  });
  setBaseOffset(batch, 0, offset);
  return batch;
}

/** A commit or abort marker of `producerId` at `offset`. */
function marker(offset: number, producerId: number, commit: boolean): Buffer {
  const batch = encodeTxnMarker({ producerId, producerEpoch: 0, type: commit ? 'commit' : 'abort' });
  setBaseOffset(batch, 0, offset);
  return batch;
}

function partition(
  batches: Buffer[],
  aborted: { producerId: number; firstOffset: number }[],
  ends = { highWatermark: 100, lastStableOffset: 90 },
): FetchedPartition {
  return {
    partitionIndex: 0,
    errorCode: 0,
    logStartOffset: 0,
    preferredReadReplica: -1,
    divergingEpoch: { epoch: -1, endOffset: -1 },
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
    snapshotId: { endOffset: -1, epoch: -1 },
    abortedTransactions: aborted,
    records: Buffer.concat(batches),
    ...ends,
  };
}

const values = (p: FetchedPartition, committed: boolean, from = 0) =>
  decodePage(from, toRawPage(from, p, committed)).records.map((r) => Number(r.value!.toString()));

/** What the engine's LogSource reads from a raw page: the values of every record it visits. */
const visited = (p: FetchedPartition, from = 0) => {
  const page = toRawPage(from, p, true);
  const aborted = page.abortedTransactions ?? [];
  const out: number[] = [];
  forEachRecordIn(
    page.batches,
    from,
    (r) => {
      out.push(Number(r.data.toString('utf8', r.valueStart, r.valueEnd)));
      return true;
    },
    0,
    aborted.length > 0 ? (header) => isAbortedBatch(header, aborted) : undefined,
  );
  return out;
};

describe('fetched partitions as raw pages', () => {
  it('read committed, skips aborted transactions up to their abort markers, and every marker', () => {
    // Producer 7: aborted [0, 2), committed [3, 5), aborted again [6, 7) — its second abort marker comes in a later
    // response. Producer 8 (committed) and a plain batch interleave.
    const p = partition(
      [
        data(0, 2, 7),
        data(2, 1, -1, false),
        marker(3, 7, false),
        data(4, 2, 7),
        data(6, 1, 8),
        marker(7, 7, true),
        data(8, 1, 7),
        marker(9, 8, true),
        data(10, 1, -1, false),
      ],
      [
        { producerId: 7, firstOffset: 8 },
        { producerId: 7, firstOffset: 0 },
      ],
    );
    assert.deepEqual(values(p, true), [2, 4, 5, 6, 10]);
    assert.deepEqual(visited(p), [2, 4, 5, 6, 10], 'LogSource reads the same');
    assert.deepEqual(values(p, false), [0, 1, 2, 4, 5, 6, 8, 10], 'read uncommitted: all but the markers');
    const page = decodePage(0, toRawPage(0, p, true));
    assert.equal(page.nextOffset, 11, 'past the last batch, markers and aborted batches included');
    assert.equal(page.highWatermark, 100);
    assert.equal(page.lastStableOffset, 90);
  });

  it('a page of markers and aborted batches only: no records, the next offset past them', () => {
    const p = partition(
      [data(20, 3, 5), marker(23, 5, false), marker(24, 6, true)],
      [{ producerId: 5, firstOffset: 20 }],
    );
    const page = decodePage(20, toRawPage(20, p, true));
    assert.deepEqual(page.records, []);
    assert.equal(page.nextOffset, 25);
  });

  it('a broker that knows no last stable offset (-1): the high watermark stands in', () => {
    const p = partition([], [], { highWatermark: 12, lastStableOffset: -1 });
    assert.equal(toRawPage(12, p, true).lastStableOffset, 12);
  });

  it('keys, nulls, headers and timestamps; records before the offset of a batch that starts earlier are left out', () => {
    const page = decodePage(6, toRawPage(6, partition([data(5, 3, -1, false)], []), false));
    assert.deepEqual(
      page.records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString(), r.headers]),
      [
        [6, 1_001, 'k1', '6', [{ key: 'h', value: null }]],
        [7, 1_002, 'k2', '7', []],
      ],
    );
  });

  it('leaves a batch the byte limit cut short for the next read', () => {
    const whole = data(0, 3, -1, false);
    const cut = data(3, 3, -1, false);
    const p = partition([whole, cut.subarray(0, cut.length - 5)], []);
    const page = toRawPage(0, p, false);
    assert.equal(page.batches.length, whole.length);
    assert.equal(page.nextOffset, 3);
    assert.deepEqual(values(p, false), [0, 1, 2]);
    const nothing = toRawPage(3, partition([cut.subarray(0, 40)], []), false);
    assert.equal(nothing.nextOffset, 3, 'no whole batch: nothing read');
  });

  for (const compression of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    it(`decodes ${compression} batches`, () => {
      const p = partition(
        [data(0, 4, -1, false, compression), data(4, 2, 3, true, compression), marker(6, 3, false)],
        [{ producerId: 3, firstOffset: 4 }],
      );
      assert.deepEqual(values(p, false), [0, 1, 2, 3, 4, 5]);
      assert.deepEqual(values(p, true), [0, 1, 2, 3]);
      assert.deepEqual(visited(p, 2), [2, 3]);
    });
  }
});
