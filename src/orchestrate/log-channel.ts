// The embedded log, lent to a pipeline running elsewhere: a worker process (`sluice up`) over its IPC channel, or a
// worker thread (`sluice run --parallelism`) over its message port. The owner keeps the one log (a data directory has
// exactly one writer) and does only the I/O: a worker reads raw batches and decodes them itself, encodes the batches
// it appends, and keeps topic metadata in a local cache that every reply refreshes — so the work that grows with the
// records is the worker's, on its own core. A worker's output topics may be renamed (a replay writes a new version).
import type { ChildProcess } from 'node:child_process';
import type { MessagePort, Worker } from 'node:worker_threads';
import type { PipelineLog } from '../engine/index.ts';
import { isSluiceError, SluiceError } from '../errors.ts';
import {
  type AppendOptions,
  type AppendResult,
  decodeRecordBatches,
  encodeRecordBatch,
  type Log,
  type LogRecord,
  type RawReadResult,
  type RecordReadResult,
  type TopicInfo,
  type TopicSpec,
  type WaitOptions,
} from '../log/index.ts';

interface CallMessage {
  kind: 'log';
  id: number;
  op: string;
  args: unknown[];
}

interface WireError {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

interface ReplyMessage {
  kind: 'log-reply';
  id: number;
  value?: unknown;
  error?: WireError;
}

/** One append of an appendMany call as it comes back: its result or its error. */
type AppendReply = { value: AppendResult; error?: undefined } | { error: WireError };

/** Appends one appendMany call may carry (a thread's turn makes one per output partition it wrote). */
const MAX_APPENDS_PER_CALL = 1024;

/** Largest read a worker may ask for in one call. */
const MAX_READ_BYTES = 8 << 20;

/** One end of the channel between the log's owner and a worker: what the two transports have in common. */
export interface LogPort {
  /** Sends `message`; a thread's port moves the `transfer` buffers instead of copying them. */
  post(message: object, transfer?: ArrayBuffer[]): void;
  /** Adds a listener for every message; the returned function removes it. */
  listen(listener: (message: unknown) => void): () => void;
  /** Runs once the other end is gone. */
  onClose(listener: () => void): void;
  readonly open: boolean;
  /** Whether `post` can move buffers (a thread's port); IPC serializes them anyway. */
  readonly transfers: boolean;
}

/** The owner's end of a worker process's IPC channel. */
export function childProcessPort(child: ChildProcess): LogPort {
  return {
    post: (message) => {
      if (child.connected) child.send(message, (error) => error && undefined);
    },
    listen: (listener) => {
      child.on('message', listener);
      return () => child.off('message', listener);
    },
    onClose: (listener) => child.once('disconnect', listener),
    get open() {
      return child.connected;
    },
    transfers: false,
  };
}

/** A worker process's end: its parent over IPC. */
export function parentProcessPort(): LogPort {
  let open = process.connected;
  process.once('disconnect', () => {
    open = false;
  });
  return {
    post: (message) => {
      if (process.connected) process.send?.(message);
    },
    listen: (listener) => {
      process.on('message', listener);
      return () => process.off('message', listener);
    },
    onClose: (listener) => process.once('disconnect', listener),
    get open() {
      return open && process.send !== undefined;
    },
    transfers: false,
  };
}

/** Either end of a worker thread's channel: the Worker object (owner) or the thread's parentPort (worker). */
export function threadPort(port: Worker | MessagePort): LogPort {
  let open = true;
  const closed = () => {
    open = false;
  };
  // A Worker says 'exit' when its thread ends; a port says 'close' when the other end is closed.
  port.once('exit', closed);
  port.once('close', closed);
  return {
    post: (message, transfer) => {
      if (open) port.postMessage(message, transfer);
    },
    listen: (listener) => {
      port.on('message', listener);
      return () => port.off('message', listener);
    },
    onClose: (listener) => {
      port.once('exit', listener);
      port.once('close', listener);
    },
    get open() {
      return open;
    },
    transfers: true,
  };
}

/** Pages a thread may hold at once in shared memory: its tasks hold a page and one read ahead each. */
const MAX_PAGE_SLOTS = 32;
/** A slot holds a read's window: its page size and a little more (the batch holding the offset, a torn tail). */
const PAGE_SLOT_BYTES = (1 << 20) + (64 << 10);

/**
 * Shared memory the owner reads pages into and a thread reads them from, each slot lent until the thread gives it
 * back: no buffer per page is allocated, moved or collected. (Moving a fresh buffer per page made both sides count
 * ever more outside memory, and V8 ran a full collection every ~64 MB of it: four a second on the owner.) A read
 * that does not fit a slot, or finds none free, moves a buffer of its own instead.
 */
class PageSlots {
  private readonly slots: Buffer[] = [];
  /** Whether the thread has the slot's memory yet (it gets it with the first page lent in it). */
  private readonly shown: boolean[] = [];
  private readonly free: number[] = [];

