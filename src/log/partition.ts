// One partition: an ordered list of segments, the active one receiving appends. Owns offset assignment, group
// commit (many appends share one fdatasync), the high watermark readers see, retention, roll, and read waiters.
//
// Under the `batch` policy readers see only fsynced records. An append made with `durable: false` does not wait
// for its fsync: it is acknowledged once written, and becomes durable and visible with the next fsync — a durable
// append's, a flush(), or the one a timer starts `deferredMs` after it. For a writer that rebuilds what a machine
// crash takes from its own checkpoints (an engine sink, whose checkpoint flushes): many of its appends share one
// fsync, and it never waits for one.
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { type BatchHeader, decodeBatchRecords, readBatchHeader, setBaseOffset } from './batch/record-batch.ts';
import { ProducerStateTable } from './producer-state.ts';
import { type AppendedBatch, Segment } from './segment.ts';
import type {
  AppendResult,
  FsyncPolicy,
  PartitionInfo,
  RawReadResult,
  RecordReadResult,
  StoredRecord,
  TopicConfig,
  WaitOptions,
} from './types.ts';

const CLEAN_SHUTDOWN = '.clean-shutdown';
const DEFAULT_MAX_READ_BYTES = 1 << 20;
/**
 * How long an append made with `durable: false` may wait for its fsync (and readers for it). Kafka Streams commits
 * exactly-once output every 100 ms; half that keeps results prompt while a busy topic's appends share an fsync.
 */
const DEFAULT_DEFERRED_MS = 50;

