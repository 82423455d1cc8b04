// One segment of a partition: a file of record batches starting at `baseOffset`, with a sparse offset index
// (offset → file position, one entry per ~4 KiB) and a time index (max timestamp before an offset → position).
// Invariants: batches in a segment have contiguous, increasing offsets; indexes only point at batch starts.
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../errors.ts';
import { fsyncDirSync, writeFileAtomicSync } from '../files.ts';
import { type BatchHeader, LOG_OVERHEAD, readBatchHeader, verifyBatch } from './batch/record-batch.ts';
import type { AbortedTransaction } from './types.ts';

export const INDEX_INTERVAL_BYTES = 4096;
const SCAN_CHUNK = 1 << 20;
const OFFSET_ENTRY = 8; // relative offset i32, position i32
const TIME_ENTRY = 16; // timestamp i64, relative offset i32, position i32
const ABORTED_ENTRY = 24; // producer id i64, first offset i64, last (marker) offset i64
/** Every file a segment may have beside its data: the indexes and the open transactions at its base (.txnsnapshot). */
const SEGMENT_FILES = ['.log', '.index', '.timeindex', '.txnindex', '.txnsnapshot'];

export function segmentFileName(baseOffset: number, suffix: string): string {
  return `${String(baseOffset).padStart(20, '0')}${suffix}`;
}

/** Facts about a batch just appended, in offsets the partition assigned. */
export interface AppendedBatch {
  baseOffset: number;
  lastOffset: number;
  maxTimestamp: number;
  size: number;
}

export interface RecoveryReport {
  truncatedBytes: number;
  reason?: string;
}

export class Segment {
  readonly baseOffset: number;
  readonly logPath: string;
  readonly fd: number;
  /** Bytes of whole batches written. */
  size = 0;
  /** Bytes readers may see: durable per the fsync policy. */
  visibleSize = 0;
  nextOffset: number;
  /** Largest record timestamp in the segment; -1 while empty. */
  maxTimestamp = -1;
  createdAt: number;
  /**
   * The aborted-transaction index: the transactions whose abort marker is in this segment, in marker order. Kept in
   * memory, persisted as `.txnindex` with the other indexes; the active segment's is rebuilt from its data on open.
   */
  readonly abortedTxns: AbortedTransaction[] = [];

  // Sparse indexes in memory; persisted on roll and close, rebuilt from the data when missing or damaged.
  private readonly indexOffsets: number[] = [];
  private readonly indexPositions: number[] = [];
  private readonly timeTimestamps: number[] = [];
  private readonly timeOffsets: number[] = [];
  private readonly timePositions: number[] = [];
  private bytesSinceIndex = 0;
  private maxTimestampBefore = -1;

  private constructor(dir: string, baseOffset: number, fd: number, createdAt: number) {
    this.baseOffset = baseOffset;
    this.logPath = path.join(dir, segmentFileName(baseOffset, '.log'));
    this.fd = fd;
    this.nextOffset = baseOffset;
    this.createdAt = createdAt;
  }

  static create(dir: string, baseOffset: number): Segment {
    const file = path.join(dir, segmentFileName(baseOffset, '.log'));
    const fd = fs.openSync(file, 'wx+');
    fsyncDirSync(dir);
    return new Segment(dir, baseOffset, fd, Date.now());
  }

  /**
   * Opens an existing segment. With `verify`, every batch's length and CRC is checked and the file is cut at the
   * first torn or corrupt batch (the tail a crash can leave); otherwise the persisted indexes are trusted when valid.
   */
  static open(dir: string, baseOffset: number, verify: boolean): { segment: Segment; recovery: RecoveryReport } {
    const file = path.join(dir, segmentFileName(baseOffset, '.log'));
    const fd = fs.openSync(file, 'r+');
    const stat = fs.fstatSync(fd);
    const segment = new Segment(dir, baseOffset, fd, stat.birthtimeMs || stat.mtimeMs);
    const fileSize = stat.size;
    let recovery: RecoveryReport = { truncatedBytes: 0 };
    if (verify || !segment.loadIndexes(dir, fileSize)) {
      recovery = segment.rebuild(fileSize, verify);
    }
    segment.loadAbortedIndex(dir);
    segment.visibleSize = segment.size;
    return { segment, recovery };
  }

