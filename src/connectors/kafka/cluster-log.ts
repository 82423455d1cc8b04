// Any Kafka-protocol cluster as a PipelineLog: through @platformatic/kafka an idempotent producer for appends, an
// admin client for topics and a consumer (no group) for metadata and offsets; reads and long polls are Fetch requests
// of its own (fetcher.ts) whose record batches stay undecoded (readRaw, as the embedded log's); and — where the
// cluster has them (Kafka 3.0+: ListTransactions) — transactional writers, one producer per transaction
// (transactions.ts), with which exactly-once sinks write each checkpoint epoch as a transaction. The interface's synchronous calls (hasTopic,
// describeTopic) are served from a metadata cache loaded at connect, reloaded by refresh(), and kept current by
// produce acknowledgements and fetched high watermarks and last stable offsets. Reads and waits honour their
// isolation level (read_committed: up to the last stable offset, without aborted transactions).
import { Admin, Consumer, FetchIsolationLevels, ProduceAcks, Producer } from '@platformatic/kafka';
import type { PipelineLog, PreparedTransaction, TransactionalWriter } from '../../contracts/index.ts';
import { SluiceError } from '../../errors.ts';
import {
  type AppendResult,
  type CompressionType,
  DEFAULT_TOPIC_CONFIG,
  type LogRecord,
  type RawReadResult,
  type ReadOptions,
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
import { InOrderAcrossPartitions, type PartitionRecords } from './in-order.ts';
import { acknowledgedOffsets, decodePage, toMessages } from './records.ts';
import {
  type ClusterTransactionalWriter,
  completePrepared,
  openWriter,
  TRANSACTION_TIMEOUT_MS,
  type TransactionHost,
  transactionApis,
  writersWithOpenTransactions,
} from './transactions.ts';

export interface KafkaLogOptions {
  /** `host:port` of any broker of the cluster. */
  bootstrap: string;
  /** Names this process's connections in the brokers' logs and quotas (default `sluice`). */
  clientId?: string;
  /**
   * Offer Kafka transactions where the cluster has them (default true): exactly-once sinks then write a transaction
   * per checkpoint epoch. False: they deduplicate on replay instead (readers see output at once, and may see
   * output a crash takes back).
   */
  transactions?: boolean;
  /**
   * The timeout of each transaction (default 900000 ms, Kafka's default transaction.max.timeout.ms, the most a
   * default broker allows): a pipeline down for longer loses the epoch a crash left prepared.
   */
  transactionTimeoutMs?: number;
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
  /** Sinks keep several appends in flight (see PipelineLog): each one waits for the brokers' acks=all. */
  readonly pipelinesAppends = true;
  readonly bootstrap: string;
  private readonly topics = new Map<string, CachedTopic>();
  private readonly admin: Admin;
  private readonly producer: Producer;
  /** Metadata and offsets (its fetch() is not used: fetcher.ts reads). */
  private readonly reader: Consumer;
  private readonly fetcher: Fetcher;
  /** Where each broker listens, by node id (from the metadata). */
  private readonly brokers = new Map<number, { host: string; port: number }>();
  /** The Fetch version the fetcher sends: the newest the cluster and the codec (4–12) both have. */
  private fetchVersion = 12;
  /**
   * The producer's appends, one request at a time with every partition's waiting ones (in-order.ts): its connection
   * carries one request at a time anyway (an idempotent producer), so the tasks of a member writing checkpoints and
   * leases share round trips instead of queueing one per partition.
   */
  private readonly appending = new InOrderAcrossPartitions<CompressionType | undefined>((batches, compression) =>
    this.produce(batches, compression),
  );
  private closed = false;
  private readonly options: KafkaLogOptions;
  private readonly client: TransactionHost['client'];
  /** The open transactional writer of each id. */
  private readonly writers = new Map<string, ClusterTransactionalWriter>();

  /**
   * Kafka transactions, once connect() found the cluster has them (and they were not turned off): see
   * transactions.ts, and PipelineLog for what each does.
   */
  openTransactionalWriter?: (transactionalId: string) => Promise<TransactionalWriter>;
  completePrepared?: (prepared: PreparedTransaction, commit: boolean) => Promise<boolean>;
  transactionalIds?: (prefix: string) => Promise<string[]>;

  /** Unconnected: call connect() before use (connectKafkaLog does both). */
  constructor(options: KafkaLogOptions) {
    this.bootstrap = options.bootstrap;
    this.options = options;
    const clientId = options.clientId ?? 'sluice';
    const base = { clientId, bootstrapBrokers: [options.bootstrap], connectTimeout: 5_000, retries: 3 };
    this.client = base;
    this.admin = new Admin(base);
    this.producer = new Producer({ ...base, idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false });
    // Joins no group: offsets live in checkpoints.
    this.reader = new Consumer({
      ...base,
      groupId: `${clientId}-fetch`,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    });
    this.fetcher = new Fetcher({
      clientId,
      version: () => this.fetchVersion,
      address: (node) => this.address(node),
      target: (topic, partition) => this.target(topic, partition),
      observed: (topic, partition, page) => this.observe(topic, partition, page),
      stale: (topic) => this.refresh(topic),
    });
  }

  async connect(): Promise<void> {
    const apis = await this.call('list the API versions', () => this.admin.listApis());
    const fetch = apis.find((a) => a.apiKey === 1);
    if (fetch === undefined || fetch.maxVersion < 4) {
      throw new SluiceError(
        'UNSUPPORTED_VERSION',
        `the cluster at ${this.bootstrap} does not serve Fetch v4 or later (Kafka 0.11+, record batches v2)`,
        { bootstrap: this.bootstrap },
      );
    }
    this.fetchVersion = Math.min(12, fetch.maxVersion);
    await this.refresh();
    if (this.options.transactions !== false && this.openTransactionalWriter === undefined) this.offerTransactions(apis);
  }

  /** Adds the transaction methods when the cluster has every API they use. */
  private offerTransactions(offered: Parameters<typeof transactionApis>[0]): void {
    const apis = transactionApis(offered);
    if (apis === undefined) return;
    const host: TransactionHost = {
      admin: this.admin,
      apis,
      client: this.client,
      timeoutMs: this.options.transactionTimeoutMs ?? TRANSACTION_TIMEOUT_MS,
      call: (what, work) => this.call(what, work),
      check: (topic, partition) => void this.partitionInfo(topic, partition),
      acknowledged: (topic, partition, offsets) => this.acknowledge(topic, partition, offsets),
      closed: () => this.closed,
    };
    this.openTransactionalWriter = async (transactionalId) => {
      // Fences this process's earlier writer of the id, if any; openWriter aborts what earlier runs left open.
      await this.writers.get(transactionalId)?.fence();
      const writer = await openWriter(host, transactionalId);
      this.writers.set(transactionalId, writer);
      return writer;
    };
    this.completePrepared = (prepared, commit) => completePrepared(host, prepared, commit);
    this.transactionalIds = (prefix) => writersWithOpenTransactions(host, prefix);
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
    const [metadata, starts, ends, stable] = await this.call(what, async () => {
      const metadata = await this.reader.metadata({ topics: names, forceUpdate: true });
      const uncommitted = FetchIsolationLevels.READ_UNCOMMITTED;
      const [starts, ends, stable] = await Promise.all([
        this.reader.listOffsets({ topics: names, timestamp: -2n, isolationLevel: uncommitted }),
        this.reader.listOffsets({ topics: names, timestamp: -1n, isolationLevel: uncommitted }),
        // The latest offset a read_committed reader sees: the last stable offset.
        this.reader.listOffsets({ topics: names, timestamp: -1n, isolationLevel: FetchIsolationLevels.READ_COMMITTED }),
      ]);
      return [metadata, starts, ends, stable] as const;
    });
    for (const [node, broker] of metadata.brokers) this.brokers.set(node, { host: broker.host, port: broker.port });
    for (const name of names) {
      const meta = metadata.topics.get(name);
      if (!meta) continue;
      const hasId = meta.id !== undefined && meta.id !== NIL_UUID;
      const partitions = meta.partitions.map((_, partition) => ({
        partition,
        logStartOffset: Number(starts.get(name)?.[partition] ?? 0n),
        logEndOffset: Number(ends.get(name)?.[partition] ?? 0n),
        lastStableOffset: Number(stable.get(name)?.[partition] ?? ends.get(name)?.[partition] ?? 0n),
        sizeBytes: 0,
        segments: 0,
      }));
      this.topics.set(name, {
        info: { name, id: hasId ? meta.id.replaceAll('-', '') : '', config: defaultConfig(), partitions },
        target: meta.partitions.map((p) => ({ node: p.leader })),
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

  append(
    topic: string,
    partition: number,
    records: readonly LogRecord[],
    options: { compression?: CompressionType } = {},
  ): Promise<AppendResult> {
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
    return this.appending.run(topic, partition, records, options.compression);
  }

  /** One produce request (per broker) for the waiting appends of several partitions. */
  private async produce(
    batches: readonly PartitionRecords[],
    compression: CompressionType | undefined,
  ): Promise<AppendResult[]> {
    const what =
      batches.length === 1
        ? `append to ${batches[0]!.topic}-${batches[0]!.partition}`
        : `append to ${batches.length} partitions`;
    const messages = batches.flatMap((b) => toMessages(b.topic, b.partition, b.records));
    const result = await this.call(what, () => this.producer.send({ messages, compression }));
    return batches.map(({ topic, partition, records }) =>
      this.acknowledge(topic, partition, acknowledgedOffsets(result, topic, partition, records.length, what)),
    );
  }

  /** An append acknowledged: the cached end moves past it. */
  private acknowledge(
    topic: string,
    partition: number,
    { baseOffset, lastOffset }: { baseOffset: number; lastOffset: number },
  ): AppendResult {
    const p = this.partitionInfo(topic, partition);
    p.logEndOffset = Math.max(p.logEndOffset, lastOffset + 1);
    // Kafka reports the append time only for LogAppendTime topics; the acknowledgement time stands in for it.
    return { baseOffset, lastOffset, logAppendTime: Date.now(), logStartOffset: p.logStartOffset };
  }

  /** Read committed: up to the last stable offset, without the records of aborted transactions. */
  async readRecords(
    topic: string,
    partition: number,
    offset: number,
    options: Pick<ReadOptions, 'maxBytes' | 'isolation'> = {},
  ): Promise<RecordReadResult> {
    return decodePage(offset, await this.readRaw(topic, partition, offset, options));
  }

  /**
   * Whole record batches from `offset`, undecoded, as the cluster sent them (a batch may start before `offset`):
   * read committed, up to the last stable offset, with the aborted transactions among them (`isAbortedBatch`).
   */
  async readRaw(
    topic: string,
    partition: number,
    offset: number,
    options: Pick<ReadOptions, 'maxBytes' | 'isolation' | 'lend'> = {},
  ): Promise<RawReadResult> {
    this.partitionInfo(topic, partition);
    try {
      const committed = options.isolation === 'read_committed';
      return await this.fetcher.read(topic, partition, offset, options.maxBytes, committed, options.lend);
    } catch (error) {
      // Out of range: retention moved the start, or the caller is past the end; it looks the bounds up next.
      if ((error as SluiceError).code === 'OFFSET_OUT_OF_RANGE') await this.refresh(topic).catch(() => {});
      throw error;
    }
  }

  /** Gives back a page readRaw lent (`lend: true`) once nothing holds a view into it: a later read reuses its memory. */
  release(batches: Buffer): void {
    this.fetcher.release(batches);
  }

  /**
   * A long poll (at most `timeoutMs`) for the partition's end — read committed, its last stable offset — to pass
   * `offset`; what it fetched serves the next readRecords at `offset`.
   */
  async waitForData(topic: string, partition: number, offset: number, options: WaitOptions = {}): Promise<boolean> {
    const p = this.partitionInfo(topic, partition);
    if (options.signal?.aborted) return false;
    const committed = options.isolation === 'read_committed';
    const end = committed ? p.lastStableOffset : p.logEndOffset;
    if (end > offset || this.fetcher.hasPage(topic, partition, offset, committed)) return true;
    return this.fetcher.wait(topic, partition, offset, options.timeoutMs ?? 5_000, options.signal, committed);
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

  /**
   * DeleteRecords: the cluster moves the partition's start to `offset` (at most its high watermark) and deletes the
   * segments wholly below it in the background. Kafka refuses it (POLICY_VIOLATION) on a topic whose cleanup.policy
   * lacks `delete`.
   */
  async purgeBefore(topic: string, partition: number, offset: number): Promise<number> {
    const p = this.partitionInfo(topic, partition);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new SluiceError('INVALID_REQUEST', `purge offset must be a non-negative integer, got ${offset}`);
    }
    const deleted = await this.call(`delete the records of ${topic}-${partition} before ${offset}`, () =>
      this.admin.deleteRecords({ topics: [{ name: topic, partitions: [{ partition, offset: BigInt(offset) }] }] }),
    );
    const low = deleted.find((t) => t.name === topic)?.partitions.find((d) => d.partition === partition);
    if (low !== undefined) p.logStartOffset = Math.max(p.logStartOffset, Number(low.lowWatermark));
    return p.logStartOffset;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fetcher.close();
    await this.appending.settled();
    // Ends nothing: what a sink prepared stays open for its next run to commit.
    await Promise.allSettled([...this.writers.values()].map((writer) => writer.close()));
    await Promise.allSettled([this.producer.close(), this.reader.close(true), this.admin.close()]);
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

  private address(node: number): { host: string; port: number } {
    const broker = this.brokers.get(node);
    if (broker === undefined) {
      throw new SluiceError(
        'BROKER_UNAVAILABLE',
        `the cluster at ${this.bootstrap} named no address for node ${node}`,
        {
          bootstrap: this.bootstrap,
          node,
        },
      );
    }
    return broker;
  }

  private target(topic: string, partition: number): FetchTarget {
    this.partitionInfo(topic, partition);
    return this.cached(topic).target[partition]!;
  }

  /** Offsets only move forward here: an older answer arriving late must not hide a newer acknowledgement. */
  private observe(topic: string, partition: number, page: RawReadResult): void {
    const p = this.topics.get(topic)?.info.partitions[partition];
    if (!p) return;
    p.logStartOffset = Math.max(p.logStartOffset, page.logStartOffset);
    p.logEndOffset = Math.max(p.logEndOffset, page.highWatermark);
    p.lastStableOffset = Math.max(p.lastStableOffset, page.lastStableOffset ?? page.highWatermark);
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