interface PendingAck {
  /** The append is durable once synced up to this offset. */
  target: number;
  result: AppendResult;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

interface Waiter {
  offset: number;
  resolve: (ready: boolean) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class Partition {
  readonly topic: string;
  readonly id: number;
  readonly dir: string;
  config: TopicConfig;
  private readonly fsync: FsyncPolicy;
  private readonly logger: Logger;
  private readonly segments: Segment[] = [];
  private readonly producers = new ProducerStateTable();
  /** The offset the next record gets (log end offset). */
  private nextOffset = 0;
  /** Records below this offset are visible to readers (under the `batch` policy: fsynced). */
  private highWatermark = 0;
  /** Records below this offset are fsynced. */
  private syncedOffset = 0;
  private pending: PendingAck[] = [];
  /** flush() calls waiting for the fsync that covers their offset. */
  private flushes: { target: number; resolve: () => void; reject: (error: Error) => void }[] = [];
  /** The timer that syncs appends made with `durable: false`, and whether it has fired since the last fsync. */
  private deferredTimer: NodeJS.Timeout | undefined;
  private deferredDue = false;
  private syncing = false;
  private waiters: Waiter[] = [];
  private failure: Error | undefined;
  private closed = false;

  private constructor(topic: string, id: number, dir: string, config: TopicConfig, fsync: FsyncPolicy, logger: Logger) {
    this.topic = topic;
    this.id = id;
    this.dir = dir;
    this.config = config;
    this.fsync = fsync;
    this.logger = logger;
  }

  /** Opens (or creates) the partition directory, recovering its tail if the last shutdown was not clean. */
  static open(
    topic: string,
    id: number,
    dir: string,
    config: TopicConfig,
    fsync: FsyncPolicy,
    logger: Logger,
  ): Partition {
    fs.mkdirSync(dir, { recursive: true });
    const partition = new Partition(topic, id, dir, config, fsync, logger);
    const cleanMarker = path.join(dir, CLEAN_SHUTDOWN);
    const clean = fs.existsSync(cleanMarker);
    const bases = fs
      .readdirSync(dir)
      .filter((name) => /^\d{20}\.log$/.test(name))
      .map((name) => Number(name.slice(0, 20)))
      .sort((a, b) => a - b);
    for (let i = 0; i < bases.length; i++) {
      const last = i === bases.length - 1;
      // Older segments were fsynced when they rolled; only the active one can have a torn tail.
      const { segment, recovery } = Segment.open(dir, bases[i]!, last && !clean);
      if (recovery.truncatedBytes > 0) {
        logger.warn(
          { topic, partition: id, segment: bases[i], truncatedBytes: recovery.truncatedBytes, reason: recovery.reason },
          'truncated a torn or corrupt log tail',
        );
      }
      partition.segments.push(segment);
    }
    if (partition.segments.length === 0) partition.segments.push(Segment.create(dir, 0));
    partition.nextOffset = partition.active.nextOffset;
    partition.highWatermark = partition.nextOffset;
    partition.syncedOffset = partition.nextOffset;
    partition.rebuildProducerState();
    if (clean) fs.rmSync(cleanMarker, { force: true });
    return partition;
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  get logStartOffset(): number {
    return this.segments[0]!.baseOffset;
  }

  get logEndOffset(): number {
    return this.highWatermark;
  }

  info(): PartitionInfo {
    let sizeBytes = 0;
    for (const segment of this.segments) sizeBytes += segment.size;
    return {
      partition: this.id,
      logStartOffset: this.logStartOffset,
      logEndOffset: this.highWatermark,
      sizeBytes,
      segments: this.segments.length,
    };
  }

  /**
   * Appends whole batches held in `data` (headers already validated, positions relative to `data`), assigning
   * offsets. Retried idempotent batches are acknowledged with their original offsets and not written again.
   */
  appendBatches(data: Buffer, headers: readonly BatchHeader[], durable = true): Promise<AppendResult> {
    this.ensureWritable();
    const where = `${this.topic}-${this.id}`;
    const checks = headers.map((header) => this.producers.check(header, where));
    if (checks.every((check) => check.kind === 'duplicate')) {
      const first = checks[0] as { baseOffset: number };
      const last = checks.at(-1) as { lastOffset: number };
      const result = {
        baseOffset: first.baseOffset,
        lastOffset: last.lastOffset,
        logAppendTime: Date.now(),
        logStartOffset: this.logStartOffset,
      };
      return this.acknowledge(result, durable);
    }
    // Keep only the batches to write (a mix of retried and new batches is rare but legal).
    let toWrite = data;
    let toWriteHeaders = headers;
    if (checks.some((check) => check.kind === 'duplicate')) {
      toWriteHeaders = headers.filter((_, i) => checks[i]!.kind === 'append');
      toWrite = Buffer.concat(toWriteHeaders.map((h) => data.subarray(h.position, h.position + h.size)));
      let position = 0;
      toWriteHeaders = toWriteHeaders.map((h) => {
        const moved = { ...h, position };
        position += h.size;
        return moved;
      });
    }
    this.maybeRoll(toWrite.length);
    const baseOffset = this.nextOffset;
    const appended: AppendedBatch[] = [];
    let offset = baseOffset;
    for (const header of toWriteHeaders) {
      setBaseOffset(toWrite, header.position, offset);
      appended.push({
        baseOffset: offset,
        lastOffset: offset + header.lastOffsetDelta,
        maxTimestamp: header.maxTimestamp,
        size: header.size,
      });
      offset += header.lastOffsetDelta + 1;
    }
    this.active.append(toWrite, appended);
    this.nextOffset = offset;
    for (let i = 0; i < toWriteHeaders.length; i++) this.producers.record(toWriteHeaders[i]!, appended[i]!.baseOffset);
    const result = {
      baseOffset,
      lastOffset: offset - 1,
      logAppendTime: Date.now(),
      logStartOffset: this.logStartOffset,
    };
    return this.acknowledge(result, durable);
  }

  /** Resolves once everything up to `result.lastOffset` is as durable as the fsync policy requires (see above). */
  private acknowledge(result: AppendResult, durable: boolean): Promise<AppendResult> {
    const target = result.lastOffset + 1;
    if (this.fsync.mode !== 'batch') {
      this.advanceHighWatermark(this.nextOffset, this.active.size);
      return Promise.resolve(result);
    }
    if (!durable) {
      this.deferredTimer ??= setTimeout(() => {
        this.deferredTimer = undefined;
        if (this.syncedOffset >= this.nextOffset) return; // an fsync since has covered it
        this.deferredDue = true;
        this.scheduleSync();
      }, this.fsync.deferredMs ?? DEFAULT_DEFERRED_MS).unref();
      return Promise.resolve(result);
    }
    if (target <= this.syncedOffset) return Promise.resolve(result);
    return new Promise((resolve, reject) => {
      this.pending.push({ target, result, resolve, reject });
      this.scheduleSync();
    });
  }

  /**
   * Resolves once every record written so far is fsynced (records appended with `durable: false` included). Under
   * the `none` policy syncing is the OS's business, and it resolves at once.
   */
  flush(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed || this.syncedOffset >= this.nextOffset || this.fsync.mode === 'none') return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.flushes.push({ target: this.nextOffset, resolve, reject });
      this.scheduleSync();
    });
  }

