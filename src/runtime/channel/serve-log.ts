// The log's owner's side of the log channel: serves the embedded log to a worker process (`sluice up`) over its IPC
// channel or to a worker thread (`sluice run --parallelism`) over its port. The owner keeps the one log (a data
// directory has exactly one writer) and does only the I/O: a worker reads raw batches and decodes them itself and
// encodes the batches it appends, so the work that grows with the records is the worker's, on its own core. A
// worker's output topics may be renamed (a replay writes a new version, a batch run scratch topics).
import { SluiceError } from '../../errors.ts';
import type { Log, RawReadResult, TopicInfo } from '../../log/index.ts';
import {
  type AppendArgs,
  asBuffer,
  LOG_CHANNEL,
  LOG_OPERATIONS,
  type LogOperations,
  MAX_APPENDS_PER_CALL,
} from './log-operations.ts';
import type { Port } from './ports.ts';
import { type Handlers, Moving, type RpcServer, serveRpc, wireError } from './rpc.ts';

/** Largest read a worker may ask for in one call. */
const MAX_READ_BYTES = 8 << 20;
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

export type LogChannelServer = RpcServer;

export interface ServeLogHooks {
  /** The worker asked for a page of `topic`/`partition` from `offset` (the owner's view of its progress). */
  onRead?(topic: string, partition: number, offset: number): void;
}

/**
 * Serves `log` to the worker at the other end of `port`. `renames` maps the topic names the pipeline uses to the
 * topics it really reads and writes (a replay's versioned outputs); the worker sees only the names it knows.
 */
export function serveLog(
  port: Port,
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
  const slots = new PageSlots();
  /** One append, made (a malformed one rejects on its own). */
  const appendOne = async ([topic, partition, batch, durable]: AppendArgs) => {
    if (!(batch instanceof Uint8Array)) throw new SluiceError('INVALID_REQUEST', 'an append needs record batch bytes');
    return log.appendRaw(real(topic), partition, asBuffer(batch), { durable: durable !== false });
  };

  const handlers: Handlers<LogOperations> = {
    topics: () =>
      log
        .listTopics()
        .filter((t) => !hidden.has(t.name))
        .map(asShown),
    createTopic: async (topic, spec) => asShown(await log.createTopic(real(topic), spec)),
    appendRaw: (...append) => appendOne(append),
    appendMany: async (appends) => {
      // A turn's appends in one message (see RemoteLog.append), made in their order; each settles on its own.
      if (!Array.isArray(appends) || appends.length > MAX_APPENDS_PER_CALL) {
        throw new SluiceError('INVALID_REQUEST', `appendMany needs a list of at most ${MAX_APPENDS_PER_CALL} appends`);
      }
      return (await Promise.allSettled(appends.map(appendOne))).map((settled) =>
        settled.status === 'fulfilled' ? { value: settled.value } : { error: wireError(settled.reason) },
      );
    },
    flush: (topic) => log.flush(real(topic)),
    truncate: (topic, partition, offset) => log.truncate(real(topic), partition, offset),
    readRaw: (name, partition, offset, asked, lend, given) => {
      const maxBytes = Math.min(MAX_READ_BYTES, Number(asked) || 1 << 20);
      const topic = real(name);
      hooks.onRead?.(topic, partition, offset);
      // Slots the thread has given back since its last read (see RemoteLog.release).
      if (Array.isArray(given)) for (const slot of given) slots.give(slot);
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
      return new Moving(read, [batches.buffer as ArrayBuffer]);
    },
    offsetForTimestamp: (topic, partition, timestamp) => log.offsetForTimestamp(real(topic), partition, timestamp),
    waitForData: async (topic, partition, offset, timeoutMs) => {
      const ready = await log.waitForData(real(topic), partition, offset, { timeoutMs: Math.min(timeoutMs, 5000) });
      return { ready, info: asShown(log.describeTopic(real(topic))) };
    },
  };
  return serveRpc(port, LOG_CHANNEL, LOG_OPERATIONS, handlers);
}
