import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import snappy from 'snappyjs';
import type { CompressionType } from '../types.ts';
import { decompress } from './compression.ts';
import { decodeRecordBatches, encodeRecordBatch, readBatchHeader, setBaseOffset, verifyBatch } from './record-batch.ts';
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