  /** Everything below `offset` is fsynced: acknowledges the appends and flushes it covers. */
  private synced(offset: number): void {
    if (offset <= this.syncedOffset) return;
    this.syncedOffset = offset;
    if (this.pending.length > 0) {
      const still: PendingAck[] = [];
      for (const ack of this.pending) {
        if (ack.target <= offset) ack.resolve(ack.result);
        else still.push(ack);
      }
      this.pending = still;
    }
    if (this.flushes.length > 0) {
      const still = this.flushes.filter((flush) => flush.target > offset);
      for (const flush of this.flushes) if (flush.target <= offset) flush.resolve();
      this.flushes = still;
    }
  }

  /** Group commit: one fdatasync covers every append written before it started. */
  private scheduleSync(): void {
    if (this.syncing || this.closed || this.failure) return;
    if (this.pending.length === 0 && this.flushes.length === 0 && !this.deferredDue) return;
    this.deferredDue = false;
    this.syncing = true;
    const segment = this.active;
    const targetOffset = this.nextOffset;
    const targetSize = segment.size;
    fs.fdatasync(segment.fd, (error) => {
      this.syncing = false;
      if (error) {
        this.fail(new SluiceError('STORAGE_ERROR', `fsync of ${segment.logPath} failed: ${error.message}`));
        return;
      }
      this.synced(targetOffset);
      if (segment === this.active) this.advanceHighWatermark(targetOffset, targetSize);
      else this.advanceHighWatermark(targetOffset, -1);
      this.scheduleSync();
    });
  }

  /** Syncs the active segment now (the `interval` policy's timer). */
  syncNow(): void {
    if (this.closed || this.failure) return;
    const segment = this.active;
    if (segment.size === 0) return;
    const target = this.nextOffset;
    fs.fdatasyncSync(segment.fd);
    this.synced(target);
  }

  /** Readers see up to `offset` (`activeVisibleSize` bytes of the active segment; -1 when it just rolled). */
  private advanceHighWatermark(offset: number, activeVisibleSize: number): void {
    if (activeVisibleSize >= 0 && activeVisibleSize > this.active.visibleSize)
      this.active.visibleSize = activeVisibleSize;
    if (offset <= this.highWatermark) return;
    this.highWatermark = offset;
    this.wakeWaiters();
  }

  /** A failed fsync leaves the file's state unknown (fsyncgate): refuse further writes on this partition. */
  private fail(error: Error): void {
    this.failure = error;
    this.logger.error({ topic: this.topic, partition: this.id, err: error }, 'partition failed; writes refused');
    this.rejectWaiting(error);
  }

  private rejectWaiting(error: Error): void {
    clearTimeout(this.deferredTimer);
    this.deferredTimer = undefined;
    for (const ack of this.pending) ack.reject(error);
    for (const flush of this.flushes) flush.reject(error);
    this.pending = [];
    this.flushes = [];
  }

