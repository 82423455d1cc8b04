// Opening and closing a partition: open recovers the active segment's torn tail unless the last close left the
// clean-shutdown marker, and rebuilds producer state; close syncs, persists the indexes and writes that marker.
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { Segment } from '../segment.ts';
import type { FsyncPolicy, TopicConfig } from '../types.ts';
import { Partition } from './state.ts';
import { rejectWaiting, syncOwed } from './sync.ts';
import { rebuildTransactions } from './transactions.ts';
import { settleWaiter } from './wait.ts';

const CLEAN_SHUTDOWN = '.clean-shutdown';

/** Opens (or creates) the partition directory, recovering its tail if the last shutdown was not clean. */
export function openPartition(
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
  rebuildProducerState(partition);
  rebuildTransactions(partition);
  if (clean) fs.rmSync(cleanMarker, { force: true });
  return partition;
}

export function rebuildProducerState(p: Partition): void {
  // Bounded: the producer state of the last two segments (Kafka keeps snapshots; idempotence windows are short).
  for (const segment of p.segments.slice(-2)) {
    segment.scan(0, segment.size, false, (header) => p.producers.record(header, header.baseOffset));
  }
}

/** Waits for in-flight acknowledgements, syncs, persists indexes and marks the shutdown clean. */
export async function closePartition(p: Partition): Promise<void> {
  if (p.closed) return;
  while (syncOwed(p)) {
    await new Promise((resolve) => setImmediate(resolve));
    if (p.failure) break;
  }
  p.closed = true;
  clearTimeout(p.deferredTimer);
  for (const waiter of [...p.waiters]) settleWaiter(p, waiter, false);
  if (!p.failure) {
    fs.fdatasyncSync(p.active.fd);
    p.active.writeIndexes(p.dir);
    fs.writeFileSync(path.join(p.dir, CLEAN_SHUTDOWN), '');
  }
  for (const segment of p.segments) segment.close();
}

/** Closes without the clean-shutdown marker, for deletion. */
export function closePartitionForDelete(p: Partition): void {
  p.closed = true;
  for (const waiter of [...p.waiters]) settleWaiter(p, waiter, false);
  rejectWaiting(p, new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${p.topic} was deleted`));
  for (const segment of p.segments) segment.close();
}