  /** Appends whole batches (already carrying their assigned offsets) at the end of the file. */
  append(data: Buffer, batches: readonly AppendedBatch[]): void {
    const position = this.size;
    let written = 0;
    try {
      while (written < data.length) {
        written += fs.writeSync(this.fd, data, written, data.length - written, position + written);
      }
    } catch (error) {
      // Never leave a partial batch behind: cut back to the last whole batch and report the failure.
      try {
        fs.ftruncateSync(this.fd, position);
      } catch {}
      throw new SluiceError('STORAGE_ERROR', `write to ${this.logPath} failed: ${(error as Error).message}`, {
        file: this.logPath,
      });
    }
    let batchPosition = position;
    for (const batch of batches) {
      this.indexBatch(batch.baseOffset, batchPosition, batch.size, batch.maxTimestamp);
      this.nextOffset = batch.lastOffset + 1;
      batchPosition += batch.size;
    }
    this.size = position + data.length;
  }

  private indexBatch(baseOffset: number, position: number, size: number, maxTimestamp: number): void {
    if (this.indexOffsets.length === 0 || this.bytesSinceIndex >= INDEX_INTERVAL_BYTES) {
      this.indexOffsets.push(baseOffset);
      this.indexPositions.push(position);
      if (this.maxTimestampBefore > (this.timeTimestamps.at(-1) ?? -1)) {
        // "Every record before `baseOffset` has a timestamp <= maxTimestampBefore."
        this.timeTimestamps.push(this.maxTimestampBefore);
        this.timeOffsets.push(baseOffset);
        this.timePositions.push(position);
      }
      this.bytesSinceIndex = 0;
    }
    this.bytesSinceIndex += size;
    if (maxTimestamp > this.maxTimestampBefore) this.maxTimestampBefore = maxTimestamp;
    if (maxTimestamp > this.maxTimestamp) this.maxTimestamp = maxTimestamp;
  }

