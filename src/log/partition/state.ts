// One partition's state: its segments (the last one active), the offsets that order its records (log end, high
// watermark, synced), and who waits on them. The functions beside this file operate on it; nothing else does.
//
// Under the `batch` policy readers see only fsynced records. An append made with `durable: false` does not wait
// for its fsync: it is acknowledged once written, and becomes durable and visible with the next fsync — a durable
// append's, a flush(), or the one a timer starts `deferredMs` after it. For a writer that rebuilds what a machine
// crash takes from its own checkpoints (an engine sink, whose checkpoint flushes): many of its appends share one
// fsync, and it never waits for one.
import { SluiceError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { ProducerStateTable } from '../producer-state.ts';
import type { Segment } from '../segment.ts';
import type { AppendResult, FsyncPolicy, PartitionInfo, TopicConfig } from '../types.ts';

export interface PendingAck {
  /** The append is durable once synced up to this offset. */
  target: number;
  result: AppendResult;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

export interface Waiter {
  offset: number;
  resolve: (ready: boolean) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * The fields are public only to this folder's files (open, append, sync, read, wait, trim), which each own a part
 * of the partition's behaviour; every field is set in the constructor, so all partitions share one shape.
 */
export class Partition {
  readonly topic: string;
  readonly id: number;
  readonly dir: string;
  config: TopicConfig;
  readonly fsync: FsyncPolicy;
  readonly logger: Logger;
  readonly segments: Segment[] = [];
  readonly producers = new ProducerStateTable();
  /** The offset the next record gets (log end offset). */
  nextOffset = 0;
  /** Records below this offset are visible to readers (under the `batch` policy: fsynced). */
  highWatermark = 0;
  /** Records below this offset are fsynced. */
  syncedOffset = 0;
  pending: PendingAck[] = [];
  /** flush() calls waiting for the fsync that covers their offset. */
  flushes: { target: number; resolve: () => void; reject: (error: Error) => void }[] = [];
  /** The timer that syncs appends made with `durable: false`, and whether it has fired since the last fsync. */
  deferredTimer: NodeJS.Timeout | undefined;
  deferredDue = false;
  syncing = false;
  waiters: Waiter[] = [];
  failure: Error | undefined;
  closed = false;

  constructor(topic: string, id: number, dir: string, config: TopicConfig, fsync: FsyncPolicy, logger: Logger) {
    this.topic = topic;
    this.id = id;
    this.dir = dir;
    this.config = config;
    this.fsync = fsync;
    this.logger = logger;
  }

  get active(): Segment {
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

  ensureWritable(): void {
    if (this.closed) throw new SluiceError('LOG_CLOSED', `partition ${this.topic}-${this.id} is closed`);
    if (this.failure) throw this.failure;
  }
}
