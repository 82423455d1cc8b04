// Any Kafka-protocol cluster as a PipelineLog, through @platformatic/kafka: an idempotent producer for appends,
// consumers without a group for reads and long polls, an admin client for topics. The interface's synchronous
// calls (hasTopic, describeTopic) are served from a metadata cache loaded at connect, reloaded by refresh(), and
// kept current by produce acknowledgements and fetched high watermarks.
import { Admin, Consumer, FetchIsolationLevels, ProduceAcks, Producer } from '@platformatic/kafka';
import type { PipelineLog } from '../../engine/index.ts';
import { SluiceError } from '../../errors.ts';
import {
  type AppendResult,
  DEFAULT_TOPIC_CONFIG,
  type LogRecord,
  type RecordReadResult,
  type TopicConfig,
  type TopicInfo,
  type TopicSpec,
  validatePartitionCount,
  validateTopicName,
  type WaitOptions,
} from '../../log/index.ts';
import { fromClientError } from './errors.ts';
import { Fetcher, type FetchTarget } from './fetcher.ts';
import { toMessages } from './records.ts';

export interface KafkaLogOptions {
  /** `host:port` of any broker of the cluster. */
  bootstrap: string;
  /** Names this process's connections in the brokers' logs and quotas (default `sluice`). */
  clientId?: string;
}

interface CachedTopic {
  info: TopicInfo;
  target: FetchTarget[];
}

/** Brokers without topic ids (before Kafka 2.8, and Sluice's) answer with the nil UUID. */
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** Connects to the cluster and loads every topic's metadata. */
export async function connectKafkaLog(options: KafkaLogOptions): Promise<KafkaClusterLog> {
  const log = new KafkaClusterLog(options);
  try {
    await log.connect();
  } catch (error) {
    await log.close();
    throw error;
  }
  return log;
}

export class KafkaClusterLog implements PipelineLog {
  /** Kafka keeps a partition's records until retention removes them: nothing can roll a partition's end back. */
  readonly supportsTruncate = false;
  readonly bootstrap: string;
  private readonly topics = new Map<string, CachedTopic>();
  private readonly admin: Admin;
  private readonly producer: Producer;
  private readonly reader: Consumer;
  private readonly poller: Consumer;
  private readonly fetcher: Fetcher;
  /** The last append per partition: appends to one partition go out one after the other, in call order. */
  private readonly appending = new Map<string, Promise<unknown>>();
  private closed = false;

  /** Unconnected: call connect() before use (connectKafkaLog does both). */
  constructor(options: KafkaLogOptions) {
    this.bootstrap = options.bootstrap;
    const clientId = options.clientId ?? 'sluice';
    const base = { clientId, bootstrapBrokers: [options.bootstrap], connectTimeout: 5_000, retries: 3 };
    this.admin = new Admin(base);
    this.producer = new Producer({ ...base, idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false });
    // Two consumers, two sets of connections: a long poll occupies its connection until data comes or it times
    // out, and reads must not queue behind it. Neither joins a group (fetch() only): offsets live in checkpoints.
    const consumer = {
      ...base,
      groupId: `${clientId}-fetch`,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    };
    this.reader = new Consumer(consumer);
    this.poller = new Consumer(consumer);
    this.fetcher = new Fetcher({
      reader: this.reader,
      poller: this.poller,
      target: (topic, partition) => this.target(topic, partition),
      observed: (topic, partition, page) => this.observe(topic, partition, page.logStartOffset, page.highWatermark),
      fail: (error, what) => fromClientError(error, this.bootstrap, what),
    });
  }

  async connect(): Promise<void> {
    await this.refresh();
  }

  /**
   * Reloads the metadata cache from the cluster: one topic (forgotten if the cluster no longer has it), or every
   * topic when none is named.
   */
  async refresh(topic?: string): Promise<void> {
    const names = await this.call('list topics', async () => (topic === undefined ? this.admin.listTopics() : [topic]));
    if (topic === undefined) {
      for (const name of this.topics.keys()) if (!names.includes(name)) this.topics.delete(name);
    }
    if (names.length === 0) return;
    try {
      await this.load(names);
    } catch (error) {
      if ((error as SluiceError).code !== 'UNKNOWN_TOPIC_OR_PARTITION' || topic === undefined) throw error;
      this.topics.delete(topic);
    }
  }

