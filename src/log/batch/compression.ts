// The four compression codecs of Kafka record batches. Snappy is decoded in both raw and xerial-framed form
// (Java clients frame it with xerial's SnappyOutputStream) and encoded framed, which every client reads.
import zlib from 'node:zlib';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import snappy from 'snappyjs';
import { SluiceError } from '../../errors.ts';
import type { CompressionType } from '../types.ts';

/** Attribute bits 0-2 of a record batch → codec. */
export const COMPRESSION_CODES: readonly CompressionType[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

export function compressionCode(type: CompressionType): number {
  const code = COMPRESSION_CODES.indexOf(type);
  if (code < 0) throw new SluiceError('UNSUPPORTED_COMPRESSION_TYPE', `unknown compression type '${type}'`);
  return code;
}

export function compressionOf(code: number): CompressionType {
  const type = COMPRESSION_CODES[code];
  if (type === undefined) {
    throw new SluiceError('UNSUPPORTED_COMPRESSION_TYPE', `record batch uses unknown compression code ${code}`);
  }
  return type;
}

// xerial snappy-java stream header: magic "\x82SNAPPY\0", then version and compatible-version int32s.
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_SIZE = 16;
const XERIAL_BLOCK = 32 * 1024;

export function compress(type: CompressionType, data: Buffer): Buffer {
  switch (type) {
    case 'none':
      return data;
    case 'gzip':
      return zlib.gzipSync(data, { level: 1 });
    case 'zstd':
      return zlib.zstdCompressSync(data);
    case 'lz4':
      return compressFrameSync(data);
    case 'snappy':
      return snappyXerialCompress(data);
  }
}

export function decompress(type: CompressionType, data: Buffer): Buffer {
  try {
    switch (type) {
      case 'none':
        return data;
      case 'gzip':
        return zlib.gunzipSync(data);
      case 'zstd':
        return zlib.zstdDecompressSync(data);
      case 'lz4':
        return decompressFrameSync(data);
      case 'snappy':
        return snappyDecompress(data);
    }
  } catch (error) {
    throw new SluiceError('CORRUPT_MESSAGE', `cannot decompress ${type} record batch: ${(error as Error).message}`, {
      compression: type,
    });
  }
}

function snappyXerialCompress(data: Buffer): Buffer {
  const parts: Buffer[] = [XERIAL_MAGIC, int32(1), int32(1)];
  for (let pos = 0; pos < data.length; pos += XERIAL_BLOCK) {
    const block = Buffer.from(snappy.compress(data.subarray(pos, Math.min(pos + XERIAL_BLOCK, data.length))));
    parts.push(int32(block.length), block);
  }
  return Buffer.concat(parts);
}

function snappyDecompress(data: Buffer): Buffer {
  if (data.length < XERIAL_HEADER_SIZE || !data.subarray(0, 8).equals(XERIAL_MAGIC)) {
    return Buffer.from(snappy.uncompress(data));
  }
  const blocks: Buffer[] = [];
  let pos = XERIAL_HEADER_SIZE;
  while (pos < data.length) {
    if (pos + 4 > data.length) throw new Error('truncated xerial block length');
    const size = data.readInt32BE(pos);
    pos += 4;
    if (size < 0 || pos + size > data.length) throw new Error('xerial block runs past the end');
    blocks.push(Buffer.from(snappy.uncompress(data.subarray(pos, pos + size))));
    pos += size;
  }
  return Buffer.concat(blocks);
}

function int32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(value);
  return b;
}