  /** A free slot, made when none is free (up to MAX_PAGE_SLOTS). */
  take(): { slot: number; memory: Buffer } | undefined {
    const slot = this.free.pop();
    if (slot !== undefined) return { slot, memory: this.slots[slot]! };
    if (this.slots.length >= MAX_PAGE_SLOTS) return undefined;
    this.slots.push(Buffer.from(new SharedArrayBuffer(PAGE_SLOT_BYTES)));
    this.shown.push(false);
    return { slot: this.slots.length - 1, memory: this.slots.at(-1)! };
  }

  /** The slot's memory if the thread does not have it yet (it keeps it from now on). */
  show(slot: number): SharedArrayBuffer | undefined {
    if (this.shown[slot]) return undefined;
    this.shown[slot] = true;
    return this.slots[slot]!.buffer as SharedArrayBuffer;
  }

  give(slot: number): void {
    if (Number.isInteger(slot) && slot >= 0 && slot < this.slots.length && !this.free.includes(slot)) {
      this.free.push(slot);
    }
  }
}

/** A reply whose buffers may move rather than be copied. */
class Reply {
  readonly value: unknown;
  readonly transfer: ArrayBuffer[];
  constructor(value: unknown, transfer: ArrayBuffer[]) {
    this.value = value;
    this.transfer = transfer;
  }
}

export interface LogChannelServer {
  /** Resolves once every call the worker made has finished (before a restarted worker may truncate). */
  drain(): Promise<void>;
  close(): void;
}

export interface ServeLogHooks {
  /** The worker asked for a page of `topic`/`partition` from `offset` (the owner's view of its progress). */
  onRead?(topic: string, partition: number, offset: number): void;
}

/**
 * Serves `log` to the worker `child`. `renames` maps the topic names the pipeline uses to the topics it really
 * reads and writes (a replay's versioned outputs); the worker sees only the names it knows.
 */
export function serveLog(
  port: LogPort,
  log: Log,
  renames: Record<string, string> = {},
  hooks: ServeLogHooks = {},
): LogChannelServer {
  const real = (topic: unknown) => {
    if (typeof topic !== 'string') throw new SluiceError('INVALID_REQUEST', 'a topic name must be a string');
    return renames[topic] ?? topic;
  };
  const shown = new Map(Object.entries(renames).map(([name, target]) => [target, name]));
  const hidden = new Set(Object.keys(renames));
  const asShown = (info: TopicInfo): TopicInfo => ({ ...info, name: shown.get(info.name) ?? info.name });
  const pending = new Set<Promise<unknown>>();
  const slots = new PageSlots();
  /** One append's arguments, `[topic, partition, batch, durable]`, made (a malformed one rejects on its own). */
  const appendOne = async (append: unknown) => {
    const [topic, partition, batch, durable] = append as [unknown, unknown, unknown, unknown];
    if (!(batch instanceof Uint8Array)) throw new SluiceError('INVALID_REQUEST', 'an append needs record batch bytes');
    return log.appendRaw(real(topic), partition as number, asBuffer(batch)!, { durable: durable !== false });
  };

  const handle = async (op: string, args: unknown[]): Promise<unknown> => {
    switch (op) {
      case 'topics':
        return log
          .listTopics()
          .filter((t) => !hidden.has(t.name))
          .map(asShown);
      case 'createTopic':
        return asShown(await log.createTopic(real(args[0]), args[1] as TopicSpec));
      case 'appendRaw':
        return appendOne(args);
      case 'appendMany': {
        // A turn's appends in one message (see RemoteLog.append), made in their order; each settles on its own.
        const appends = args[0];
        if (!Array.isArray(appends) || appends.length > MAX_APPENDS_PER_CALL) {
          throw new SluiceError(
            'INVALID_REQUEST',
            `appendMany needs a list of at most ${MAX_APPENDS_PER_CALL} appends`,
          );
        }
        return (await Promise.allSettled(appends.map(appendOne))).map((settled) =>
          settled.status === 'fulfilled' ? { value: settled.value } : { error: errorReply(settled.reason) },
        );
      }
      case 'flush':
        return log.flush(real(args[0]));
      case 'truncate':
        return log.truncate(real(args[0]), args[1] as number, args[2] as number);
      case 'readRaw': {
        const maxBytes = Math.min(MAX_READ_BYTES, Number(args[3]) || 1 << 20);
        const [topic, partition, offset, lend] = [real(args[0]), args[1] as number, args[2] as number, args[4]];
        hooks.onRead?.(topic, partition, offset);
        // Slots the thread has given back since its last read (see RemoteLog.release).
        if (Array.isArray(args[5])) for (const slot of args[5]) slots.give(slot as number);
        if (!port.transfers) return log.readRaw(topic, partition, offset, { maxBytes });
        // A page the thread will give back is read into a shared slot; any other moves to the thread in memory
        // of its own, not a copy (cloning would copy the read's window twice).
        const lent = lend === true ? slots.take() : undefined;
        let read: RawReadResult;
        try {
          read = log.readRaw(topic, partition, offset, { maxBytes, into: lent?.memory });
        } catch (error) {
          if (lent) slots.give(lent.slot); // out of range, say: the slot was never lent
          throw error;
        }
        const { batches, ...bounds } = read;
        if (lent && batches.buffer === lent.memory.buffer) {
          const memory = slots.show(lent.slot);
          return { ...bounds, slot: lent.slot, byteOffset: batches.byteOffset, length: batches.length, memory };
        }
        if (lent) slots.give(lent.slot);
        if (batches.length === 0) return read;
        return new Reply(read, [batches.buffer as ArrayBuffer]);
      }
      case 'offsetForTimestamp':
        return log.offsetForTimestamp(real(args[0]), args[1] as number, args[2] as number);
      case 'waitForData': {
        const [topic, partition, offset, timeoutMs] = args as [string, number, number, number];
        const ready = await log.waitForData(real(topic), partition, offset, { timeoutMs: Math.min(timeoutMs, 5000) });
        return { ready, info: asShown(log.describeTopic(real(topic))) };
      }
      default:
        throw new SluiceError('INVALID_REQUEST', `unknown log operation "${op}"`);
    }
  };

  const onMessage = (received: unknown) => {
    const message = received as CallMessage;
    if (message?.kind !== 'log') return;
    const call = handle(message.op, message.args).then(
      (value) =>
        value instanceof Reply
          ? port.post({ kind: 'log-reply', id: message.id, value: value.value }, value.transfer)
          : reply({ kind: 'log-reply', id: message.id, value }),
      (error: unknown) => reply({ kind: 'log-reply', id: message.id, error: errorReply(error) }),
    );
    pending.add(call);
    call.finally(() => pending.delete(call));
  };
  const reply = (message: ReplyMessage) => port.post(message);
  const stopListening = port.listen(onMessage);
  return {
    async drain() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    close() {
      stopListening();
    },
  };
}

/** An error as it crosses the channel: its stable code, message and details. */
function errorReply(error: unknown): WireError {
  return isSluiceError(error)
    ? { code: error.code, message: error.message, details: error.details }
    : { code: 'INTERNAL', message: (error as Error).message, details: {} };
}

/** Buffers cross the channel as Uint8Arrays: give them back their Buffer face without copying. */
function asBuffer(bytes: Uint8Array | null | undefined): Buffer | null {
  if (bytes === null || bytes === undefined) return null;
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A read as it crosses the channel: its bytes moved (`batches`) or in a shared slot lent to the thread. */
interface RawPage {
  batches?: Uint8Array;
  slot?: number;
  byteOffset?: number;
  length?: number;
  /** The slot's memory, the first time the thread is lent it. */
  memory?: SharedArrayBuffer;
  nextOffset: number;
  highWatermark: number;
  logStartOffset: number;
}

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

/** The worker's side: the owner's log as a PipelineLog. */
export class RemoteLog implements PipelineLog {
  private readonly topics = new Map<string, TopicInfo>();
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly port: LogPort;
  /** The next page of a partition being caught up on, read ahead (by `<partition>:<topic>`). */
  private readonly ahead = new Map<string, ReadAhead>();
  /** The owner's page slots this thread has been lent, by slot number, and the slot of each slot's memory. */
  private readonly slots = new Map<number, Buffer>();
  private readonly slotOf = new Map<ArrayBufferLike, number>();
  /** Slots given back (release) that the next read tells the owner of. */
  private given: number[] = [];
  /** Appends made this turn, sent together once it ends (queueAppend). */
  private outgoing: QueuedAppend[] = [];
  private nextId = 0;
  private closed = false;

  constructor(port: LogPort = parentProcessPort()) {
    this.port = port;
    port.listen((received) => {
      const message = received as ReplyMessage;
      if (message?.kind !== 'log-reply') return;
      const call = this.calls.get(message.id);
      if (!call) return;
      this.calls.delete(message.id);
      if (message.error) {
        call.reject(new SluiceError(message.error.code, message.error.message, message.error.details));
      } else call.resolve(message.value);
    });
    port.onClose(() => {
      this.closed = true;
      for (const call of this.calls.values()) call.reject(new SluiceError('LOG_CLOSED', "the log's owner is gone"));
      this.calls.clear();
    });
  }

  private call<T>(op: string, ...args: unknown[]): Promise<T> {
    // Appends queued this turn go first: the owner sees the calls in the order they were made.
    if (this.outgoing.length > 0) this.sendAppends();
    return this.callMoving<T>(op, [], ...args);
  }

  /** A call whose `transfer` buffers move to the owner rather than being copied (a thread's port only). */
  private callMoving<T>(op: string, transfer: ArrayBuffer[], ...args: unknown[]): Promise<T> {
    if (this.closed || !this.port.open) {
      return Promise.reject(new SluiceError('LOG_CLOSED', "this worker is not connected to the log's owner"));
    }
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      const message = { kind: 'log', id, op, args } satisfies CallMessage;
      if (transfer.length > 0) this.port.post(message, transfer);
      else this.port.post(message);
    });
  }