  private async load(names: string[]): Promise<void> {
    const what = `describe ${names.length === 1 ? names[0] : `${names.length} topics`}`;
    const [metadata, starts, ends] = await this.call(what, async () => {
      const metadata = await this.reader.metadata({ topics: names, forceUpdate: true });
      const [starts, ends] = await Promise.all([
        this.reader.listOffsets({ topics: names, timestamp: -2n }),
        this.reader.listOffsets({ topics: names, timestamp: -1n }),
      ]);
      return [metadata, starts, ends] as const;
    });
    for (const name of names) {
      const meta = metadata.topics.get(name);
      if (!meta) continue;
      const hasId = meta.id !== undefined && meta.id !== NIL_UUID;
      // With topic ids the client must know the topic to translate between ids and names for any Fetch version.
      if (hasId) {
        this.reader.topics.track(name);
        this.poller.topics.track(name);
      }
      const partitions = meta.partitions.map((_, partition) => ({
        partition,
        logStartOffset: Number(starts.get(name)?.[partition] ?? 0n),
        logEndOffset: Number(ends.get(name)?.[partition] ?? 0n),
        // ListOffsets for the latest offset answers the high watermark here (read_uncommitted): not the LSO.
        lastStableOffset: Number(ends.get(name)?.[partition] ?? 0n),
        sizeBytes: 0,
        segments: 0,
      }));
      this.topics.set(name, {
        info: { name, id: hasId ? meta.id.replaceAll('-', '') : '', config: defaultConfig(), partitions },
        target: meta.partitions.map((p) => ({ topicId: hasId ? meta.id : name, node: p.leader })),
      });
    }
  }

  hasTopic(name: string): boolean {
    return this.topics.has(name);
  }

  /** Every topic in the cache (for the HTTP API's topic list). */
  listTopics(): TopicInfo[] {
    return [...this.topics.keys()].sort().map((name) => this.describeTopic(name));
  }

  describeTopic(name: string): TopicInfo {
    const { info } = this.cached(name);
    return { ...info, config: { ...info.config }, partitions: info.partitions.map((p) => ({ ...p })) };
  }

  async createTopic(name: string, spec: TopicSpec): Promise<TopicInfo> {
    validateTopicName(name);
    validatePartitionCount(name, spec.partitions);
    await this.call(`create topic ${name}`, () =>
      this.admin.createTopics({
        topics: [name],
        partitions: spec.partitions,
        replicas: -1, // the cluster's default replication factor
        configs: topicConfigs(spec.config ?? {}),
      }),
    );
    await this.refresh(name);
    return this.describeTopic(name);
  }

  append(topic: string, partition: number, records: readonly LogRecord[]): Promise<AppendResult> {
    try {
      this.partitionInfo(topic, partition);
    } catch (error) {
      return Promise.reject(error);
    }
    if (records.length === 0) {
      const error = new SluiceError('INVALID_RECORD', `append to ${topic}-${partition}: no records given`, {
        topic,
        partition,
      });
      return Promise.reject(error);
    }
    const key = `${topic}\u0000${partition}`;
    const previous = this.appending.get(key);
    const send = () => this.produce(topic, partition, records);
    // An idempotent producer keeps one partition's batches in order only while none needs a retry: one at a
    // time per partition keeps them in order always (a sink writes each partition once per batch anyway).
    const result = previous === undefined ? send() : previous.then(send, send);
    this.appending.set(key, result);
    const forget = () => {
      if (this.appending.get(key) === result) this.appending.delete(key);
    };
    result.then(forget, forget);
    return result;
  }

  private async produce(topic: string, partition: number, records: readonly LogRecord[]): Promise<AppendResult> {
    const what = `append to ${topic}-${partition}`;
    const result = await this.call(what, () => this.producer.send({ messages: toMessages(topic, partition, records) }));
    const base = result.offsets?.find((o) => o.topic === topic && o.partition === partition)?.offset;
    if (base === undefined) throw new SluiceError('APPEND_FAILED', `${what}: the cluster acknowledged no offset`);
    const baseOffset = Number(base);
    const lastOffset = baseOffset + records.length - 1;
    const p = this.partitionInfo(topic, partition);
    p.logEndOffset = Math.max(p.logEndOffset, lastOffset + 1);
    // Kafka reports the append time only for LogAppendTime topics; the acknowledgement time stands in for it.
    return { baseOffset, lastOffset, logAppendTime: Date.now(), logStartOffset: p.logStartOffset };
  }