  /** Whether an fsync is running or owed (truncation and close wait until none is). */
  private get syncOwed(): boolean {
    return this.syncing || this.pending.length > 0 || this.flushes.length > 0;
  }

  private ensureWritable(): void {
    if (this.closed) throw new SluiceError('LOG_CLOSED', `partition ${this.topic}-${this.id} is closed`);
    if (this.failure) throw this.failure;
  }

  private maybeRoll(incomingBytes: number): void {
    const active = this.active;
    if (active.size === 0) return;
    const tooBig = active.size + incomingBytes > this.config.segmentBytes;
    const tooOld = Date.now() - active.createdAt >= this.config.segmentMs;
    if (tooBig || tooOld) this.roll();
  }

  /** Seals the active segment (fsync + indexes) and starts a new one at the log end offset. */
  roll(): void {
    const old = this.active;
    fs.fdatasyncSync(old.fd);
    old.writeIndexes(this.dir);
    old.visibleSize = old.size;
    this.segments.push(Segment.create(this.dir, this.nextOffset));
    // Everything written so far is now durable.
    this.synced(this.nextOffset);
    this.advanceHighWatermark(this.nextOffset, -1);
  }

  readRaw(offset: number, maxBytes = DEFAULT_MAX_READ_BYTES, into?: Buffer): RawReadResult {
    this.ensureReadable(offset);
    const empty = {
      batches: Buffer.alloc(0),
      nextOffset: offset,
      highWatermark: this.highWatermark,
      logStartOffset: this.logStartOffset,
    };
    if (offset >= this.highWatermark) return empty;
    const segment = this.segmentFor(offset);
    let position = segment.positionFor(offset);
    const limit = Math.max(maxBytes, 1);
    // Read a window that usually holds the indexed batch, the skipped ones and `maxBytes` of wanted ones.
    let window = segment.read(position, limit + 2 * 4096 + 256, into);
    let pos = 0;
    let start = -1;
    let end = -1;
    let nextOffset = offset;
    for (;;) {
      const header = readBatchHeader(window, pos);
      if (header === null) {
        if (start >= 0 || position + pos >= segment.visibleSize) break;
        // The next batch does not fit in the window: read again from it, large enough for that batch.
        position += pos;
        const needed = pos < window.length - 12 ? 12 + window.readInt32BE(pos + 8) : 4096;
        window = segment.read(position, Math.max(needed, limit + 4096));
        pos = 0;
        if (window.length === 0) break;
        continue;
      }
      const lastOffset = header.baseOffset + header.lastOffsetDelta;
      if (lastOffset < offset) {
        pos += header.size;
        continue;
      }
      if (start < 0) start = pos;
      else if (pos + header.size - start > limit) break;
      end = pos + header.size;
      nextOffset = lastOffset + 1;
      pos += header.size;
      if (end - start >= limit) break;
    }
    if (start < 0) {
      // The offset lies past this segment's data (e.g. at a segment boundary): continue in the next segment.
      const next = this.segments[this.segments.indexOf(segment) + 1];
      if (next !== undefined && offset >= segment.nextOffset) return this.readRaw(next.baseOffset, maxBytes, into);
      return empty;
    }
    return {
      batches: window.subarray(start, end),
      nextOffset: Math.min(nextOffset, this.highWatermark),
      highWatermark: this.highWatermark,
      logStartOffset: this.logStartOffset,
    };
  }

  readRecords(offset: number, maxBytes = DEFAULT_MAX_READ_BYTES): RecordReadResult {
    const raw = this.readRaw(offset, maxBytes);
    const records: StoredRecord[] = [];
    let pos = 0;
    const data = raw.batches;
    for (;;) {
      const header = readBatchHeader(data, pos);
      if (header === null) break;
      if (!header.isControl) decodeBatchRecords(data, header, records, offset);
      pos += header.size;
    }
    return {
      records,
      nextOffset: raw.nextOffset,
      highWatermark: raw.highWatermark,
      logStartOffset: raw.logStartOffset,
    };
  }