  /** Loads every topic's metadata; call before building a pipeline (its definition asks synchronously). */
  async refresh(): Promise<void> {
    const topics = await this.call<TopicInfo[]>('topics');
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
    const info = await this.call<TopicInfo>('createTopic', name, spec);
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
        this.callMoving<AppendResult>('appendRaw', transfer, ...args).then(resolve, reject);
        continue;
      }
      const settle = (replies: AppendReply[]) =>
        appends.forEach(({ resolve, reject }, i) => {
          const reply = replies[i];
          if (reply?.error) reject(new SluiceError(reply.error.code, reply.error.message, reply.error.details));
          else if (reply) resolve(reply.value);
          else reject(new SluiceError('INTERNAL', 'the owner sent no result for an append'));
        });
      const fail = (error: Error) => {
        for (const { reject } of appends) reject(error);
      };
      this.callMoving<AppendReply[]>(
        'appendMany',
        transfer,
        appends.map(({ args }) => args),
      ).then(settle, fail);
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
    if (slot === undefined || this.closed) return;
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
    if (page.slot === undefined) return asBuffer(page.batches)!;
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
    ahead.pending = this.call<RawPage>('readRaw', topic, partition, offset, maxBytes, lend, this.takeGiven()).then(
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
      return await this.call<RawPage>('readRaw', topic, partition, offset, maxBytes, lend, this.takeGiven());
    } catch (error) {
      // Out of range: retention or a writer's rollback moved the bounds; the caller looks them up next.
      if ((error as SluiceError).code === 'OFFSET_OUT_OF_RANGE') await this.refresh();
      throw error;
    }
  }

  offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number | null> {
    return this.call<number | null>('offsetForTimestamp', topic, partition, timestamp);
  }

  async waitForData(topic: string, partition: number, offset: number, options: WaitOptions = {}): Promise<boolean> {
    if (options.signal?.aborted) return false;
    const reply = this.call<{ ready: boolean; info: TopicInfo }>(
      'waitForData',
      topic,
      partition,
      offset,
      options.timeoutMs ?? 5000,
    ).then(({ ready, info }) => {
      this.topics.set(topic, info);
      return ready;
    });
    if (!options.signal) return reply;
    const signal = options.signal;
    return new Promise<boolean>((resolve, reject) => {
      const onAbort = () => resolve(false); // the orchestrator's wait times out by itself; its reply is dropped
      signal.addEventListener('abort', onAbort, { once: true });
      reply.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private partition(topic: string, partition: number) {
    return this.topics.get(topic)?.partitions[partition];
  }
}
