// Kafka record batch v2 (magic 2): the log's storage format and the wire format, byte for byte.
// Layout (big-endian): baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 (CRC-32C of
// everything after it) | attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
// producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32 | records (compressed as a whole).
import { crc32c } from '@node-rs/crc32';
import { SluiceError } from '../../errors.ts';
import type { CompressionType, LogRecord, RecordHeader, StoredRecord } from '../types.ts';
import { compress, compressionCode, compressionOf, decompress } from './compression.ts';
import { type Cursor, readVarint, sizeOfVarint, writeVarint } from './varint.ts';

export const BATCH_HEADER_SIZE = 61;
/** baseOffset + batchLength: the part of the header not counted in batchLength. */
export const LOG_OVERHEAD = 12;
const MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD;

const OFF_BASE_OFFSET = 0;
const OFF_BATCH_LENGTH = 8;
const OFF_LEADER_EPOCH = 12;
const OFF_MAGIC = 16;
const OFF_CRC = 17;
const OFF_ATTRIBUTES = 21;
const OFF_LAST_OFFSET_DELTA = 23;
const OFF_BASE_TIMESTAMP = 27;
const OFF_MAX_TIMESTAMP = 35;
const OFF_PRODUCER_ID = 43;
const OFF_PRODUCER_EPOCH = 51;
const OFF_BASE_SEQUENCE = 53;
const OFF_RECORD_COUNT = 57;

const ATTR_COMPRESSION_MASK = 0x07;
const ATTR_LOG_APPEND_TIME = 0x08;
const ATTR_TRANSACTIONAL = 0x10;
const ATTR_CONTROL = 0x20;

/** Shared by every decoded record without headers (most of them): never mutate a decoded record's headers. */
const NO_HEADERS: RecordHeader[] = Object.freeze([]) as unknown as RecordHeader[];

/** The header of one batch, read without touching its records. */
export interface BatchHeader {
  /** Where the batch starts in the buffer it was read from. */
  position: number;
  /** Total bytes of the batch including baseOffset and batchLength. */
  size: number;
  baseOffset: number;
  lastOffsetDelta: number;
  attributes: number;
  compression: CompressionType;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
  isTransactional: boolean;
  isControl: boolean;
}

export interface EncodeOptions {
  baseOffset?: number;
  compression?: CompressionType;
  /**
   * Give the batch memory of its own rather than a slice of Node's shared 64 KiB pool: a batch that moves to
   * another thread then moves alone (posting a pooled slice copies the whole pool).
   */
  ownMemory?: boolean;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  /** Part of a transaction (attribute bit 4): read_committed readers see it only once its transaction commits. */
  transactional?: boolean;
  /** A control batch (attribute bit 5): a transaction marker, not data (see control.ts). */
  control?: boolean;
  /** Used for records without a timestamp. */
  now?: number;
}