  offsetForTimestamp(timestamp: number): number | null {
    for (const segment of this.segments) {
      if (segment.maxTimestamp < timestamp) continue;
      let result: number | null = null;
      const start = segment.positionForTimestamp(timestamp);
      try {
        segment.scan(start, segment.visibleSize, false, (header, position) => {
          if (header.maxTimestamp < timestamp) return;
          const window = segment.read(position, header.size);
          const records: StoredRecord[] = [];
          decodeBatchRecords(window, { ...header, position: 0 }, records);
          for (const record of records) {
            if (record.timestamp >= timestamp) {
              result = record.offset;
              throw FOUND;
            }
          }
        });
      } catch (error) {
        if (error !== FOUND) throw error;
      }
      if (result !== null) return result;
    }
    return null;
  }

  waitForData(offset: number, options: WaitOptions = {}): Promise<boolean> {
    if (offset < this.highWatermark) return Promise.resolve(true);
    if (this.closed || options.signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = { offset, resolve, timer: undefined, signal: options.signal, onAbort: undefined };
      if (options.timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => this.settleWaiter(waiter, false), Math.max(0, options.timeoutMs));
      }
      if (options.signal) {
        waiter.onAbort = () => this.settleWaiter(waiter, false);
        options.signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  private settleWaiter(waiter: Waiter, ready: boolean): void {
    const index = this.waiters.indexOf(waiter);
    if (index >= 0) this.waiters.splice(index, 1);
    if (waiter.timer) clearTimeout(waiter.timer);
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
    waiter.resolve(ready);
  }

  private wakeWaiters(): void {
    if (this.waiters.length === 0) return;
    for (const waiter of [...this.waiters]) {
      if (waiter.offset < this.highWatermark) this.settleWaiter(waiter, true);
    }
  }

  /** Deletes whole old segments past the time or size limit, and rolls an idle active segment that is too old. */
  enforceRetention(now = Date.now()): number {
    if (this.closed) return 0;
    const { retentionMs, retentionBytes, segmentMs } = this.config;
    if (this.active.size > 0 && now - this.active.createdAt >= segmentMs && this.nextOffset === this.highWatermark) {
      this.roll();
    }
    let total = 0;
    for (const segment of this.segments) total += segment.size;
    let deleted = 0;
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      const newest = oldest.maxTimestamp >= 0 ? oldest.maxTimestamp : oldest.createdAt;
      const expired = retentionMs >= 0 && now - newest > retentionMs;
      const oversize = retentionBytes >= 0 && total - oldest.size >= retentionBytes;
      if (!expired && !oversize) break;
      this.dropOldestSegment();
      total -= oldest.size;
      deleted++;
    }
    if (deleted > 0) {
      this.logger.info(
        { topic: this.topic, partition: this.id, deleted, logStartOffset: this.logStartOffset },
        'retention deleted segments',
      );
    }
    return deleted;
  }

  /**
   * Deletes the whole segments every record of which is below `offset` (at most the high watermark; never the
   * active segment): Kafka's DeleteRecords, for records every reader has consumed. Records below `offset` in the
   * segment holding it stay readable (Kafka would hide them; deleting whole files keeps the log's start at a
   * segment's base, which is all it persists). Returns the log start offset after it.
   */
  purgeBefore(offset: number): number {
    if (this.closed) return this.logStartOffset;
    const limit = Math.min(offset, this.highWatermark);
    let deleted = 0;
    while (this.segments.length > 1 && this.segments[1]!.baseOffset <= limit) {
      this.dropOldestSegment();
      deleted++;
    }
    if (deleted > 0) {
      this.logger.info(
        { topic: this.topic, partition: this.id, deleted, logStartOffset: this.logStartOffset },
        'purged consumed segments',
      );
    }
    return this.logStartOffset;
  }

  /** Closes and deletes the oldest segment (retention and purging; never the active one: callers check). */
  private dropOldestSegment(): void {
    const oldest = this.segments.shift()!;
    oldest.close();
    oldest.remove(this.dir);
  }

  private segmentFor(offset: number): Segment {
    const segments = this.segments;
    let lo = 0;
    let hi = segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (segments[mid]!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return segments[lo]!;
  }

  private ensureReadable(offset: number): void {
    if (this.closed) throw new SluiceError('LOG_CLOSED', `partition ${this.topic}-${this.id} is closed`);
    if (!Number.isSafeInteger(offset) || offset < this.logStartOffset || offset > this.nextOffset) {
      throw new SluiceError(
        'OFFSET_OUT_OF_RANGE',
        `offset ${offset} is out of range for ${this.topic}-${this.id} (log start ${this.logStartOffset}, end ${this.highWatermark})`,
        {
          topic: this.topic,
          partition: this.id,
          offset,
          logStartOffset: this.logStartOffset,
          logEndOffset: this.highWatermark,
        },
      );
    }
  }

  private rebuildProducerState(): void {
    // Bounded: the producer state of the last two segments (Kafka keeps snapshots; idempotence windows are short).
    for (const segment of this.segments.slice(-2)) {
      segment.scan(0, segment.size, false, (header) => this.producers.record(header, header.baseOffset));
    }
  }

  /**
   * Removes every record at and after `offset`, which must start a batch (an exactly-once sink rolls back what it
   * wrote after its last checkpoint; the offsets it recorded are always batch boundaries). Waits for appends in
   * flight first. Readers that already read past `offset` will see other records there afterwards.
   */
  async truncateTo(offset: number): Promise<void> {
    this.ensureWritable();
    while (this.syncOwed) {
      await new Promise((resolve) => setImmediate(resolve));
      this.ensureWritable();
    }
    if (offset >= this.nextOffset) return;
    if (!Number.isSafeInteger(offset) || offset < this.logStartOffset) {
      throw new SluiceError(
        'OFFSET_OUT_OF_RANGE',
        `cannot truncate ${this.topic}-${this.id} to ${offset}: the log starts at ${this.logStartOffset}`,
        { topic: this.topic, partition: this.id, offset },
      );
    }
    while (this.segments.length > 1 && this.active.baseOffset >= offset) {
      const dropped = this.segments.pop()!;
      dropped.close();
      dropped.remove(this.dir);
    }
    this.active.truncateTo(this.dir, offset);
    this.nextOffset = offset;
    this.highWatermark = offset;
    this.syncedOffset = offset; // the cut segment was fsynced, and every older one when it rolled
    this.producers.clear();
    this.rebuildProducerState();
    this.logger.info({ topic: this.topic, partition: this.id, offset }, 'truncated the log');
  }

  /** Waits for in-flight acknowledgements, syncs, persists indexes and marks the shutdown clean. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.syncOwed) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.failure) break;
    }
    this.closed = true;
    clearTimeout(this.deferredTimer);
    for (const waiter of [...this.waiters]) this.settleWaiter(waiter, false);
    if (!this.failure) {
      fs.fdatasyncSync(this.active.fd);
      this.active.writeIndexes(this.dir);
      fs.writeFileSync(path.join(this.dir, CLEAN_SHUTDOWN), '');
    }
    for (const segment of this.segments) segment.close();
  }

  /** Closes without the clean-shutdown marker, for deletion. */
  closeForDelete(): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) this.settleWaiter(waiter, false);
    this.rejectWaiting(new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${this.topic} was deleted`));
    for (const segment of this.segments) segment.close();
  }
}

const FOUND = Symbol('found');
