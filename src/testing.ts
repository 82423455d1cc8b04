// `sluice/testing`: what a pipeline's own tests use. OperatorHarness drives one operator (records, watermarks,
// processing time in, outputs and state out); openTestLog and runBounded run a whole pipeline file over a real
// embedded log in a temporary directory, as `sluice run --bounded` would, with no broker and no ports.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  json,
  type Pipeline,
  type PipelineDefinition,
  type PipelineEnvironment,
  type PipelineLog,
} from './engine/index.ts';
import { type Log, type LogRecord, openLog, partitionForKey } from './log/index.ts';

export type { Emitted } from './engine/harness.ts';
export { type CollectSink, collect, countingSink, fromArrays, OperatorHarness } from './engine/index.ts';
export type { Batch, Operator, OperatorContext } from './engine/types.ts';

export interface ProduceOptions<T> {
  /** The record key (Kafka's partitioner places it, as any Kafka client would); round robin without one. */
  key?: (value: T) => string;
  /** The record timestamp (default: now). */
  timestamp?: (value: T) => number;
  /** Partitions of the topic when it does not exist yet (default 1). */
  partitions?: number;
}

/** An embedded log in a fresh temporary directory, removed again by close(). */
export interface TestLog {
  /** The log itself: pass it to a pipeline as its `log` (runBounded does). */
  readonly log: Log;
  readonly dataDir: string;
  /** Appends `values` as JSON records to `topic`, creating it if needed; resolves once they are readable. */
  produce<T>(topic: string, values: readonly T[], options?: ProduceOptions<T>): Promise<void>;
  /** Every record of `topic` decoded as JSON: partition 0 first, each in offset order. */
  read<T = unknown>(topic: string): Promise<T[]>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function openTestLog(): Promise<TestLog> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-test-'));
  // A test log outlives no crash: skipping fsync keeps tests fast and changes nothing they can observe.
  const log = await openLog({ dataDir, fsync: { mode: 'none' } });
  const format = json<unknown>();
  let next = 0;
  const close = async () => {
    await log.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  };
  return {
    log,
    dataDir,
    async produce<T>(topic: string, values: readonly T[], options: ProduceOptions<T> = {}) {
      if (!log.hasTopic(topic)) await log.createTopic(topic, { partitions: options.partitions ?? 1 });
      const partitions = log.describeTopic(topic).partitions.length;
      const byPartition = new Map<number, LogRecord[]>();
      for (const value of values) {
        const key = options.key ? Buffer.from(options.key(value)) : null;
        const partition = key ? partitionForKey(key, partitions) : next++ % partitions;
        const record: LogRecord = { key, value: format.encode(value), timestamp: options.timestamp?.(value) };
        byPartition.set(partition, [...(byPartition.get(partition) ?? []), record]);
      }
      for (const [partition, records] of byPartition) await log.append(topic, partition, records);
    },
    async read<T>(topic: string) {
      const out: T[] = [];
      for (const { partition, logStartOffset, logEndOffset } of log.describeTopic(topic).partitions) {
        let offset = logStartOffset;
        while (offset < logEndOffset) {
          const page = log.readRecords(topic, partition, offset, { maxBytes: 1 << 20 });
          for (const record of page.records) if (record.value) out.push(format.decode(record.value) as T);
          offset = page.nextOffset;
        }
      }
      return out;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Builds the pipeline of a pipeline file's default export (`definePipeline(...)`) in bounded mode and runs it over
 * what the log holds now, as `sluice run --bounded` does: resolves with the finished pipeline (its metrics and
 * dead letters), or rejects with the error that failed it.
 */
export async function runBounded(
  define: PipelineDefinition,
  env: { log: PipelineLog | TestLog; dataDir?: string; serving?: PipelineEnvironment['serving'] },
): Promise<Pipeline> {
  const testLog = 'produce' in env.log ? env.log : undefined;
  const log = testLog ? testLog.log : (env.log as PipelineLog);
  const dataDir = env.dataDir ?? testLog?.dataDir ?? os.tmpdir();
  const pipeline = await define({ log, bounded: true, dataDir, serving: env.serving });
  await pipeline.run();
  return pipeline;
}
