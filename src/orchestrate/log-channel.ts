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

/** A page's memory given back by a thread (one way: no reply). */
interface ReleaseMessage {
  kind: 'log-release';
  buffer: ArrayBuffer;
}

interface ReplyMessage {
  kind: 'log-reply';
  id: number;
  value?: unknown;
  error?: { code: string; message: string; details: Record<string, unknown> };
}

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

/** Memory kept for reads a thread gave back, at most: a thread's tasks hold a page and one read ahead each. */
const MAX_SPARE_PAGES = 32;
/** A read's window is its page size and a little more (the batch holding the offset, a torn tail). */
const MAX_PAGE_MEMORY = MAX_READ_BYTES + (64 << 10);

/**
 * Memory that pages moved to a thread had, given back by the thread when it is done with them, for later reads: a
 * fresh buffer per read would make each side's heap count ever more outside memory, and run a full collection every
 * 64 MB or so. Reads the thread does not give back (decoded records, a page left unread) cost nothing here.
 */
class PagePool {
  /** Smallest first. */
  private readonly spare: ArrayBuffer[] = [];

  /** The largest spare memory (the log reads into it when the read fits), if any. */
  take(): Buffer | undefined {
    const buffer = this.spare.pop();
    return buffer && Buffer.from(buffer);
  }

  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength === 0 || buffer.byteLength > MAX_PAGE_MEMORY) return;
    const at = this.spare.findIndex((other) => other.byteLength > buffer.byteLength);
    this.spare.splice(at < 0 ? this.spare.length : at, 0, buffer);
    if (this.spare.length > MAX_SPARE_PAGES) this.spare.shift(); // the smallest fits the fewest reads
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

/**
 * Serves `log` to the worker `child`. `renames` maps the topic names the pipeline uses to the topics it really
 * reads and writes (a replay's versioned outputs); the worker sees only the names it knows.
 */
