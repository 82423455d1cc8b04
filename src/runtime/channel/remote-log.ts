// A worker's side of the log channel: the owner's log as a PipelineLog (serve-log.ts serves it). Topic metadata is
// kept in a local cache that every reply refreshes, so a pipeline's definition can ask synchronously; records are
// encoded and decoded here, on the worker's core.
import type { PipelineLog } from '../../engine/index.ts';
import { SluiceError } from '../../errors.ts';
import {
  type AppendOptions,
  type AppendResult,
  decodeRecordBatches,
  encodeRecordBatch,
  type LogRecord,
  type RawReadResult,
  type RecordReadResult,
  type TopicInfo,
  type TopicSpec,
  type WaitOptions,
} from '../../log/index.ts';
import {
  type AppendArgs,
  asBuffer,
  LOG_CHANNEL,
  type LogOperations,
  MAX_APPENDS_PER_CALL,
  type RawPage,
} from './log-operations.ts';
import { type Port, parentProcessPort } from './ports.ts';
import { type ArgsOf, fromWireError, type ResultOf, RpcClient } from './rpc.ts';

/** An append waiting for the end of the turn: its call's arguments and its promise's ends. */
interface QueuedAppend {
  args: [topic: string, partition: number, batch: Buffer, durable: boolean];
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

interface ReadAhead {
  offset: number;
  maxBytes: number;
  lend: boolean;
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
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    // Encoded here (the worker's core), sent as one buffer: the owner only verifies the CRC and writes it. A
    // thread's batch moves in memory of its own: a slice of Node's 64 KiB pool would copy the pool each time, and
    // the owner, counting ever more outside memory, ran a full collection every ~64 MB of it.
    const batch = encodeRecordBatch(records, { ownMemory: this.port.transfers });
    const result = await this.queueAppend([topic, partition, batch, options.durable !== false]);
    const p = this.partition(topic, partition);
    if (p) p.logEndOffset = Math.max(p.logEndOffset, result.lastOffset + 1);
    return result;
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
    if (p) p.logEndOffset = offset;
  }

  /** Decoded records from `offset` (see readRaw). */
  readRecords(
    topic: string,
    partition: number,
    offset: number,
    options: { maxBytes?: number } = {},
  ): RecordReadResult | Promise<RecordReadResult> {
    const decode = (page: RawReadResult): RecordReadResult => ({
      records: decodeRecordBatches(page.batches, offset),
      nextOffset: page.nextOffset,
      highWatermark: page.highWatermark,
      logStartOffset: page.logStartOffset,
    });
    const page = this.readRaw(topic, partition, offset, options);
    return page instanceof Promise ? page.then(decode) : decode(page);
  }

  /**
   * Whole record batches from `offset`, undecoded (a source decodes what it needs straight from them). While a
   * partition has a backlog the next page is read ahead as this one is processed, so catching up costs no round
   * trip per page and a thread's tasks take turns as they would reading the log directly (a round trip after
   * every page made them alternate page by page, which costs twice the GC). With `lend`, the caller gives the page
   * back with release() once nothing holds a view into it, and the page comes in the owner's shared memory.
   */
  readRaw(
    topic: string,
    partition: number,
    offset: number,
    options: { maxBytes?: number; lend?: boolean } = {},
  ): RawReadResult | Promise<RawReadResult> {
    const maxBytes = options.maxBytes ?? 1 << 20;
    const lend = options.lend === true;
    const key = `${partition}:${topic}`;
    const ahead = this.ahead.get(key);
    if (ahead && ahead.offset === offset && ahead.maxBytes === maxBytes && ahead.lend === lend) {
      this.ahead.delete(key);
      if (ahead.page) return this.arrived(topic, partition, offset, maxBytes, lend, ahead.page);
      return ahead.pending.then((page) =>
        page
          ? this.arrived(topic, partition, offset, maxBytes, lend, page)
          : this.readNow(topic, partition, offset, maxBytes, lend),
      );
    }
    this.discard(key);
    return this.readNow(topic, partition, offset, maxBytes, lend);
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

  private async readNow(topic: string, partition: number, offset: number, maxBytes: number, lend: boolean) {
    const page = await this.read(topic, partition, offset, maxBytes, lend);
    return this.arrived(topic, partition, offset, maxBytes, lend, page);
  }

  /** Notes a page's bounds, reads the next one ahead while there is a backlog, and hands the page out. */
  private arrived(
    topic: string,
    partition: number,
    offset: number,
    maxBytes: number,
    lend: boolean,
    page: RawPage,
  ): RawReadResult {
    const p = this.partition(topic, partition);
    if (p) {
      p.logEndOffset = page.highWatermark;
      p.logStartOffset = page.logStartOffset;
    }
    if (page.nextOffset > offset && page.nextOffset < page.highWatermark) {
      this.readAhead(topic, partition, page.nextOffset, maxBytes, lend);
    }
    return {
      batches: this.bytesOf(page),
      nextOffset: page.nextOffset,
      highWatermark: page.highWatermark,
      logStartOffset: page.logStartOffset,
    };
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

  private readAhead(topic: string, partition: number, offset: number, maxBytes: number, lend: boolean): void {
    const ahead: ReadAhead = { offset, maxBytes, lend, page: undefined, pending: Promise.resolve(undefined) };
    // A failed read-ahead is forgotten: the read it was for asks again, and reports the error.
    ahead.pending = this.call('readRaw', topic, partition, offset, maxBytes, lend, this.takeGiven()).then(
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

  private async read(
    topic: string,
    partition: number,
    offset: number,
    maxBytes: number,
    lend: boolean,
  ): Promise<RawPage> {
    try {
      return await this.call('readRaw', topic, partition, offset, maxBytes, lend, this.takeGiven());
    } catch (error) {
      // Out of range: retention or a writer's rollback moved the bounds; the caller looks them up next.
      if ((error as SluiceError).code === 'OFFSET_OUT_OF_RANGE') await this.refresh();
      throw error;
    }
  }

  offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number | null> {
    return this.call('offsetForTimestamp', topic, partition, timestamp);
  }

  async waitForData(topic: string, partition: number, offset: number, options: WaitOptions = {}): Promise<boolean> {
    if (options.signal?.aborted) return false;
    const reply = this.call('waitForData', topic, partition, offset, options.timeoutMs ?? 5000).then(
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

  private partition(topic: string, partition: number) {
    return this.topics.get(topic)?.partitions[partition];
  }
}
