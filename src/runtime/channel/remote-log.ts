// A worker's side of the log channel: the owner's log as a PipelineLog (serve-log.ts serves it). Topic metadata is
// kept in a local cache that every reply refreshes, so a pipeline's definition can ask synchronously; records are
// encoded and decoded here, on the worker's core. Transactional writers are the owner's; the worker's proxy one
// by a handle (their appends travel with the others of the turn).
import type { PipelineLog } from '../../engine/index.ts';
import { SluiceError } from '../../errors.ts';
import {
  type AbortedTransaction,
  type AppendOptions,
  type AppendResult,
  type CompressionType,
  decodeBatchRecords,
  decodeRecordBatches,
  encodeRecordBatch,
  type IsolationLevel,
  isAbortedBatch,
  type LogRecord,
  type PreparedTransaction,
  type RawReadResult,
  type ReadOptions,
  type RecordReadResult,
  readBatchHeader,
  type StoredRecord,
  type TopicInfo,
  type TopicSpec,
  type TransactionalWriter,
  type WaitOptions,
} from '../../log/index.ts';
import {
  type AppendArgs,
  asBuffer,
  LOG_CHANNEL,
  type LogOperations,
  MAX_APPENDS_PER_CALL,
  type RawPage,
  type TransactionEnded,
} from './log-operations.ts';
import { type Port, parentProcessPort } from './ports.ts';
import { type ArgsOf, fromWireError, type ResultOf, RpcClient } from './rpc.ts';

/** An append waiting for the end of the turn: its call's arguments and its promise's ends. */
interface QueuedAppend {
  args: AppendArgs;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

/** A page asked for: where from, how much, lent or not, and at which isolation level. */
interface PageRequest {
  topic: string;
  partition: number;
  offset: number;
  maxBytes: number;
  lend: boolean;
  isolation: IsolationLevel;
}

interface ReadAhead {
  offset: number;
  maxBytes: number;
  lend: boolean;
  /** A read_committed read never gets a page read uncommitted, nor the other way round. */
  isolation: IsolationLevel;
  /** Set once the read has arrived. */
  page: RawPage | undefined;
  pending: Promise<RawPage | undefined>;
}

export class RemoteLog implements PipelineLog {
  private readonly topics = new Map<string, TopicInfo>();
  private readonly port: Port;
  private readonly rpc: RpcClient<LogOperations>;
  /** The next page of a partition being caught up on, read ahead (by `<partition>:<topic>`). */
  private readonly ahead = new Map<string, ReadAhead>();
  /** The owner's page slots this thread has been lent, by slot number, and the slot of each slot's memory. */
  private readonly slots = new Map<number, Buffer>();
  private readonly slotOf = new Map<ArrayBufferLike, number>();
  /** Slots given back (release) that the next read tells the owner of. */
  private given: number[] = [];
  /** Appends made this turn, sent together once it ends (queueAppend). */
  private outgoing: QueuedAppend[] = [];

  constructor(port: Port = parentProcessPort()) {
    this.port = port;
    this.rpc = new RpcClient<LogOperations>(port, LOG_CHANNEL, {
      closed: "this worker is not connected to the log's owner",
      gone: "the log's owner is gone",
    });
  }

  private call<K extends keyof LogOperations & string>(
    op: K,
    ...args: ArgsOf<LogOperations, K>
  ): Promise<ResultOf<LogOperations, K>> {
    // Appends queued this turn go first: the owner sees the calls in the order they were made.
    if (this.outgoing.length > 0) this.sendAppends();
    return this.rpc.call<K>(op, ...args);
  }

  /** Loads every topic's metadata; call before building a pipeline (its definition asks synchronously). */
  async refresh(): Promise<void> {
    const topics = await this.call('topics');
    this.topics.clear();
    for (const info of topics) this.topics.set(info.name, info);
  }

  hasTopic(name: string): boolean {
    return this.topics.has(name);
  }

  describeTopic(name: string): TopicInfo {
    const info = this.topics.get(name);
    if (!info) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${name}" does not exist`, { topic: name });
    return structuredClone(info);
  }

  async createTopic(name: string, spec: TopicSpec): Promise<TopicInfo> {
    const info = await this.call('createTopic', name, spec);
    this.topics.set(name, info);
    return structuredClone(info);
  }

