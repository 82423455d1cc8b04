// The log directory: topics and their partitions under <dataDir>/topics/<topic>/<partition>/, topic metadata in
// <dataDir>/topics/<topic>/topic.json, group offsets under <dataDir>/groups/. Validates every input at this edge.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../errors.ts';
import { acquireDirLockSync, fsyncDirSync, removeTempFilesSync, writeFileAtomicSync } from '../files.ts';
import { createLogger, type Logger } from '../logger.ts';
import {
  type BatchHeader,
  encodeRecordBatch,
  isLogAppendTime,
  readBatchHeader,
  recordsMaxTimestamp,
  setMaxTimestamp,
  verifyBatch,
} from './batch/record-batch.ts';
import { FileGroupOffsetStore } from './group-offsets.ts';
import {
  appendBatches,
  closePartition,
  closePartitionForDelete,
  enforceRetention,
  flushPartition,
  offsetForTimestamp,
  openPartition,
  type Partition,
  purgeBefore,
  readRaw,
  readRecords,
  roll,
  syncNow,
  truncateTo,
  waitForData,
  writeMarker,
} from './partition/index.ts';
import {
  ALTERABLE_TOPIC_SETTINGS,
  DEFAULT_TOPIC_CONFIG,
  resolveTopicConfig,
  validatePartitionCount,
  validateTopicName,
} from './topic-config.ts';
import { FileTransactionCoordinator, MAX_TRANSACTION_TIMEOUT_MS } from './transactions/coordinator.ts';
import { LogTransactionalWriter } from './transactions/writer.ts';
import type {
  AppendOptions,
  AppendResult,
  CompressionType,
  FsyncPolicy,
  Log,
  LogOptions,
  LogRecord,
  PreparedTransaction,
  RawReadResult,
  ReadOptions,
  RecordReadResult,
  TopicConfig,
  TopicConfigChanges,
  TopicConfigView,
  TopicInfo,
  TopicSpec,
  TransactionalWriter,
  WaitOptions,
} from './types.ts';

interface TopicMeta {
  name: string;
  id: string;
  partitions: number;
  config: TopicConfig;
  /**
   * The settings set for this topic rather than taken from the defaults. Absent in files written before it was
   * recorded: then the settings that differ from the log's defaults count as set.
   */
  overrides?: (keyof TopicConfig)[];
}

interface TopicState {
  meta: TopicMeta;
  partitions: Partition[];
}

const META_FILE = 'topic.json';

export class FileLog implements Log {
  readonly dataDir: string;
  readonly groups: FileGroupOffsetStore;
  readonly transactions: FileTransactionCoordinator;
  private readonly topicsDir: string;
  private readonly trashDir: string;
  private readonly topics = new Map<string, TopicState>();
  private readonly fsync: FsyncPolicy;
  readonly topicDefaults: TopicConfig;
  private readonly logger: Logger;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly releaseLock: () => void;

  constructor(options: LogOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.topicsDir = path.join(this.dataDir, 'topics');
    this.trashDir = path.join(this.dataDir, 'trash');
    this.fsync = options.fsync ?? { mode: 'batch' };
    this.topicDefaults = resolveTopicConfig('(defaults)', DEFAULT_TOPIC_CONFIG, options.topicDefaults);
    this.logger = createLogger('log', { dataDir: this.dataDir });
    fs.mkdirSync(this.topicsDir, { recursive: true });
    this.releaseLock = acquireDirLockSync(this.dataDir);
    fs.rmSync(this.trashDir, { recursive: true, force: true });
    try {
      this.groups = new FileGroupOffsetStore(path.join(this.dataDir, 'groups'));
      this.loadTopics();
      this.transactions = new FileTransactionCoordinator(
        path.join(this.dataDir, 'transactions'),
        {
          writeMarker: (topic, partition, marker) => writeMarker(this.partitionOf(topic, partition), marker),
          groups: this.groups,
          openTransactions: () => this.openTransactions(),
          partitionExists: (topic, partition) => this.topics.get(topic)?.partitions[partition] !== undefined,
        },
        this.logger,
      );
    } catch (error) {
      this.releaseLock();
      throw error;
    }
    const retentionEvery = options.retentionCheckIntervalMs ?? 60_000;
    this.timers.push(setInterval(() => this.enforceRetention(), retentionEvery).unref());
    if (this.fsync.mode === 'interval') {
      const every = this.fsync.intervalMs;
      this.timers.push(setInterval(() => this.syncAll(), every).unref());
    }
  }