/** Encodes `records` as one record batch v2 (offsets relative to `baseOffset`, 0 by default). */
export function encodeRecordBatch(records: readonly LogRecord[], options: EncodeOptions = {}): Buffer {
  if (records.length === 0) throw new SluiceError('INVALID_RECORD', 'a record batch needs at least one record');
  const now = options.now ?? Date.now();
  const compression = options.compression ?? 'none';
  let baseTimestamp = Number.POSITIVE_INFINITY;
  let maxTimestamp = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < records.length; i++) {
    const ts = records[i]!.timestamp ?? now;
    if (!Number.isSafeInteger(ts)) {
      throw new SluiceError('INVALID_RECORD', `record ${i} has an invalid timestamp ${ts}`, { index: i });
    }
    if (ts < baseTimestamp) baseTimestamp = ts;
    if (ts > maxTimestamp) maxTimestamp = ts;
  }
  // Kafka takes the first record's timestamp as the base; deltas may then be negative, which zig-zag allows.
  baseTimestamp = records[0]!.timestamp ?? now;

  let recordsSize = 0;
  const bodySizes = new Array<number>(records.length);
  for (let i = 0; i < records.length; i++) {
    const body = recordBodySize(records[i]!, i, (records[i]!.timestamp ?? now) - baseTimestamp);
    bodySizes[i] = body;
    recordsSize += sizeOfVarint(body) + body;
  }
  // Uncompressed records are written straight after the header; compressed ones go through a scratch buffer.
  const direct = compression === 'none';
  const allocate = options.ownMemory ? Buffer.allocUnsafeSlow : Buffer.allocUnsafe;
  const scratch = direct ? undefined : Buffer.allocUnsafe(recordsSize);
  let batch = direct ? allocate(BATCH_HEADER_SIZE + recordsSize) : scratch!;
  let pos = direct ? BATCH_HEADER_SIZE : 0;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    pos = writeRecord(batch, pos, record, i, (record.timestamp ?? now) - baseTimestamp, bodySizes[i]!);
  }
  if (!direct) {
    const compressed = compress(compression, scratch!);
    batch = allocate(BATCH_HEADER_SIZE + compressed.length);
    compressed.copy(batch, BATCH_HEADER_SIZE);
  }
  writeInt64(batch, OFF_BASE_OFFSET, options.baseOffset ?? 0);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD, OFF_BATCH_LENGTH);
  batch.writeInt32BE(-1, OFF_LEADER_EPOCH);
  batch.writeInt8(2, OFF_MAGIC);
  const attributes =
    compressionCode(compression) |
    (options.transactional ? ATTR_TRANSACTIONAL : 0) |
    (options.control ? ATTR_CONTROL : 0);
  batch.writeInt16BE(attributes, OFF_ATTRIBUTES);
  batch.writeInt32BE(records.length - 1, OFF_LAST_OFFSET_DELTA);
  writeInt64(batch, OFF_BASE_TIMESTAMP, baseTimestamp);
  writeInt64(batch, OFF_MAX_TIMESTAMP, maxTimestamp);
  writeInt64(batch, OFF_PRODUCER_ID, options.producerId ?? -1);
  batch.writeInt16BE(options.producerEpoch ?? -1, OFF_PRODUCER_EPOCH);
  batch.writeInt32BE(options.baseSequence ?? -1, OFF_BASE_SEQUENCE);
  batch.writeInt32BE(records.length, OFF_RECORD_COUNT);
  batch.writeUInt32BE(crc32c(batch.subarray(OFF_ATTRIBUTES)), OFF_CRC);
  return batch;
}

function recordBodySize(record: LogRecord, offsetDelta: number, timestampDelta: number): number {
  let size = 1 + sizeOfVarint(timestampDelta) + sizeOfVarint(offsetDelta);
  size += record.key === null ? 1 : sizeOfVarint(record.key.length) + record.key.length;
  size += record.value === null ? 1 : sizeOfVarint(record.value.length) + record.value.length;
  const headers = record.headers;
  size += sizeOfVarint(headers?.length ?? 0);
  if (headers) {
    for (const header of headers) {
      const keyLength = Buffer.byteLength(header.key);
      size += sizeOfVarint(keyLength) + keyLength;
      size += header.value === null ? 1 : sizeOfVarint(header.value.length) + header.value.length;
    }
  }
  return size;
}

function writeRecord(
  buf: Buffer,
  pos: number,
  record: LogRecord,
  offsetDelta: number,
  timestampDelta: number,
  bodySize: number,
): number {
  pos = writeVarint(buf, pos, bodySize);
  buf[pos++] = 0; // record attributes: unused
  pos = writeVarint(buf, pos, timestampDelta);
  pos = writeVarint(buf, pos, offsetDelta);
  pos = writeBytes(buf, pos, record.key);
  pos = writeBytes(buf, pos, record.value);
  const headers = record.headers;
  pos = writeVarint(buf, pos, headers?.length ?? 0);
  if (headers) {
    for (const header of headers) {
      const keyLength = Buffer.byteLength(header.key);
      pos = writeVarint(buf, pos, keyLength);
      pos += buf.write(header.key, pos);
      pos = writeBytes(buf, pos, header.value);
    }
  }
  return pos;
}