  async append(
    topic: string,
    partition: number,
    records: readonly LogRecord[],
    options: AppendOptions & { compression?: CompressionType } = {},
  ): Promise<AppendResult> {
    // Encoded here (the worker's core), sent as one buffer: the owner only verifies the CRC and writes it. A
    // thread's batch moves in memory of its own: a slice of Node's 64 KiB pool would copy the pool each time, and
    // the owner, counting ever more outside memory, ran a full collection every ~64 MB of it.
    const batch = encodeRecordBatch(records, { ownMemory: this.port.transfers, compression: options.compression });
    const result = await this.queueAppend([topic, partition, batch, options.durable !== false]);
    this.appended(topic, partition, result, false);
    return result;
  }

  /** Notes an append's end offset; a plain one moves the last stable offset along where no transaction holds it. */
  private appended(topic: string, partition: number, result: AppendResult, transactional: boolean): void {
    const p = this.partition(topic, partition);
    if (!p) return;
    const end = Math.max(p.logEndOffset, result.lastOffset + 1);
    if (!transactional && p.lastStableOffset >= p.logEndOffset) p.lastStableOffset = end;
    p.logEndOffset = end;
  }

  /**
   * Sends an append with the others made in the same turn, in one message (a sink writes all its partitions at
   * once): each message wakes the owner, and on a machine with no idle core every wake-up preempts a busy thread.
   * The owner makes them in order, so a partition's appends keep their order; a call of another kind made in the
   * same turn sends them first.
   */
  private queueAppend(append: QueuedAppend['args']): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      if (this.outgoing.length === 0) queueMicrotask(() => this.sendAppends());
      this.outgoing.push({ args: append, resolve, reject });
    });
  }

  private sendAppends(): void {
    const queued = this.outgoing;
    this.outgoing = [];
    for (let from = 0; from < queued.length; from += MAX_APPENDS_PER_CALL) {
      const appends = queued.slice(from, from + MAX_APPENDS_PER_CALL);
      const transfer = this.port.transfers ? appends.map(({ args }) => args[2].buffer as ArrayBuffer) : [];
      if (appends.length === 1) {
        const [{ args, resolve, reject }] = appends as [QueuedAppend];
        this.rpc.callMoving('appendRaw', transfer, ...args).then(resolve, reject);
        continue;
      }
      const settle = (replies: ResultOf<LogOperations, 'appendMany'>) =>
        appends.forEach(({ resolve, reject }, i) => {
          const reply = replies[i];
          if (reply?.error) reject(fromWireError(reply.error));
          else if (reply) resolve(reply.value);
          else reject(new SluiceError('INTERNAL', 'the owner sent no result for an append'));
        });
      const fail = (error: Error) => {
        for (const { reject } of appends) reject(error);
      };
      const calls: AppendArgs[] = appends.map(({ args }) => args);
      this.rpc.callMoving('appendMany', transfer, calls).then(settle, fail);
    }
  }

  async flush(topic: string): Promise<void> {
    await this.call('flush', topic);
  }

  async truncate(topic: string, partition: number, offset: number): Promise<void> {
    this.discard(`${partition}:${topic}`); // it may hold records the truncation removes
    await this.call('truncate', topic, partition, offset);
    const p = this.partition(topic, partition);
    if (p) {
      p.logEndOffset = offset;
      p.lastStableOffset = Math.min(p.lastStableOffset, offset);
    }
  }

  /** Moves the partition's start forward (see PipelineLog.purgeBefore): the owner deletes whole segments. */
  async purgeBefore(topic: string, partition: number, offset: number): Promise<number> {
    const start = await this.call('purgeBefore', topic, partition, offset);
    const p = this.partition(topic, partition);
    if (p) p.logStartOffset = Math.max(p.logStartOffset, start);
    return start;
  }

  /** Decoded records from `offset` (see readRaw); read committed, never those of an aborted transaction. */
  readRecords(
    topic: string,
    partition: number,
    offset: number,
    options: ReadOptions = {},
  ): RecordReadResult | Promise<RecordReadResult> {
    const decode = (page: RawReadResult): RecordReadResult => {
      const result: RecordReadResult = {
        records: committedRecords(page.batches, offset, page.abortedTransactions),
        nextOffset: page.nextOffset,
        highWatermark: page.highWatermark,
        logStartOffset: page.logStartOffset,
      };
      if (page.lastStableOffset !== undefined) result.lastStableOffset = page.lastStableOffset;
      return result;
    };
    // Never lent: the records' views outlive the read.
    const page = this.readRaw(topic, partition, offset, { maxBytes: options.maxBytes, isolation: options.isolation });
    return page instanceof Promise ? page.then(decode) : decode(page);
  }

  /**
   * Whole record batches from `offset`, undecoded (a source decodes what it needs straight from them). While a
   * partition has a backlog the next page is read ahead as this one is processed, so catching up costs no round
   * trip per page and a thread's tasks take turns as they would reading the log directly (a round trip after
   * every page made them alternate page by page, which costs twice the GC). With `lend`, the caller gives the page
   * back with release() once nothing holds a view into it, and the page comes in the owner's shared memory. Read
   * committed, pages stop at the last stable offset and list the aborted transactions among their batches.
   */
  readRaw(
    topic: string,
    partition: number,
    offset: number,
    options: ReadOptions = {},
  ): RawReadResult | Promise<RawReadResult> {
    const request: PageRequest = {
      topic,
      partition,
      offset,
      maxBytes: options.maxBytes ?? 1 << 20,
      lend: options.lend === true,
      isolation: options.isolation === 'read_committed' ? 'read_committed' : 'read_uncommitted',
    };
    const key = `${partition}:${topic}`;
    const ahead = this.ahead.get(key);
    if (
      ahead &&
      ahead.offset === offset &&
      ahead.maxBytes === request.maxBytes &&
      ahead.lend === request.lend &&
      ahead.isolation === request.isolation
    ) {
      this.ahead.delete(key);
      if (ahead.page) return this.arrived(request, ahead.page);
      return ahead.pending.then((page) => (page ? this.arrived(request, page) : this.readNow(request)));
    }
    this.discard(key);
    return this.readNow(request);
  }

  /**
   * Gives a page readRaw lent back to the owner, for a later read: nothing may hold a view into it any more. The
   * slot goes back with this thread's next read (only its reads use its slots): a message of its own would wake the
   * owner once more per page, and on a machine with no idle core every wake-up preempts a busy thread.
   */
  release(batches: Buffer): void {
    const slot = this.slotOf.get(batches.buffer);
    if (slot === undefined || !this.rpc.open) return;
    this.given.push(slot);
  }

  /** The slots given back since the last read, for the next one to carry. */
  private takeGiven(): number[] {
    const given = this.given;
    this.given = [];
    return given;
  }

  private async readNow(request: PageRequest) {
    const page = await this.read(request);
    return this.arrived(request, page);
  }

  /** Notes a page's bounds, reads the next one ahead while there is a backlog, and hands the page out. */
  private arrived(request: PageRequest, page: RawPage): RawReadResult {
    const { topic, partition, offset } = request;
    const lastStableOffset = page.lastStableOffset ?? page.highWatermark;
    const p = this.partition(topic, partition);
    if (p) {
      p.logEndOffset = page.highWatermark;
      p.logStartOffset = page.logStartOffset;
      p.lastStableOffset = lastStableOffset;
    }
    // A backlog: what this isolation level may read goes on past the page (a read_committed read stops at the
    // last stable offset, so reading ahead past it would only bring an empty page, stale by the time it is used).
    const end = request.isolation === 'read_committed' ? lastStableOffset : page.highWatermark;
    if (page.nextOffset > offset && page.nextOffset < end) this.readAhead({ ...request, offset: page.nextOffset });
    const result: RawReadResult = {
      batches: this.bytesOf(page),
      nextOffset: page.nextOffset,
      highWatermark: page.highWatermark,
      logStartOffset: page.logStartOffset,
    };
    if (page.lastStableOffset !== undefined) result.lastStableOffset = page.lastStableOffset;
    if (page.abortedTransactions !== undefined) result.abortedTransactions = page.abortedTransactions;
    return result;
  }

  /** The page's bytes: moved to this thread, or a view of the slot it was lent in. */
  private bytesOf(page: RawPage): Buffer {
    if (page.slot === undefined) return asBuffer(page.batches!);
    if (page.memory) {
      const memory = Buffer.from(page.memory);
      this.slots.set(page.slot, memory);
      this.slotOf.set(page.memory, page.slot);
    }
    return this.slots.get(page.slot)!.subarray(page.byteOffset!, page.byteOffset! + page.length!);
  }

  private readAhead(request: PageRequest): void {
    const { topic, partition, offset, maxBytes, lend, isolation } = request;
    const ahead: ReadAhead = {
      offset,
      maxBytes,
      lend,
      isolation,
      page: undefined,
      pending: Promise.resolve(undefined),
    };
    // A failed read-ahead is forgotten: the read it was for asks again, and reports the error.
    ahead.pending = this.call('readRaw', topic, partition, offset, maxBytes, lend, this.takeGiven(), isolation).then(
      (page) => {
        ahead.page = page;
        return page;
      },
      () => undefined,
    );
    this.ahead.set(`${partition}:${topic}`, ahead);
  }

  /** Forgets a partition's page read ahead; one lent goes back to the owner (when it arrives, if it has not). */
  private discard(key: string): void {
    const ahead = this.ahead.get(key);
    if (!ahead) return;
    this.ahead.delete(key);
    const giveBack = (page: RawPage | undefined) => {
      if (page?.slot !== undefined) this.release(this.bytesOf(page));
    };
    if (ahead.page) giveBack(ahead.page);
    else void ahead.pending.then(giveBack);
  }

  private async read(request: PageRequest): Promise<RawPage> {
    const { topic, partition, offset, maxBytes, lend, isolation } = request;
    try {
      return await this.call('readRaw', topic, partition, offset, maxBytes, lend, this.takeGiven(), isolation);
    } catch (error) {
      // Out of range: retention or a writer's rollback moved the bounds; the caller looks them up next.
      if ((error as SluiceError).code === 'OFFSET_OUT_OF_RANGE') await this.refresh();
      throw error;
    }
  }

  offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number | null> {
    return this.call('offsetForTimestamp', topic, partition, timestamp);
  }

  /** Read committed, waits for the last stable offset (not the end) to pass `offset`. */
  async waitForData(topic: string, partition: number, offset: number, options: WaitOptions = {}): Promise<boolean> {
    if (options.signal?.aborted) return false;
    const isolation = options.isolation === 'read_committed' ? 'read_committed' : 'read_uncommitted';
    const reply = this.call('waitForData', topic, partition, offset, options.timeoutMs ?? 5000, isolation).then(
      ({ ready, info }) => {
        this.topics.set(topic, info);
        return ready;
      },
    );
    if (!options.signal) return reply;
    const signal = options.signal;
    return new Promise<boolean>((resolve, reject) => {
      const onAbort = () => resolve(false); // the owner's wait times out by itself; its reply is dropped
      signal.addEventListener('abort', onAbort, { once: true });
      reply.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * A transactional writer of the owner's (which fences the earlier instances of `transactionalId`, wherever they
   * run, and aborts what they left open). Its appends are encoded here and go with the turn's other appends, in
   * order; the owner's writer appends their records to its transaction.
   */
  async openTransactionalWriter(transactionalId: string): Promise<TransactionalWriter> {
    const handle = await this.call('openTransactionalWriter', transactionalId);
    const ended = (ending: Promise<TransactionEnded>) => ending.then((reply) => this.learn(reply.topics));
    return {
      transactionalId,
      append: async (
        topic: string,
        partition: number,
        records: readonly LogRecord[],
        options: { compression?: CompressionType } = {},
      ): Promise<AppendResult> => {
        // Encoded plain (the owner's writer encodes it again, as its transaction's, compressed as asked).
        const batch = encodeRecordBatch(records, { ownMemory: this.port.transfers });
        const result = await this.queueAppend([topic, partition, batch, false, handle, options.compression ?? 'none']);
        this.appended(topic, partition, result, true);
        return result;
      },
      prepare: (): Promise<PreparedTransaction | null> => this.call('prepareTransaction', handle),
      commit: () => ended(this.call('endTransaction', handle, true)),
      abort: () => ended(this.call('endTransaction', handle, false)),
    };
  }

  async completePrepared(prepared: PreparedTransaction, commit: boolean): Promise<boolean> {
    const { transactionalId, producerId, producerEpoch } = prepared;
    const reply = await this.call('completePrepared', { transactionalId, producerId, producerEpoch }, commit);
    this.learn(reply.topics);
    return reply.completed;
  }

  transactionalIds(prefix: string): Promise<string[]> {
    return this.call('transactionalIds', prefix);
  }

  /** Topics as the owner has them now (a transaction's end moved their end and last stable offsets). */
  private learn(topics: readonly TopicInfo[]): void {
    for (const info of topics) this.topics.set(info.name, info);
  }

  private partition(topic: string, partition: number) {
    return this.topics.get(topic)?.partitions[partition];
  }
}

/**
 * The records of `batches` from `offset`: never a transaction marker, nor a batch of one of the `aborted`
 * transactions (which a read_committed read lists).
 */
function committedRecords(
  batches: Buffer,
  offset: number,
  aborted: readonly AbortedTransaction[] = [],
): StoredRecord[] {
  if (aborted.length === 0) return decodeRecordBatches(batches, offset);
  const records: StoredRecord[] = [];
  for (let pos = 0; ; ) {
    const header = readBatchHeader(batches, pos);
    if (header === null) return records;
    if (!isAbortedBatch(header, aborted)) decodeBatchRecords(batches, header, records, offset);
    pos += header.size;
  }
}
