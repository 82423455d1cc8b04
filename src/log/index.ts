// The durable log's public surface: open a data directory, manage topics, append and read records and raw
// Kafka record batches, wait for new data, and store consumer-group offsets. Everything else in src/log is private.

import { FileLog } from './log.ts';
import type { Log, LogOptions } from './types.ts';

export type * from './types.ts';

/** Opens (creating if needed) the log in `options.dataDir`, recovering any partition whose last shutdown was not clean. */
export async function openLog(options: LogOptions): Promise<Log> {
  const log = new FileLog(options);
  try {
    // Transactions a crash left committing or aborting are completed before anything reads or writes.
    await log.transactions.recover();
  } catch (error) {
    await log.close().catch(() => {});
    throw error;
  }
  return log;
}

export { isAbortedBatch, type MarkerType, markerTypeOf } from './batch/control.ts';
export { decodePage } from './batch/page.ts';
export {
  type BatchHeader,
  decodeBatchRecords,
  decodeRecordBatches,
  type EncodeOptions,
  encodeRecordBatch,
  forEachRecord,
  forEachRecordIn,
  type RecordView,
  readBatchHeader,
  readBatchHeaders,
  verifyBatch,
} from './batch/record-batch.ts';
export { murmur2, partitionForKey } from './partitioner.ts';
export {
  ALTERABLE_TOPIC_SETTINGS,
  DEFAULT_TOPIC_CONFIG,
  validatePartitionCount,
  validateTopicName,
} from './topic-config.ts';
export { MAX_TRANSACTION_TIMEOUT_MS } from './transactions/coordinator.ts';
