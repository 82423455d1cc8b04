import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import snappy from 'snappyjs';
import type { CompressionType } from '../types.ts';
import { decompress } from './compression.ts';
import {
  decodeRecordBatches,
  encodeRecordBatch,
  forEachRecordIn,
  type RecordView,
  readBatchHeader,
  setBaseOffset,
  verifyBatch,
} from './record-batch.ts';
import { readVarint, sizeOfVarint, writeVarint } from './varint.ts';

describe('record batch v2', () => {
  it('uses CRC-32C (check value of "123456789" is 0xE3069283)', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  });

  for (const compression of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as CompressionType[]) {
    it(`round-trips records with ${compression}`, () => {
      const records = [
        { key: Buffer.from('k1'), value: Buffer.from('v'.repeat(300)), timestamp: 1_700_000_000_000, headers: [] },
        { key: null, value: null, timestamp: 1_700_000_000_500, headers: [{ key: 'h', value: Buffer.from('hv') }] },
        {
          key: Buffer.alloc(0),
          value: Buffer.from('é'),
          timestamp: 1_699_999_999_000,
          headers: [{ key: 'n', value: null }],
        },
      ];
      const batch = encodeRecordBatch(records, { baseOffset: 40, compression });
      const header = readBatchHeader(batch, 0)!;
      assert.equal(header.compression, compression);
      assert.equal(header.recordCount, 3);
      assert.equal(header.maxTimestamp, 1_700_000_000_500);
      assert.ok(verifyBatch(batch, header));
      const decoded = decodeRecordBatches(batch);
      assert.deepEqual(
        decoded.map((r) => [
          r.offset,
          r.key?.toString() ?? null,
          r.value?.toString() ?? null,
          r.timestamp,
          r.headers.map((h) => [h.key, h.value?.toString() ?? null]),
        ]),
        [
          [40, 'k1', 'v'.repeat(300), 1_700_000_000_000, []],
          [41, null, null, 1_700_000_000_500, [['h', 'hv']]],
          [42, '', 'é', 1_699_999_999_000, [['n', null]]],
        ],
      );
    });
  }

  it('keeps the CRC valid when the base offset is rewritten', () => {
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('x') }]);
    setBaseOffset(batch, 0, 123_456_789_012);
    const header = readBatchHeader(batch, 0)!;
    assert.equal(header.baseOffset, 123_456_789_012);
    assert.ok(verifyBatch(batch, header));
  });

  it('detects a flipped byte through the CRC', () => {
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('hello world') }]);
    batch[batch.length - 3]! ^= 0xff;
    assert.equal(verifyBatch(batch, readBatchHeader(batch, 0)!), false);
  });

  it('reports a truncated batch as incomplete and a bad length or magic as corrupt', () => {
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('hello') }]);
    assert.equal(readBatchHeader(batch.subarray(0, batch.length - 1), 0), null);
    const badLength = Buffer.from(batch);
    badLength.writeInt32BE(3, 8);
    assert.throws(() => readBatchHeader(badLength, 0), { code: 'CORRUPT_MESSAGE' });
    const badMagic = Buffer.from(batch);
    badMagic[16] = 1;
    assert.throws(() => readBatchHeader(badMagic, 0), { code: 'UNSUPPORTED_VERSION' });
  });

  it('decodes snappy both raw and in the xerial framing Java clients send', () => {
    const payload = Buffer.from('abc'.repeat(20_000));
    const raw = Buffer.from(snappy.compress(payload));
    assert.deepEqual(decompress('snappy', raw), payload);
    const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    const half = payload.length / 2;
    const blocks = [payload.subarray(0, half), payload.subarray(half)].map((b) => Buffer.from(snappy.compress(b)));
    const framed = Buffer.concat([header, ...blocks.flatMap((b) => [int32(b.length), b])]);
    assert.deepEqual(decompress('snappy', framed), payload);
  });

  it('rejects an unknown compression code', () => {
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('x') }]);
    batch.writeInt16BE(6, 21);
    assert.throws(() => readBatchHeader(batch, 0), { code: 'UNSUPPORTED_COMPRESSION_TYPE' });
  });
});