export function serveLog(port: LogPort, log: Log, renames: Record<string, string> = {}): LogChannelServer {
  const real = (topic: unknown) => {
    if (typeof topic !== 'string') throw new SluiceError('INVALID_REQUEST', 'a topic name must be a string');
    return renames[topic] ?? topic;
  };
  const shown = new Map(Object.entries(renames).map(([name, target]) => [target, name]));
  const hidden = new Set(Object.keys(renames));
  const asShown = (info: TopicInfo): TopicInfo => ({ ...info, name: shown.get(info.name) ?? info.name });
  const pending = new Set<Promise<unknown>>();
  const pages = new PagePool();

  const handle = async (op: string, args: unknown[]): Promise<unknown> => {
    switch (op) {
      case 'topics':
        return log
          .listTopics()
          .filter((t) => !hidden.has(t.name))
          .map(asShown);
      case 'createTopic':
        return asShown(await log.createTopic(real(args[0]), args[1] as TopicSpec));
      case 'appendRaw': {
        const [topic, partition, batch] = args as [string, number, Uint8Array];
        if (!(batch instanceof Uint8Array))
          throw new SluiceError('INVALID_REQUEST', 'appendRaw needs record batch bytes');
        return log.appendRaw(real(topic), partition, asBuffer(batch)!);
      }
      case 'truncate':
        return log.truncate(real(args[0]), args[1] as number, args[2] as number);
      case 'readRaw': {
        const maxBytes = Math.min(MAX_READ_BYTES, Number(args[3]) || 1 << 20);
        const [topic, partition, offset] = [real(args[0]), args[1] as number, args[2] as number];
        if (!port.transfers) return log.readRaw(topic, partition, offset, { maxBytes });
        // The read's memory moves to the thread, not a copy (cloning would copy the read's window twice), and
        // comes back when the thread is done with it (see 'log-release').
        const into = pages.take();
        const read = log.readRaw(topic, partition, offset, { maxBytes, into });
        if (into && read.batches.buffer !== into.buffer) pages.give(into.buffer as ArrayBuffer);
        if (read.batches.length === 0) return read;
        return new Reply(read, [read.batches.buffer as ArrayBuffer]);
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
    const released = received as ReleaseMessage;
    if (released?.kind === 'log-release') {
      if (released.buffer instanceof ArrayBuffer) pages.give(released.buffer);
      return;
    }
    const message = received as CallMessage;
    if (message?.kind !== 'log') return;
    const call = handle(message.op, message.args).then(
      (value) =>
        value instanceof Reply
          ? port.post({ kind: 'log-reply', id: message.id, value: value.value }, value.transfer)
          : reply({ kind: 'log-reply', id: message.id, value }),
      (error: unknown) =>
        reply({
          kind: 'log-reply',
          id: message.id,
          error: isSluiceError(error)
            ? { code: error.code, message: error.message, details: error.details }
            : { code: 'INTERNAL', message: (error as Error).message, details: {} },
        }),
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

/** Buffers cross the channel as Uint8Arrays: give them back their Buffer face without copying. */
function asBuffer(bytes: Uint8Array | null | undefined): Buffer | null {
  if (bytes === null || bytes === undefined) return null;
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

interface RawPage {
  batches: Uint8Array;
  nextOffset: number;
  highWatermark: number;
  logStartOffset: number;
}

interface ReadAhead {
  offset: number;
  maxBytes: number;
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
    if (this.closed || !this.port.open) {
      return Promise.reject(new SluiceError('LOG_CLOSED', "this worker is not connected to the log's owner"));
    }
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.port.post({ kind: 'log', id, op, args } satisfies CallMessage);
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

  async append(topic: string, partition: number, records: readonly LogRecord[]): Promise<AppendResult> {
    // Encoded here (the worker's core), sent as one buffer: the owner only verifies the CRC and writes it.
    const result = await this.call<AppendResult>('appendRaw', topic, partition, encodeRecordBatch(records));
    const p = this.partition(topic, partition);
    if (p) p.logEndOffset = Math.max(p.logEndOffset, result.lastOffset + 1);
    return result;
  }

  async truncate(topic: string, partition: number, offset: number): Promise<void> {
    this.ahead.delete(`${partition}:${topic}`); // it may hold records the truncation removes
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
   * every page made them alternate page by page, which costs twice the GC).
   */
  readRaw(
    topic: string,
    partition: number,
    offset: number,
    options: { maxBytes?: number } = {},
  ): RawReadResult | Promise<RawReadResult> {
    const maxBytes = options.maxBytes ?? 1 << 20;
    const key = `${partition}:${topic}`;
    const ahead = this.ahead.get(key);
    this.ahead.delete(key);
    if (ahead && ahead.offset === offset && ahead.maxBytes === maxBytes) {
      if (ahead.page) return this.arrived(topic, partition, offset, maxBytes, ahead.page);
      return ahead.pending.then((page) =>
        page
          ? this.arrived(topic, partition, offset, maxBytes, page)
          : this.readNow(topic, partition, offset, maxBytes),
      );
    }
    return this.readNow(topic, partition, offset, maxBytes);
  }

  /** Gives a page readRaw returned back to the owner, for a later read: nothing may hold a view into it any more. */
  release(batches: Buffer): void {
    const buffer = batches.buffer;
    if (!this.port.transfers || this.closed || !(buffer instanceof ArrayBuffer) || buffer.byteLength === 0) return;
    this.port.post({ kind: 'log-release', buffer } satisfies ReleaseMessage, [buffer]);
  }

  private async readNow(topic: string, partition: number, offset: number, maxBytes: number) {
    const page = await this.read(topic, partition, offset, maxBytes);
    return this.arrived(topic, partition, offset, maxBytes, page);
  }

  /** Notes a page's bounds, reads the next one ahead while there is a backlog, and hands the page out. */
  private arrived(topic: string, partition: number, offset: number, maxBytes: number, page: RawPage): RawReadResult {
    const p = this.partition(topic, partition);
    if (p) {
      p.logEndOffset = page.highWatermark;
      p.logStartOffset = page.logStartOffset;
    }
    if (page.nextOffset > offset && page.nextOffset < page.highWatermark) {
      this.readAhead(topic, partition, page.nextOffset, maxBytes);
    }
    return {
      batches: asBuffer(page.batches)!,
      nextOffset: page.nextOffset,
      highWatermark: page.highWatermark,
      logStartOffset: page.logStartOffset,
    };
  }

  private readAhead(topic: string, partition: number, offset: number, maxBytes: number): void {
    const ahead: ReadAhead = { offset, maxBytes, page: undefined, pending: Promise.resolve(undefined) };
    // A failed read-ahead is forgotten: the read it was for asks again, and reports the error.
    ahead.pending = this.call<RawPage>('readRaw', topic, partition, offset, maxBytes).then(
      (page) => {
        ahead.page = page;
        return page;
      },
      () => undefined,
    );
    this.ahead.set(`${partition}:${topic}`, ahead);
  }

  private async read(topic: string, partition: number, offset: number, maxBytes: number): Promise<RawPage> {
    try {
      return await this.call<RawPage>('readRaw', topic, partition, offset, maxBytes);
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