function writeBytes(buf: Buffer, pos: number, bytes: Buffer | null): number {
  if (bytes === null) return writeVarint(buf, pos, -1);
  pos = writeVarint(buf, pos, bytes.length);
  bytes.copy(buf, pos);
  return pos + bytes.length;
}

/**
 * Reads the header of the batch at `pos` and checks that it is whole and plausible (not the CRC: see `verifyBatch`).
 * Returns null when fewer than a whole batch's bytes remain (a torn tail or the end of a read window).
 */
export function readBatchHeader(buf: Buffer, pos: number, end = buf.length): BatchHeader | null {
  if (end - pos < LOG_OVERHEAD) return null;
  const batchLength = buf.readInt32BE(pos + OFF_BATCH_LENGTH);
  if (batchLength < MIN_BATCH_LENGTH) {
    throw new SluiceError('CORRUPT_MESSAGE', `record batch at byte ${pos} has an invalid length ${batchLength}`, {
      position: pos,
    });
  }
  const size = LOG_OVERHEAD + batchLength;
  if (end - pos < size) return null;
  const magic = buf.readInt8(pos + OFF_MAGIC);
  if (magic !== 2) {
    throw new SluiceError(
      'UNSUPPORTED_VERSION',
      `record batch at byte ${pos} has magic ${magic}; only v2 is supported`,
      {
        position: pos,
        magic,
      },
    );
  }
  const attributes = buf.readInt16BE(pos + OFF_ATTRIBUTES);
  const recordCount = buf.readInt32BE(pos + OFF_RECORD_COUNT);
  const lastOffsetDelta = buf.readInt32BE(pos + OFF_LAST_OFFSET_DELTA);
  if (recordCount < 0 || lastOffsetDelta < 0 || (recordCount > 0 && lastOffsetDelta < recordCount - 1)) {
    throw new SluiceError(
      'CORRUPT_MESSAGE',
      `record batch at byte ${pos} has inconsistent counts (records ${recordCount}, last offset delta ${lastOffsetDelta})`,
      { position: pos },
    );
  }
  return {
    position: pos,
    size,
    baseOffset: readInt64(buf, pos + OFF_BASE_OFFSET),
    lastOffsetDelta,
    attributes,
    compression: compressionOf(attributes & ATTR_COMPRESSION_MASK),
    baseTimestamp: readInt64(buf, pos + OFF_BASE_TIMESTAMP),
    maxTimestamp: readInt64(buf, pos + OFF_MAX_TIMESTAMP),
    producerId: readInt64(buf, pos + OFF_PRODUCER_ID),
    producerEpoch: buf.readInt16BE(pos + OFF_PRODUCER_EPOCH),
    baseSequence: buf.readInt32BE(pos + OFF_BASE_SEQUENCE),
    recordCount,
    isTransactional: (attributes & ATTR_TRANSACTIONAL) !== 0,
    isControl: (attributes & ATTR_CONTROL) !== 0,
  };
}

/** True when the batch's stored CRC-32C matches its bytes. */
export function verifyBatch(buf: Buffer, header: BatchHeader): boolean {
  const start = header.position;
  return buf.readUInt32BE(start + OFF_CRC) === crc32c(buf.subarray(start + OFF_ATTRIBUTES, start + header.size));
}

/**
 * The largest timestamp among the batch's records: for a batch whose header says -1 for it (sarama writes that),
 * so that the time index and lookups by time see the records' own timestamps. -1 when no record has one. A
 * compressed batch is decompressed to read them, which is why this runs only for such batches.
 */
export function recordsMaxTimestamp(buf: Buffer, header: BatchHeader): number {
  let max = -1;
  forEachRecord(buf, header, 0, (record) => {
    if (record.timestamp > max) max = record.timestamp;
    return true;
  });
  return max;
}

/**
 * Rewrites the max timestamp in the header of the batch at `header.position` and its CRC-32C, which covers it; as
 * Kafka's broker does when a producer's batch header disagrees with its records. `header` is updated to match.
 */
export function setMaxTimestamp(buf: Buffer, header: BatchHeader, maxTimestamp: number): void {
  const start = header.position;
  writeInt64(buf, start + OFF_MAX_TIMESTAMP, maxTimestamp);
  buf.writeUInt32BE(crc32c(buf.subarray(start + OFF_ATTRIBUTES, start + header.size)), start + OFF_CRC);
  header.maxTimestamp = maxTimestamp;
}