  private loadTopics(): void {
    removeTempFilesSync(this.topicsDir);
    for (const name of fs.readdirSync(this.topicsDir)) {
      const dir = path.join(this.topicsDir, name);
      const metaFile = path.join(dir, META_FILE);
      if (!fs.existsSync(metaFile)) {
        // A topic whose creation crashed before its metadata was written: nothing was ever acknowledged in it.
        fs.rmSync(dir, { recursive: true, force: true });
        continue;
      }
      removeTempFilesSync(dir);
      const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as TopicMeta;
      const partitions: Partition[] = [];
      for (let p = 0; p < meta.partitions; p++) {
        partitions.push(openPartition(meta.name, p, path.join(dir, String(p)), meta.config, this.fsync, this.logger));
      }
      this.topics.set(meta.name, { meta, partitions });
    }
  }

  async createTopic(name: string, spec: TopicSpec): Promise<TopicInfo> {
    this.ensureOpen();
    validateTopicName(name);
    validatePartitionCount(name, spec.partitions);
    if (this.topics.has(name)) {
      throw new SluiceError('TOPIC_ALREADY_EXISTS', `topic ${name} already exists`, { topic: name });
    }
    const config = resolveTopicConfig(name, this.topicDefaults, spec.config);
    const overrides = (Object.keys(spec.config ?? {}) as (keyof TopicConfig)[]).filter(
      (key) => spec.config?.[key] !== undefined,
    );
    const meta: TopicMeta = {
      name,
      id: randomBytes(16).toString('hex'),
      partitions: spec.partitions,
      config,
      overrides: overrides.sort(),
    };
    const dir = path.join(this.topicsDir, name);
    fs.mkdirSync(dir);
    const partitions: Partition[] = [];
    for (let p = 0; p < spec.partitions; p++) {
      partitions.push(openPartition(name, p, path.join(dir, String(p)), config, this.fsync, this.logger));
    }
    fsyncDirSync(dir);
    // The metadata file is written last: its presence marks the topic as created.
    writeFileAtomicSync(path.join(dir, META_FILE), JSON.stringify(meta));
    fsyncDirSync(this.topicsDir);
    this.topics.set(name, { meta, partitions });
    this.logger.info({ topic: name, partitions: spec.partitions }, 'topic created');
    return this.describeTopic(name);
  }

  async deleteTopic(name: string): Promise<void> {
    this.ensureOpen();
    const state = this.topicState(name);
    this.topics.delete(name);
    for (const partition of state.partitions) closePartitionForDelete(partition);
    // Rename first (atomic), then remove at leisure: a crash never leaves a half-deleted topic that reloads.
    fs.mkdirSync(this.trashDir, { recursive: true });
    const trashed = path.join(this.trashDir, `${name}-${state.meta.id}`);
    fs.renameSync(path.join(this.topicsDir, name), trashed);
    fsyncDirSync(this.topicsDir);
    await this.groups.forgetTopic(name);
    await fs.promises.rm(trashed, { recursive: true, force: true });
    this.logger.info({ topic: name }, 'topic deleted');
  }

  hasTopic(name: string): boolean {
    return this.topics.has(name);
  }

  listTopics(): TopicInfo[] {
    return [...this.topics.keys()].sort().map((name) => this.describeTopic(name));
  }

  describeTopic(name: string): TopicInfo {
    const state = this.topicState(name);
    return {
      name,
      id: state.meta.id,
      config: { ...state.meta.config },
      partitions: state.partitions.map((p) => p.info()),
    };
  }

  topicConfig(name: string): TopicConfigView {
    const { meta } = this.topicState(name);
    const overridden = new Set<keyof TopicConfig>(
      meta.overrides ??
        (Object.keys(meta.config) as (keyof TopicConfig)[]).filter((k) => meta.config[k] !== this.topicDefaults[k]),
    );
    return { config: { ...meta.config }, overridden };
  }

  async alterTopicConfig(
    name: string,
    changes: TopicConfigChanges,
    options: { validateOnly?: boolean } = {},
  ): Promise<TopicInfo> {
    const state = this.topicState(name);
    const view = this.topicConfig(name);
    const current = view.config;
    const overridden = new Set(view.overridden);
    const next: Partial<TopicConfig> = {};
    for (const key of Object.keys(changes) as (keyof TopicConfig)[]) {
      const value = changes[key];
      if (value === undefined) continue;
      if (!ALTERABLE_TOPIC_SETTINGS.has(key)) {
        throw new SluiceError('INVALID_CONFIG', `topic ${name}: ${key} cannot be changed after creation`, {
          topic: name,
          field: key,
        });
      }
      if (value === null) {
        next[key] = this.topicDefaults[key];
        overridden.delete(key);
      } else {
        next[key] = value;
        overridden.add(key);
      }
    }
    const config = resolveTopicConfig(name, current, next);
    if (options.validateOnly) return this.describeTopic(name);
    const meta: TopicMeta = { ...state.meta, config, overrides: [...overridden].sort() };
    // Durable before it applies: after a crash the topic has the old settings or the new ones, whole.
    writeFileAtomicSync(path.join(this.topicsDir, name, META_FILE), JSON.stringify(meta));
    state.meta = meta;
    for (const partition of state.partitions) partition.config = config;
    this.logger.info({ topic: name, config: next }, 'topic config changed');
    return this.describeTopic(name);
  }

