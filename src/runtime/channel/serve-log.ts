// The log's owner's side of the log channel: serves the embedded log to a worker process (`sluice up`) over its IPC
// channel or to a worker thread (`sluice run --parallelism`) over its port. The owner keeps the one log (a data
// directory has exactly one writer) and does only the I/O: a worker reads raw batches and decodes them itself and
// encodes the batches it appends, so the work that grows with the records is the worker's, on its own core. A
// worker's output topics may be renamed (a replay writes a new version, a batch run scratch topics).
//
// A worker's transactional writers (an exactly-once sink's, one transaction per checkpoint epoch) are the owner's:
// the worker holds a handle to each. When the worker goes, its handles are dropped and nothing is aborted: a
// prepared transaction waits for the next run to commit it from its checkpoint, and opening a writer of the same
// transactional id again fences the one left behind and aborts whatever it left open.
import { createHash } from 'node:crypto';
import { SluiceError } from '../../errors.ts';
import {
  type CompressionType,
  decodeRecordBatches,
  type IsolationLevel,
  type Log,
  type PreparedTransaction,
  type RawReadResult,
  readBatchHeader,
  type StoredRecord,
  type TopicInfo,
  type TransactionalWriter,
} from '../../log/index.ts';
import {
  type AppendArgs,
  asBuffer,
  LOG_CHANNEL,
  LOG_OPERATIONS,
  type LogOperations,
  MAX_APPENDS_PER_CALL,
  MAX_WRITERS_PER_CHANNEL,
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

const COMPRESSION_TYPES: readonly unknown[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] satisfies CompressionType[];

function isolationOf(isolation: unknown): IsolationLevel {
  return isolation === 'read_committed' ? 'read_committed' : 'read_uncommitted';
}

function compressionOf(compression: unknown): CompressionType {
  if (compression === undefined || compression === null) return 'none';
  if (!COMPRESSION_TYPES.includes(compression)) {
    throw new SluiceError('INVALID_REQUEST', `unknown compression "${String(compression)}"`);
  }
  return compression as CompressionType;
}

/** The records of the one plain record batch a worker encoded, for its transactional writer to append. */
function recordsOf(batch: unknown): StoredRecord[] {
  if (!(batch instanceof Uint8Array)) throw new SluiceError('INVALID_REQUEST', 'an append needs record batch bytes');
  const bytes = asBuffer(batch);
  let records: StoredRecord[] = [];
  try {
    const header = readBatchHeader(bytes, 0);
    if (header?.size === bytes.length && !header.isControl && !header.isTransactional) {
      records = decodeRecordBatches(bytes);
    }
  } catch {
    // reported below
  }
  if (records.length === 0) {
    throw new SluiceError('CORRUPT_MESSAGE', 'a transactional append needs one plain record batch with records');
  }
  return records;
}

/**
 * The prefix of a worker's transactional ids on the owner: none, unless its topics are renamed. A replay's sinks
 * name their ids after the topics they know, which are the replayed pipeline's: under its own prefix (the same for
 * every run with the same renames, so that a restart finds what the last one prepared) a replay never fences the
 * writers of the pipeline it replays.
 */
function idNamespace(renames: Record<string, string>): string {
  const entries = Object.entries(renames).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return '';
  return `renamed-${createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 16)}/`;
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

  // Transactional writers, by handle; a transactional id's latest handle (opening the id again replaces it).
  const namespace = idNamespace(renames);
  const shownId = (id: string) => (id.startsWith(namespace) ? id.slice(namespace.length) : id);
  const writers = new Map<number, TransactionalWriter>();
  const handleOf = new Map<string, number>();
  let lastHandle = 0;
  let opening = 0;
  let closed = false;
  const drop = () => {
    closed = true;
    writers.clear();
    handleOf.clear();
  };
  port.onClose(drop);
  const writerOf = (handle: unknown): TransactionalWriter => {
    const writer = typeof handle === 'number' ? writers.get(handle) : undefined;
    if (writer) return writer;
    if (Number.isSafeInteger(handle) && (handle as number) >= 1 && (handle as number) <= lastHandle) {
      throw new SluiceError(
        'PRODUCER_FENCED',
        'this transactional writer was fenced: a later writer of its transactional id was opened',
      );
    }
    throw new SluiceError('INVALID_REQUEST', `there is no transactional writer ${String(handle)}`);
  };
  /** The topics `transactionalId`'s open transaction wrote (what ending it changes). */
  const topicsOf = (transactionalId: string) =>
    new Set((log.transactions.describe(transactionalId)?.partitions ?? []).map((p) => p.topic));
  const infosOf = (topics: Set<string>): TopicInfo[] =>
    [...topics].filter((t) => log.hasTopic(t) && !hidden.has(t)).map((t) => asShown(log.describeTopic(t)));

  /** One append, made (a malformed one rejects on its own); into a writer's transaction when it names one. */
  const appendOne = async ([topic, partition, batch, durable, writer, compression]: AppendArgs) => {
    if (writer !== undefined && writer !== null) {
      // Called at once, in the order the appends came: the writer numbers a partition's batches in call order.
      return writerOf(writer).append(real(topic), partition, recordsOf(batch), {
        compression: compressionOf(compression),
      });
    }
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
    purgeBefore: (topic, partition, offset) => log.purgeBefore(real(topic), partition, offset),
    readRaw: (name, partition, offset, asked, lend, given, level) => {
      const maxBytes = Math.min(MAX_READ_BYTES, Number(asked) || 1 << 20);
      const isolation = isolationOf(level);
      const topic = real(name);
      hooks.onRead?.(topic, partition, offset);
      // Slots the thread has given back since its last read (see RemoteLog.release).
      if (Array.isArray(given)) for (const slot of given) slots.give(slot);
      if (!port.transfers) return log.readRaw(topic, partition, offset, { maxBytes, isolation });
      // A page the thread will give back is read into a shared slot; any other moves to the thread in memory
      // of its own, not a copy (cloning would copy the read's window twice).
      const lent = lend === true ? slots.take() : undefined;
      let read: RawReadResult;
      try {
        read = log.readRaw(topic, partition, offset, { maxBytes, into: lent?.memory, isolation });
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
    waitForData: async (topic, partition, offset, timeoutMs, isolation) => {
      const ready = await log.waitForData(real(topic), partition, offset, {
        timeoutMs: Math.min(timeoutMs, 5000),
        isolation: isolationOf(isolation),
      });
      return { ready, info: asShown(log.describeTopic(real(topic))) };
    },
    openTransactionalWriter: async (transactionalId) => {
      if (typeof transactionalId !== 'string') {
        throw new SluiceError('INVALID_REQUEST', 'a transactional id must be a string');
      }
      const id = namespace + transactionalId;
      if (!handleOf.has(id) && writers.size + opening >= MAX_WRITERS_PER_CHANNEL) {
        throw new SluiceError(
          'INVALID_REQUEST',
          `a worker may hold at most ${MAX_WRITERS_PER_CHANNEL} transactional writers at once`,
        );
      }
      opening++;
      let writer: TransactionalWriter;
      try {
        writer = await log.openTransactionalWriter(id);
      } finally {
        opening--;
      }
      const handle = ++lastHandle;
      if (closed) return handle; // the worker is gone: nobody will use it
      // The writer this one fenced (opened earlier under the same id) answers PRODUCER_FENCED from now on.
      const replaced = handleOf.get(id);
      if (replaced !== undefined) writers.delete(replaced);
      writers.set(handle, writer);
      handleOf.set(id, handle);
      return handle;
    },
    prepareTransaction: async (handle) => {
      const prepared = await writerOf(handle).prepare();
      return prepared && { ...prepared, transactionalId: shownId(prepared.transactionalId) };
    },
    endTransaction: async (handle, commit) => {
      const writer = writerOf(handle);
      if (typeof commit !== 'boolean') throw new SluiceError('INVALID_REQUEST', 'commit must be true or false');
      const topics = topicsOf(writer.transactionalId);
      await (commit ? writer.commit() : writer.abort());
      return { completed: true, topics: infosOf(topics) };
    },
    completePrepared: async (recorded, commit) => {
      const prepared = preparedOf(recorded, namespace);
      if (typeof commit !== 'boolean') throw new SluiceError('INVALID_REQUEST', 'commit must be true or false');
      const topics = topicsOf(prepared.transactionalId);
      const completed = await log.completePrepared(prepared, commit);
      return { completed, topics: infosOf(topics) };
    },
    transactionalIds: async (prefix) => {
      if (typeof prefix !== 'string') throw new SluiceError('INVALID_REQUEST', 'a prefix must be a string');
      return (await log.transactionalIds(namespace + prefix)).map(shownId);
    },
  };
  const server = serveRpc(port, LOG_CHANNEL, LOG_OPERATIONS, handlers);
  return {
    drain: () => server.drain(),
    close: () => {
      server.close();
      drop();
    },
  };
}

/** A prepared transaction as a worker's checkpoint recorded it, checked, under the owner's transactional id. */
function preparedOf(recorded: unknown, namespace: string): PreparedTransaction {
  const { transactionalId, producerId, producerEpoch } = (recorded ?? {}) as Partial<PreparedTransaction>;
  if (
    typeof transactionalId !== 'string' ||
    !Number.isSafeInteger(producerId) ||
    !Number.isSafeInteger(producerEpoch)
  ) {
    throw new SluiceError('INVALID_REQUEST', 'a prepared transaction needs a transactional id, producer id and epoch');
  }
  return { transactionalId: namespace + transactionalId, producerId: producerId!, producerEpoch: producerEpoch! };
}