  /** File position of the indexed batch at or before `offset` (a place to start scanning for it). */
  positionFor(offset: number): number {
    const offsets = this.indexOffsets;
    let lo = 0;
    let hi = offsets.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (offsets[mid]! <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return offsets.length === 0 ? 0 : this.indexPositions[found]!;
  }

  /** File position from which every batch has records with timestamps possibly >= `timestamp`. */
  positionForTimestamp(timestamp: number): number {
    const ts = this.timeTimestamps;
    let lo = 0;
    let hi = ts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (ts[mid]! < timestamp) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? 0 : this.timePositions[found]!;
  }

  /** Reads `length` bytes at `position` (bounded by what readers may see). */
  /** Bytes from `position`: into `into` when it is large enough, else into memory of their own. */
  read(position: number, length: number, into?: Buffer): Buffer {
    const end = Math.min(position + length, this.visibleSize);
    if (end <= position) return Buffer.alloc(0);
    // Never from Node's shared pool: a read owns its memory, so a reader may hand it to a thread (readRaw).
    const buf =
      into && into.length >= end - position ? into.subarray(0, end - position) : Buffer.allocUnsafeSlow(end - position);
    let done = 0;
    while (done < buf.length) {
      const n = fs.readSync(this.fd, buf, done, buf.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done === buf.length ? buf : buf.subarray(0, done);
  }

  /** Persists the in-memory indexes (on roll and close). */
  writeIndexes(dir: string): void {
    const offsetIndex = Buffer.allocUnsafe(this.indexOffsets.length * OFFSET_ENTRY);
    for (let i = 0; i < this.indexOffsets.length; i++) {
      offsetIndex.writeInt32BE(this.indexOffsets[i]! - this.baseOffset, i * OFFSET_ENTRY);
      offsetIndex.writeInt32BE(this.indexPositions[i]!, i * OFFSET_ENTRY + 4);
    }
    const timeIndex = Buffer.allocUnsafe(this.timeTimestamps.length * TIME_ENTRY);
    for (let i = 0; i < this.timeTimestamps.length; i++) {
      timeIndex.writeBigInt64BE(BigInt(this.timeTimestamps[i]!), i * TIME_ENTRY);
      timeIndex.writeInt32BE(this.timeOffsets[i]! - this.baseOffset, i * TIME_ENTRY + 8);
      timeIndex.writeInt32BE(this.timePositions[i]!, i * TIME_ENTRY + 12);
    }
    const abortedIndex = Buffer.allocUnsafe(this.abortedTxns.length * ABORTED_ENTRY);
    this.abortedTxns.forEach((txn, i) => {
      abortedIndex.writeBigInt64BE(BigInt(txn.producerId), i * ABORTED_ENTRY);
      abortedIndex.writeBigInt64BE(BigInt(txn.firstOffset), i * ABORTED_ENTRY + 8);
      abortedIndex.writeBigInt64BE(BigInt(txn.lastOffset), i * ABORTED_ENTRY + 16);
    });
    writeFileAtomicSync(path.join(dir, segmentFileName(this.baseOffset, '.index')), offsetIndex);
    writeFileAtomicSync(path.join(dir, segmentFileName(this.baseOffset, '.timeindex')), timeIndex);
    writeFileAtomicSync(path.join(dir, segmentFileName(this.baseOffset, '.txnindex')), abortedIndex);
  }

  /**
   * Loads the persisted aborted-transaction index. A segment without one was written before transactions existed
   * (none of its batches is transactional); the active segment's is rebuilt from its data anyway.
   */
  private loadAbortedIndex(dir: string): void {
    let data: Buffer;
    try {
      data = fs.readFileSync(path.join(dir, segmentFileName(this.baseOffset, '.txnindex')));
    } catch {
      return;
    }
    for (let i = 0; i + ABORTED_ENTRY <= data.length; i += ABORTED_ENTRY) {
      const lastOffset = Number(data.readBigInt64BE(i + 16));
      if (lastOffset < this.baseOffset || lastOffset >= this.nextOffset) continue; // not this segment's (damaged)
      this.abortedTxns.push({
        producerId: Number(data.readBigInt64BE(i)),
        firstOffset: Number(data.readBigInt64BE(i + 8)),
        lastOffset,
      });
    }
  }

  /** Loads and validates the persisted indexes; false when they are missing or inconsistent with the data. */
  private loadIndexes(dir: string, fileSize: number): boolean {
    let offsetIndex: Buffer;
    let timeIndex: Buffer;
    try {
      offsetIndex = fs.readFileSync(path.join(dir, segmentFileName(this.baseOffset, '.index')));
      timeIndex = fs.readFileSync(path.join(dir, segmentFileName(this.baseOffset, '.timeindex')));
    } catch {
      return false;
    }
    if (offsetIndex.length % OFFSET_ENTRY !== 0 || timeIndex.length % TIME_ENTRY !== 0) return false;
    if (offsetIndex.length === 0 && fileSize > 0) return false;
    for (let i = 0; i < offsetIndex.length; i += OFFSET_ENTRY) {
      const offset = this.baseOffset + offsetIndex.readInt32BE(i);
      const position = offsetIndex.readInt32BE(i + 4);
      const n = this.indexOffsets.length;
      if (n === 0 ? position !== 0 : offset <= this.indexOffsets[n - 1]! || position <= this.indexPositions[n - 1]!) {
        return this.resetIndexes();
      }
      if (position >= fileSize) return this.resetIndexes();
      this.indexOffsets.push(offset);
      this.indexPositions.push(position);
    }
    for (let i = 0; i < timeIndex.length; i += TIME_ENTRY) {
      const ts = Number(timeIndex.readBigInt64BE(i));
      const position = timeIndex.readInt32BE(i + 12);
      if ((this.timeTimestamps.length > 0 && ts < this.timeTimestamps.at(-1)!) || position >= fileSize) {
        return this.resetIndexes();
      }
      this.timeTimestamps.push(ts);
      this.timeOffsets.push(this.baseOffset + timeIndex.readInt32BE(i + 8));
      this.timePositions.push(position);
    }
    // The data after the last index entry tells the end offset and size; its first batch must match the entry.
    const start = this.indexPositions.at(-1) ?? 0;
    try {
      let first = true;
      this.size = start;
      this.scan(start, fileSize, false, (header, position) => {
        if (first && this.indexOffsets.length > 0 && header.baseOffset !== this.indexOffsets.at(-1)) {
          throw new Error('index does not match data');
        }
        first = false;
        this.nextOffset = header.baseOffset + header.lastOffsetDelta + 1;
        if (header.maxTimestamp > this.maxTimestamp) this.maxTimestamp = header.maxTimestamp;
        this.size = position + header.size;
      });
    } catch {
      return this.resetIndexes();
    }
    if (this.size !== fileSize) return this.resetIndexes();
    this.maxTimestamp = Math.max(this.maxTimestamp, this.timeTimestamps.at(-1) ?? -1);
    this.maxTimestampBefore = this.maxTimestamp;
    this.bytesSinceIndex = this.size - start;
    return true;
  }

  private resetIndexes(): false {
    this.indexOffsets.length = 0;
    this.indexPositions.length = 0;
    this.timeTimestamps.length = 0;
    this.timeOffsets.length = 0;
    this.timePositions.length = 0;
    this.bytesSinceIndex = 0;
    this.maxTimestampBefore = -1;
    this.maxTimestamp = -1;
    this.nextOffset = this.baseOffset;
    this.size = 0;
    return false;
  }

  /** Rebuilds the indexes by scanning the data; with `verify`, cuts the file at the first bad batch. */
  private rebuild(fileSize: number, verify: boolean): RecoveryReport {
    this.resetIndexes();
    let reason: string | undefined;
    try {
      this.scan(0, fileSize, verify, (header, position) => {
        if (header.baseOffset !== this.nextOffset) {
          throw new Error(`batch at byte ${position} has offset ${header.baseOffset}, expected ${this.nextOffset}`);
        }
        this.indexBatch(header.baseOffset, position, header.size, header.maxTimestamp);
        this.nextOffset = header.baseOffset + header.lastOffsetDelta + 1;
        this.size = position + header.size;
      });
    } catch (error) {
      reason = (error as Error).message;
    }
    if (this.size < fileSize) {
      reason ??= 'incomplete batch at the end of the file';
      fs.ftruncateSync(this.fd, this.size);
      fs.fdatasyncSync(this.fd);
    }
    return { truncatedBytes: fileSize - this.size, reason };
  }

  /** Calls `visit` for each whole batch from `start` to `end`, reading the file in large chunks. */
  scan(start: number, end: number, verify: boolean, visit: (header: BatchHeader, position: number) => void): void {
    let chunkStart = start;
    while (chunkStart < end) {
      const chunk = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, end - chunkStart));
      const n = fs.readSync(this.fd, chunk, 0, chunk.length, chunkStart);
      let pos = 0;
      let progressed = false;
      for (;;) {
        const header = readBatchHeader(chunk, pos, n);
        if (header === null) break;
        if (verify && !verifyBatch(chunk, header)) {
          throw new Error(`CRC mismatch in batch at byte ${chunkStart + pos}`);
        }
        visit(header, chunkStart + pos);
        pos += header.size;
        progressed = true;
      }
      if (!progressed) {
        // A batch larger than the chunk: read exactly that batch, or stop at a torn tail.
        if (n < LOG_OVERHEAD) return;
        const size = LOG_OVERHEAD + chunk.readInt32BE(8);
        if (size <= n || chunkStart + size > end) return;
        const whole = Buffer.allocUnsafe(size);
        fs.readSync(this.fd, whole, 0, size, chunkStart);
        const header = readBatchHeader(whole, 0);
        if (header === null) return;
        if (verify && !verifyBatch(whole, header)) throw new Error(`CRC mismatch in batch at byte ${chunkStart}`);
        visit(header, chunkStart);
        pos = size;
      }
      chunkStart += pos;
    }
  }

  /**
   * Cuts the segment so that `offset` is its next offset (it must start a batch), for a sink rolling back writes
   * made after its last checkpoint. The persisted indexes are removed and the in-memory ones rebuilt.
   */
  truncateTo(dir: string, offset: number): void {
    if (offset === this.nextOffset) return;
    let cut = -1;
    if (offset === this.baseOffset) cut = 0;
    else {
      this.scan(this.positionFor(offset), this.size, false, (header, position) => {
        if (cut < 0 && header.baseOffset === offset) cut = position;
      });
    }
    if (cut < 0) {
      throw new SluiceError('INVALID_OFFSET', `${this.logPath}: offset ${offset} does not start a record batch`, {
        offset,
      });
    }
    for (const suffix of ['.index', '.timeindex', '.txnindex'])
      fs.rmSync(path.join(dir, segmentFileName(this.baseOffset, suffix)), { force: true });
    const kept = this.abortedTxns.filter((txn) => txn.lastOffset < offset);
    this.abortedTxns.splice(0, this.abortedTxns.length, ...kept);
    fs.ftruncateSync(this.fd, cut);
    fs.fdatasyncSync(this.fd);
    this.rebuild(cut, false);
    this.visibleSize = this.size;
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  /** Removes the segment's files (after `close`). */
  remove(dir: string): void {
    for (const suffix of SEGMENT_FILES) {
      fs.rmSync(path.join(dir, segmentFileName(this.baseOffset, suffix)), { force: true });
    }
  }
}