  async createPartitions(name: string, count: number, options: { validateOnly?: boolean } = {}): Promise<TopicInfo> {
    const state = this.topicState(name);
    validatePartitionCount(name, count);
    const current = state.partitions.length;
    if (count <= current) {
      throw new SluiceError(
        'INVALID_PARTITIONS',
        count === current
          ? `topic ${name} already has ${current} partitions`
          : `topic ${name} has ${current} partitions; their number can only grow (asked for ${count})`,
        { topic: name, partitions: count },
      );
    }
    if (options.validateOnly) return this.describeTopic(name);
    const dir = path.join(this.topicsDir, name);
    const added: Partition[] = [];
    try {
      for (let p = current; p < count; p++) {
        const partitionDir = path.join(dir, String(p));
        // A directory left by a grow that crashed before its metadata was written: nothing in it was ever visible.
        fs.rmSync(partitionDir, { recursive: true, force: true });
        added.push(openPartition(name, p, partitionDir, state.meta.config, this.fsync, this.logger));
      }
      fsyncDirSync(dir);
      // The metadata file names the new partitions last: a crash before this leaves the topic as it was.
      const meta: TopicMeta = { ...state.meta, partitions: count };
      writeFileAtomicSync(path.join(dir, META_FILE), JSON.stringify(meta));
      state.meta = meta;
    } catch (error) {
      for (const partition of added) closePartitionForDelete(partition);
      throw error;
    }
    state.partitions.push(...added);
    this.logger.info({ topic: name, from: current, partitions: count }, 'partitions added');
    return this.describeTopic(name);
  }

  async append(
    topic: string,
    partition: number,
    records: readonly LogRecord[],
    options: AppendOptions & { compression?: CompressionType } = {},
  ): Promise<AppendResult> {
    const target = this.partitionOf(topic, partition);
    if (!Array.isArray(records) || records.length === 0) {
      throw new SluiceError('INVALID_RECORD', `append to ${topic}-${partition}: no records given`, {
        topic,
        partition,
      });
    }
    const batch = encodeRecordBatch(records, { compression: options.compression ?? 'none' });
    if (batch.length > target.config.maxMessageBytes) {
      throw tooLarge(topic, partition, batch.length, target.config.maxMessageBytes);
    }
    const header = readBatchHeader(batch, 0)!;
    return appendBatches(target, batch, [header], options.durable);
  }

  async appendRaw(
    topic: string,
    partition: number,
    batches: Buffer,
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    const target = this.partitionOf(topic, partition);
    const headers: BatchHeader[] = [];
    const where = `${topic}-${partition}`;
    let pos = 0;
    while (pos < batches.length) {
      const header = readBatchHeader(batches, pos);
      if (header === null) {
        throw new SluiceError('CORRUPT_MESSAGE', `${where}: record batch at byte ${pos} is truncated`, {
          topic,
          partition,
        });
      }
      if (header.size > target.config.maxMessageBytes) {
        throw tooLarge(topic, partition, header.size, target.config.maxMessageBytes);
      }
      if (!verifyBatch(batches, header)) {
        throw new SluiceError('CORRUPT_MESSAGE', `${where}: record batch at byte ${pos} fails its CRC-32C check`, {
          topic,
          partition,
        });
      }
      if (header.recordCount === 0) {
        throw new SluiceError('CORRUPT_MESSAGE', `${where}: record batch at byte ${pos} has no records`, {
          topic,
          partition,
        });
      }
      if (header.isControl) {
        throw new SluiceError('INVALID_RECORD', `${where}: a producer may not write control batches`, {
          topic,
          partition,
        });
      }
      if (header.isTransactional && (header.producerId < 0 || header.baseSequence < 0)) {
        throw new SluiceError(
          'INVALID_RECORD',
          `${where}: a transactional batch needs a producer id and sequence (an idempotent producer)`,
          { topic, partition },
        );
      }
      if (header.maxTimestamp < 0 && !isLogAppendTime(header)) {
        // A header without its max timestamp (sarama writes -1) would hide the batch from the time index, retention
        // by age and lookups by time: take it from the records, as Kafka's broker does, and fix the header and CRC.
        const max = recordsMaxTimestamp(batches, header);
        if (max >= 0) setMaxTimestamp(batches, header, max);
      }
      headers.push(header);
      pos += header.size;
    }
    if (headers.length === 0) {
      throw new SluiceError('CORRUPT_MESSAGE', `${where}: no record batch in the request`, { topic, partition });
    }
    return appendBatches(target, batches, headers, options.durable);
  }