/** True when the batch's records carry the broker's append time rather than their own (attribute bit 3). */
export function isLogAppendTime(header: BatchHeader): boolean {
  return (header.attributes & ATTR_LOG_APPEND_TIME) !== 0;
}

/** Every whole batch in `buf`, headers only; stops at a trailing partial batch. */
export function readBatchHeaders(buf: Buffer, start = 0, end = buf.length): BatchHeader[] {
  const headers: BatchHeader[] = [];
  let pos = start;
  for (;;) {
    const header = readBatchHeader(buf, pos, end);
    if (header === null) break;
    headers.push(header);
    pos += header.size;
  }
  return headers;
}

/** Rewrites the base offset of the batch at `position` (outside the CRC, so the batch stays valid). */
export function setBaseOffset(buf: Buffer, position: number, baseOffset: number): void {
  writeInt64(buf, position + OFF_BASE_OFFSET, baseOffset);
}

/**
 * One record of a batch as positions in the batch's bytes, for readers that want a field or two without a
 * decoded record (and its two Buffer views) per record: forEachRecord passes the same view for every record, so
 * copy what you keep. A null key or value has start -1.
 */
export interface RecordView {
  offset: number;
  timestamp: number;
  /** The batch's bytes, or their decompressed copy. */
  data: Buffer;
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
  /** Where the record's header count is, and where the record ends. */
  headersStart: number;
  end: number;
}

/**
 * Calls `visit` for every record of one batch with offset >= `fromOffset`, in order, until it returns false;
 * returns false when it stopped early. A malformed record throws CORRUPT_MESSAGE (what `visit` throws passes).
 */
export function forEachRecord(
  buf: Buffer,
  header: BatchHeader,
  fromOffset: number,
  visit: (record: RecordView) => boolean | undefined,
): boolean {
  let data = buf;
  let pos = header.position + BATCH_HEADER_SIZE;
  let end = header.position + header.size;
  if (header.compression !== 'none') {
    data = decompress(header.compression, buf.subarray(pos, end));
    pos = 0;
    end = data.length;
  }
  const logAppendTime = (header.attributes & ATTR_LOG_APPEND_TIME) !== 0;
  const view: RecordView = {
    offset: 0,
    timestamp: 0,
    data,
    keyStart: -1,
    keyEnd: -1,
    valueStart: -1,
    valueEnd: -1,
    headersStart: 0,
    end: 0,
  };
  const cursor: Cursor = { pos };
  for (let i = 0; i < header.recordCount; i++) {
    try {
      const length = readVarint(data, cursor, end);
      const recordEnd = cursor.pos + length;
      if (length < 0 || recordEnd > end) throw new RangeError(`record ${i} runs past the end of its batch`);
      cursor.pos++; // attributes
      const timestampDelta = readVarint(data, cursor, recordEnd);
      view.offset = header.baseOffset + readVarint(data, cursor, recordEnd);
      view.timestamp = logAppendTime ? header.maxTimestamp : header.baseTimestamp + timestampDelta;
      view.keyStart = skipBytes(data, cursor, recordEnd);
      view.keyEnd = cursor.pos;
      view.valueStart = skipBytes(data, cursor, recordEnd);
      view.valueEnd = cursor.pos;
      view.headersStart = cursor.pos;
      view.end = recordEnd;
      cursor.pos = recordEnd;
    } catch (error) {
      throw corrupt(header, error as Error);
    }
    if (view.offset >= fromOffset && visit(view) === false) return false;
  }
  return true;
}

/**
 * forEachRecord over the batches of a read (whole batches, as RawReadResult has them) from byte `position`;
 * control batches (Kafka's transaction markers) hold no data and are skipped, and so are the batches of `skip`
 * (a read_committed read's aborted transactions: `isAbortedBatch`). Returns -1 when every record was visited, or
 * where the batch `visit` stopped in starts (to go on from there with a later `fromOffset`).
 */