  async readRecords(
    topic: string,
    partition: number,
    offset: number,
    options: { maxBytes?: number } = {},
  ): Promise<RecordReadResult> {
    this.partitionInfo(topic, partition);
    try {
      return await this.fetcher.read(topic, partition, offset, options.maxBytes);
    } catch (error) {
      // Out of range: retention moved the start, or the caller is past the end; it looks the bounds up next.
      if ((error as SluiceError).code === 'OFFSET_OUT_OF_RANGE') await this.refresh(topic).catch(() => {});
      throw error;
    }
  }

  /** A long poll (at most `timeoutMs`); what it fetched serves the next readRecords at `offset`. */
  async waitForData(topic: string, partition: number, offset: number, options: WaitOptions = {}): Promise<boolean> {
    const p = this.partitionInfo(topic, partition);
    if (options.signal?.aborted) return false;
    if (p.logEndOffset > offset || this.fetcher.hasPage(topic, partition, offset)) return true;
    return this.fetcher.wait(topic, partition, offset, options.timeoutMs ?? 5_000, options.signal);
  }

  async offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number | null> {
    this.partitionInfo(topic, partition);
    const offsets = await this.call(`look up ${topic}-${partition} at ${timestamp}`, () =>
      this.reader.listOffsetsWithTimestamps({
        topics: [topic],
        partitions: { [topic]: [partition] },
        timestamp: BigInt(timestamp),
      }),
    );
    const found = offsets.get(topic)?.get(partition)?.offset;
    return found === undefined || found < 0n ? null : Number(found);
  }

  async truncate(topic: string, partition: number, offset: number): Promise<void> {
    throw new SluiceError(
      'UNSUPPORTED',
      `cannot truncate ${topic}-${partition} to offset ${offset}: a Kafka cluster cannot remove records from the ` +
        'end of a partition, so a sink writing to it is at-least-once',
      { topic, partition, offset },
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fetcher.close();
    await Promise.allSettled([...this.appending.values()]);
    await Promise.allSettled([
      this.producer.close(),
      this.reader.close(true),
      this.poller.close(true),
      this.admin.close(),
    ]);
  }

  private async call<T>(what: string, work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new SluiceError('LOG_CLOSED', `${what}: the Kafka client is closed`);
    try {
      return await work();
    } catch (error) {
      throw fromClientError(error, this.bootstrap, what);
    }
  }

  private cached(name: string): CachedTopic {
    const topic = this.topics.get(name);
    if (!topic) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic ${name}`, { topic: name });
    return topic;
  }

  private partitionInfo(topic: string, partition: number) {
    const cached = this.cached(topic);
    const p = cached.info.partitions[partition];
    if (!Number.isInteger(partition) || p === undefined) {
      throw new SluiceError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `topic ${topic} has no partition ${partition} (it has ${cached.info.partitions.length})`,
        { topic, partition },
      );
    }
    return p;
  }

  private target(topic: string, partition: number): FetchTarget {
    this.partitionInfo(topic, partition);
    return this.cached(topic).target[partition]!;
  }

  /** Offsets only move forward here: an older answer arriving late must not hide a newer acknowledgement. */
  private observe(topic: string, partition: number, start: number, end: number): void {
    const p = this.topics.get(topic)?.info.partitions[partition];
    if (!p) return;
    p.logStartOffset = Math.max(p.logStartOffset, start);
    p.logEndOffset = Math.max(p.logEndOffset, end);
  }
}

function defaultConfig(): TopicConfig {
  return { ...DEFAULT_TOPIC_CONFIG };
}

/** The log's topic settings under Kafka's names. */
function topicConfigs(config: Partial<TopicConfig>): { name: string; value: string }[] {
  const names: Record<keyof TopicConfig, string> = {
    retentionMs: 'retention.ms',
    retentionBytes: 'retention.bytes',
    segmentBytes: 'segment.bytes',
    segmentMs: 'segment.ms',
    maxMessageBytes: 'max.message.bytes',
  };
  return Object.entries(config).map(([field, value]) => ({
    name: names[field as keyof TopicConfig],
    value: String(value),
  }));
}