  /**
   * Appends one batch that this process encoded itself (the log's transactional writer): the checks appendRaw makes
   * of a producer's bytes (CRC, counts) have nothing to find in it.
   */
  async appendEncoded(
    topic: string,
    partition: number,
    batch: Buffer,
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    const target = this.partitionOf(topic, partition);
    if (batch.length > target.config.maxMessageBytes) {
      throw tooLarge(topic, partition, batch.length, target.config.maxMessageBytes);
    }
    return appendBatches(target, batch, [readBatchHeader(batch, 0)!], options.durable);
  }

  async flush(topic: string): Promise<void> {
    const state = this.topicState(topic);
    await Promise.all(state.partitions.map((p) => flushPartition(p)));
  }

  readRaw(topic: string, partition: number, offset: number, options: ReadOptions = {}): RawReadResult {
    return readRaw(this.partitionOf(topic, partition), offset, options.maxBytes, options.into, options.isolation);
  }

  readRecords(topic: string, partition: number, offset: number, options: ReadOptions = {}): RecordReadResult {
    return readRecords(this.partitionOf(topic, partition), offset, options.maxBytes, options.isolation);
  }

  async openTransactionalWriter(transactionalId: string): Promise<TransactionalWriter> {
    const producer = await this.transactions.initProducer(transactionalId, MAX_TRANSACTION_TIMEOUT_MS);
    return new LogTransactionalWriter(this, producer, MAX_TRANSACTION_TIMEOUT_MS);
  }

  completePrepared(prepared: PreparedTransaction, commit: boolean): Promise<boolean> {
    return this.transactions.completePrepared(prepared, commit);
  }

  transactionalIds(prefix: string): string[] {
    return this.transactions
      .list()
      .map((t) => t.transactionalId)
      .filter((id) => id.startsWith(prefix));
  }

  private openTransactions(): { topic: string; partition: number; producerId: number; producerEpoch: number }[] {
    const out = [];
    for (const { partitions } of this.topics.values()) {
      for (const p of partitions) {
        for (const txn of p.openTxns.values()) {
          out.push({ topic: p.topic, partition: p.id, producerId: txn.producerId, producerEpoch: txn.producerEpoch });
        }
      }
    }
    return out;
  }

  offsetForTimestamp(topic: string, partition: number, timestamp: number): number | null {
    return offsetForTimestamp(this.partitionOf(topic, partition), timestamp);
  }

  waitForData(topic: string, partition: number, offset: number, options?: WaitOptions): Promise<boolean> {
    return waitForData(this.partitionOf(topic, partition), offset, options);
  }

  /** Applies retention to every partition now (also runs on a timer). */
  enforceRetention(now = Date.now()): void {
    for (const { partitions } of this.topics.values()) {
      for (const partition of partitions) {
        try {
          enforceRetention(partition, now);
        } catch (error) {
          this.logger.error({ err: error, topic: partition.topic, partition: partition.id }, 'retention failed');
        }
      }
    }
  }

  truncate(topic: string, partition: number, offset: number): Promise<void> {
    return truncateTo(this.partitionOf(topic, partition), offset);
  }

  purgeBefore(topic: string, partition: number, offset: number): number {
    this.ensureOpen();
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new SluiceError('INVALID_REQUEST', `purge offset must be a non-negative integer, got ${offset}`);
    }
    return purgeBefore(this.partitionOf(topic, partition), offset);
  }

  /** Forces a segment roll (tests and tools). */
  roll(topic: string, partition: number): void {
    roll(this.partitionOf(topic, partition));
  }

  private syncAll(): void {
    for (const { partitions } of this.topics.values()) {
      for (const partition of partitions) syncNow(partition);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.transactions.close();
    for (const { partitions } of this.topics.values()) {
      for (const partition of partitions) await closePartition(partition);
    }
    this.topics.clear();
    this.releaseLock();
  }

  private topicState(name: string): TopicState {
    this.ensureOpen();
    const state = this.topics.get(name);
    if (!state) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic ${name}`, { topic: name });
    return state;
  }

  private partitionOf(topic: string, partition: number): Partition {
    const state = this.topicState(topic);
    const target = state.partitions[partition];
    if (!Number.isInteger(partition) || target === undefined) {
      throw new SluiceError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `topic ${topic} has no partition ${partition} (it has ${state.partitions.length})`,
        { topic, partition },
      );
    }
    return target;
  }

  private ensureOpen(): void {
    if (this.closed) throw new SluiceError('LOG_CLOSED', 'the log is closed');
  }
}

function tooLarge(topic: string, partition: number, size: number, max: number): SluiceError {
  return new SluiceError(
    'RECORD_TOO_LARGE',
    `${topic}-${partition}: record batch of ${size} bytes exceeds max.message.bytes ${max}`,
    { topic, partition, size, max },
  );
}