describe('varints', () => {
  it('round-trips edge values with the expected sizes', () => {
    const values = [
      0,
      -1,
      1,
      63,
      -64,
      64,
      2 ** 30 - 1,
      -(2 ** 30),
      2 ** 31 - 1,
      -(2 ** 31),
      2 ** 40,
      -(2 ** 45),
      2 ** 52,
    ];
    const buf = Buffer.alloc(16);
    for (const value of values) {
      const end = writeVarint(buf, 0, value);
      assert.equal(end, sizeOfVarint(value), `size of ${value}`);
      const cursor = { pos: 0 };
      assert.equal(readVarint(buf, cursor, end), value);
      assert.equal(cursor.pos, end);
    }
    assert.equal(sizeOfVarint(-1), 1);
    assert.equal(sizeOfVarint(64), 2);
  });
});

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

describe('walking records in place', () => {
  const value = (i: number) => Buffer.from(`{"n":${i}}`);
  /** Three batches of 4 records (offsets 10-21); the middle one compressed, the last with a tombstone. */
  const page = Buffer.concat([
    encodeRecordBatch([0, 1, 2, 3].map((i) => ({ key: null, value: value(i), timestamp: 1000 + i }))),
    encodeRecordBatch(
      [4, 5, 6, 7].map((i) => ({ key: Buffer.from(`k${i}`), value: value(i), timestamp: 1000 + i })),
      {
        compression: 'lz4',
      },
    ),
    encodeRecordBatch(
      [8, 9, 10, 11].map((i) => ({ key: null, value: i === 9 ? null : value(i), timestamp: 1000 + i })),
    ),
  ]);
  for (let pos = 0, base = 10; pos < page.length; base += 4) {
    setBaseOffset(page, pos, base);
    pos += readBatchHeader(page, pos)!.size;
  }
  const seen = (view: RecordView) =>
    `${view.offset}@${view.timestamp}:${view.valueStart < 0 ? 'null' : view.data.toString('utf8', view.valueStart, view.valueEnd)}`;

  it('visits the records from an offset with their positions, as decodeRecordBatches decodes them', () => {
    const visited: string[] = [];
    const all = forEachRecordIn(page, 13, (view) => {
      visited.push(seen(view));
      return true;
    });
    assert.equal(all, -1);
    const decoded = decodeRecordBatches(page, 13).map(
      (r) => `${r.offset}@${r.timestamp}:${r.value === null ? 'null' : r.value.toString()}`,
    );
    assert.deepEqual(visited, decoded);
    assert.equal(visited.length, 9);
    assert.equal(visited[0], '13@1003:{"n":3}');
    assert.equal(visited[6], '19@1009:null');
  });

  it('stops where the visitor says and goes on from the batch it stopped in', () => {
    const offsets: number[] = [];
    const until = (at: number) => (view: RecordView) => {
      if (view.offset >= at) return false;
      offsets.push(view.offset);
      return true;
    };
    const second = readBatchHeader(page, 0)!.size;
    assert.equal(forEachRecordIn(page, 10, until(16)), second, 'stopped in the second batch');
    assert.equal(forEachRecordIn(page, 16, until(100), second), -1);
    assert.deepEqual(offsets, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]);
  });

  it('skips control batches (transaction markers)', () => {
    const marker = encodeRecordBatch([{ key: Buffer.from([0, 0, 0, 1]), value: Buffer.from([0, 0, 0, 0]) }], {
      baseOffset: 22,
    });
    marker.writeInt16BE(marker.readInt16BE(21) | 0x20, 21); // attributes: control
    const withMarker = Buffer.concat([page, marker]);
    const offsets: number[] = [];
    forEachRecordIn(withMarker, 20, (view) => {
      offsets.push(view.offset);
      return true;
    });
    assert.deepEqual(offsets, [20, 21]);
    assert.deepEqual(
      decodeRecordBatches(withMarker, 20).map((r) => r.offset),
      [20, 21],
    );
  });

  it('names the batch of a malformed record, and lets what the visitor throws pass', () => {
    const broken = Buffer.from(page.subarray(0, readBatchHeader(page, 0)!.size));
    broken[61] = 0x7e; // the first record's length (zig-zag 63), now past the end of its batch
    assert.throws(
      () => forEachRecordIn(broken, 0, () => true),
      (error: { code?: string; message?: string }) =>
        error.code === 'CORRUPT_MESSAGE' && /batch at offset 10/.test(error.message!),
    );
    assert.throws(
      () =>
        forEachRecordIn(page, 0, () => {
          throw new TypeError('mine');
        }),
      /mine/,
    );
  });
});