export function forEachRecordIn(
  batches: Buffer,
  fromOffset: number,
  visit: (record: RecordView) => boolean | undefined,
  position = 0,
  skip?: (header: BatchHeader) => boolean,
): number {
  for (let pos = position; ; ) {
    const header = readBatchHeader(batches, pos);
    if (header === null) return -1;
    if (!header.isControl && !skip?.(header) && !forEachRecord(batches, header, fromOffset, visit)) return pos;
    pos += header.size;
  }
}

/** The record a view points at, decoded: key, value and header values are views into its bytes, not copies. */
export function recordOf(view: RecordView): StoredRecord {
  const { data } = view;
  return {
    offset: view.offset,
    timestamp: view.timestamp,
    key: view.keyStart < 0 ? null : data.subarray(view.keyStart, view.keyEnd),
    value: view.valueStart < 0 ? null : data.subarray(view.valueStart, view.valueEnd),
    headers: headersOf(view),
  };
}

function headersOf(view: RecordView): RecordHeader[] {
  const { data, end } = view;
  const cursor: Cursor = { pos: view.headersStart };
  try {
    const count = readVarint(data, cursor, end);
    if (count === 0) return NO_HEADERS;
    const headers: RecordHeader[] = [];
    for (let h = 0; h < count; h++) {
      const keyLength = readVarint(data, cursor, end);
      if (keyLength < 0 || cursor.pos + keyLength > end) throw new RangeError('header key runs past its record');
      const key = data.toString('utf8', cursor.pos, cursor.pos + keyLength);
      cursor.pos += keyLength;
      const valueStart = skipBytes(data, cursor, end);
      headers.push({ key, value: valueStart < 0 ? null : data.subarray(valueStart, cursor.pos) });
    }
    return headers;
  } catch (error) {
    throw new SluiceError(
      'CORRUPT_MESSAGE',
      `record at offset ${view.offset} is malformed: ${(error as Error).message}`,
      {
        offset: view.offset,
      },
    );
  }
}

function corrupt(header: BatchHeader, error: Error): SluiceError {
  if (error instanceof SluiceError) return error;
  return new SluiceError(
    'CORRUPT_MESSAGE',
    `record batch at offset ${header.baseOffset} is malformed: ${error.message}`,
    { baseOffset: header.baseOffset },
  );
}

/**
 * Decodes the records of one batch, pushing those with offset >= `fromOffset` onto `out`. Keys, values and header
 * values are views into `buf` (or into the decompressed copy), not copies.
 */
export function decodeBatchRecords(buf: Buffer, header: BatchHeader, out: StoredRecord[], fromOffset = 0): void {
  forEachRecord(buf, header, fromOffset, (view) => {
    out.push(recordOf(view));
    return true;
  });
}

/** Decodes every record of every whole data batch in `buf` (control batches skipped). */
export function decodeRecordBatches(buf: Buffer, fromOffset = 0): StoredRecord[] {
  const out: StoredRecord[] = [];
  forEachRecordIn(buf, fromOffset, (view) => {
    out.push(recordOf(view));
    return true;
  });
  return out;
}

/** Steps over a length-prefixed byte string; returns where its bytes start (-1 for null), leaving the cursor after. */
function skipBytes(buf: Buffer, cursor: Cursor, end: number): number {
  const length = readVarint(buf, cursor, end);
  if (length < 0) return -1;
  const start = cursor.pos;
  if (start + length > end) throw new RangeError('bytes run past the end of their record');
  cursor.pos = start + length;
  return start;
}

/** int64 as a JS number: exact within ±2^53, which offsets, timestamps and producer ids stay within. */
export function readInt64(buf: Buffer, pos: number): number {
  const high = buf.readInt32BE(pos);
  const low = buf.readUInt32BE(pos + 4);
  return high * 0x1_0000_0000 + low;
}

export function writeInt64(buf: Buffer, pos: number, value: number): void {
  const high = Math.floor(value / 0x1_0000_0000);
  buf.writeInt32BE(high, pos);
  buf.writeUInt32BE(value - high * 0x1_0000_0000, pos + 4);
}
