// Writes a stream to a topic of the embedded log: one append per partition per batch (acknowledged once durable),
// partitioned by key with Kafka's murmur2 partitioner so that Kafka consumers see the usual key→partition mapping.
//
// Exactly-once (the default when checkpoints are on): each checkpoint records the topic's end offsets at its
// barrier; recovery truncates the topic back to them before the replay writes again, so every result is in the
// topic once. Records are visible as soon as they are written (read-uncommitted): a consumer that reads past the
// last checkpoint may see records that a crash then replaces. The topic must be written by this sink only.
import { type LogRecord, partitionForKey } from '../../log/index.ts';
import type { Sink } from '../connector.ts';
import type { PipelineLog } from '../define.ts';
import type { Batch } from '../types.ts';
import type { Format } from './formats.ts';

export interface LogSinkOptions<T> {
  log: PipelineLog;
  topic: string;
  format: Format<T>;
  /** The record key (same key → same partition); without it, batches go round robin. */
  key?: (value: T) => string | Buffer | null;
  /** Create the topic when it is missing (default true, with this many partitions). */
  createPartitions?: number;
  /** With checkpoints on: 'exactly-once' (default; truncates back on recovery) or 'at-least-once'. */
  guarantee?: 'exactly-once' | 'at-least-once';
}

export function logSink<T>(options: LogSinkOptions<T>): Sink<T> {
  const { log, topic, format, key } = options;
  let roundRobin = 0;
  let partitions = 0;
  return {
    name: `log:${topic}`,
    async open() {
      if (!log.hasTopic(topic)) {
        await log
          .createTopic(topic, { partitions: options.createPartitions ?? 1 })
          .catch((error: { code?: string }) => {
            if (error.code !== 'TOPIC_ALREADY_EXISTS') throw error;
          });
      }
      partitions = log.describeTopic(topic).partitions.length;
    },
    async write(batch: Batch<T>) {
      const byPartition = new Map<number, LogRecord[]>();
      for (let i = 0; i < batch.values.length; i++) {
        const value = batch.values[i]!;
        const k = key?.(value) ?? null;
        const keyBytes = k === null ? null : Buffer.isBuffer(k) ? k : Buffer.from(k);
        const partition = keyBytes === null ? roundRobin : partitionForKey(keyBytes, partitions);
        let list = byPartition.get(partition);
        if (!list) byPartition.set(partition, (list = []));
        const ts = batch.timestamps[i]!;
        list.push({ key: keyBytes, value: format.encode(value), timestamp: Number.isFinite(ts) ? ts : undefined });
      }
      roundRobin = (roundRobin + 1) % partitions;
      await Promise.all([...byPartition].map(([partition, records]) => log.append(topic, partition, records)));
    },
    ...(options.guarantee === 'at-least-once'
      ? {}
      : {
          // Every write before the barrier has been acknowledged (the pipeline drains sinks first).
          async prepareCheckpoint() {
            return { topic, endOffsets: log.describeTopic(topic).partitions.map((p) => p.logEndOffset) };
          },
          async recover(state: unknown) {
            if (state === undefined) return;
            const { endOffsets } = state as { topic: string; endOffsets: number[] };
            const now = log.describeTopic(topic).partitions;
            for (let partition = 0; partition < now.length; partition++) {
              const end = endOffsets[partition];
              if (end === undefined || now[partition]!.logEndOffset <= end) continue;
              await log.truncate(topic, partition, Math.max(end, now[partition]!.logStartOffset));
            }
          },
        }),
  };
}
