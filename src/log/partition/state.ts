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

/** A producer's transaction open in this partition: from its first transactional batch here to its marker. */
export interface OpenTxn {
  producerId: number;
  producerEpoch: number;
  firstOffset: number;
}

export interface PendingAck {
  /** The append is durable once synced up to this offset. */
  target: number;
  result: AppendResult;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

export interface Waiter {
  offset: number;
  /** A read_committed reader: woken by the last stable offset passing `offset`, not the high watermark. */
  committed: boolean;
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
  /** Open transactions by producer id (transactions.ts): the first offset of each holds the last stable offset. */
  readonly openTxns = new Map<number, OpenTxn>();
  /** Transactions whose marker is written but not yet durable: they hold the last stable offset until it is. */
  closingTxns: OpenTxn[] = [];
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

  /** Below it every transaction has ended: the first offset of the oldest open one, else the high watermark. */
  get lastStableOffset(): number {
    let lso = this.highWatermark;
    if (this.openTxns.size === 0 && this.closingTxns.length === 0) return lso;
    for (const txn of this.openTxns.values()) if (txn.firstOffset < lso) lso = txn.firstOffset;
    for (const txn of this.closingTxns) if (txn.firstOffset < lso) lso = txn.firstOffset;
    return lso;
  }

  info(): PartitionInfo {
    let sizeBytes = 0;
    for (const segment of this.segments) sizeBytes += segment.size;
    return {
      partition: this.id,
      logStartOffset: this.logStartOffset,
      logEndOffset: this.highWatermark,
      lastStableOffset: this.lastStableOffset,
      sizeBytes,
      segments: this.segments.length,
    };
  }

  ensureWritable(): void {
    if (this.closed) throw new SluiceError('LOG_CLOSED', `partition ${this.topic}-${this.id} is closed`);
    if (this.failure) throw this.failure;
  }
}
