// The orchestrator's log, lent to a pipeline running in a worker process over the worker's IPC channel. The
// orchestrator owns the one embedded log (a data directory has exactly one writer); a worker reads raw batches and
// decodes them itself, appends and truncates through the channel, and keeps topic metadata in a local cache that
// every reply refreshes. A worker's output topics may be renamed (a replay writes a new version of them).
import type { ChildProcess } from 'node:child_process';
import type { PipelineLog } from '../engine/index.ts';
import { isSluiceError, SluiceError } from '../errors.ts';
import {
  type AppendResult,
  decodeRecordBatches,
  type Log,
  type LogRecord,
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

interface ReplyMessage {
  kind: 'log-reply';
  id: number;
  value?: unknown;
  error?: { code: string; message: string; details: Record<string, unknown> };
}

/** Largest read a worker may ask for in one call. */
const MAX_READ_BYTES = 8 << 20;

export interface LogChannelServer {
  /** Resolves once every call the worker made has finished (before a restarted worker may truncate). */
  drain(): Promise<void>;
  close(): void;
}

/**
 * Serves `log` to the worker `child`. `renames` maps the topic names the pipeline uses to the topics it really
 * reads and writes (a replay's versioned outputs); the worker sees only the names it knows.
 */
export function serveLog(child: ChildProcess, log: Log, renames: Record<string, string> = {}): LogChannelServer {
  const real = (topic: unknown) => {
    if (typeof topic !== 'string') throw new SluiceError('INVALID_REQUEST', 'a topic name must be a string');
    return renames[topic] ?? topic;
  };
  const shown = new Map(Object.entries(renames).map(([name, target]) => [target, name]));
  const hidden = new Set(Object.keys(renames));
  const asShown = (info: TopicInfo): TopicInfo => ({ ...info, name: shown.get(info.name) ?? info.name });
  const pending = new Set<Promise<unknown>>();

  const handle = async (op: string, args: unknown[]): Promise<unknown> => {
    switch (op) {
      case 'topics':
        return log
          .listTopics()
          .filter((t) => !hidden.has(t.name))
          .map(asShown);
      case 'createTopic':
        return asShown(await log.createTopic(real(args[0]), args[1] as TopicSpec));
      case 'append': {
        const [topic, partition, records] = args as [string, number, LogRecord[]];
        return log.append(real(topic), partition, records.map(asLogRecord));
      }
      case 'truncate':
        return log.truncate(real(args[0]), args[1] as number, args[2] as number);
      case 'readRaw': {
        const maxBytes = Math.min(MAX_READ_BYTES, Number(args[3]) || 1 << 20);
        return log.readRaw(real(args[0]), args[1] as number, args[2] as number, { maxBytes });
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

  const onMessage = (message: CallMessage) => {
    if (message?.kind !== 'log') return;
    const call = handle(message.op, message.args).then(
      (value) => reply({ kind: 'log-reply', id: message.id, value }),
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
  const reply = (message: ReplyMessage) => {
    if (child.connected) child.send(message, (error) => error && undefined);
  };
  child.on('message', onMessage);
  return {
    async drain() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    close() {
      child.off('message', onMessage);
    },
  };
}

/** Buffers cross the channel as Uint8Arrays: give them back their Buffer face without copying. */
function asBuffer(bytes: Uint8Array | null | undefined): Buffer | null {
  if (bytes === null || bytes === undefined) return null;
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function asLogRecord(record: LogRecord): LogRecord {
  return {
    key: asBuffer(record.key),
    value: asBuffer(record.value),
    ...(record.timestamp === undefined ? {} : { timestamp: record.timestamp }),
    ...(record.headers ? { headers: record.headers.map((h) => ({ key: h.key, value: asBuffer(h.value) })) } : {}),
  };
}

/** The worker's side: the orchestrator's log as a PipelineLog. */
export class RemoteLog implements PipelineLog {
  private readonly topics = new Map<string, TopicInfo>();
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private closed = false;

  constructor() {
    process.on('message', (message: ReplyMessage) => {
      if (message?.kind !== 'log-reply') return;
      const call = this.calls.get(message.id);
      if (!call) return;
      this.calls.delete(message.id);
      if (message.error) {
        call.reject(new SluiceError(message.error.code, message.error.message, message.error.details));
      } else call.resolve(message.value);
    });
    process.on('disconnect', () => {
      this.closed = true;
      for (const call of this.calls.values()) call.reject(new SluiceError('LOG_CLOSED', 'the orchestrator is gone'));
      this.calls.clear();
    });
  }

  private call<T>(op: string, ...args: unknown[]): Promise<T> {
    if (this.closed || !process.send) {
      return Promise.reject(new SluiceError('LOG_CLOSED', 'this worker is not connected to an orchestrator'));
    }
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      process.send!({ kind: 'log', id, op, args } satisfies CallMessage);
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
    const result = await this.call<AppendResult>('append', topic, partition, records);
    const p = this.partition(topic, partition);
    if (p) p.logEndOffset = Math.max(p.logEndOffset, result.lastOffset + 1);
    return result;
  }

  async truncate(topic: string, partition: number, offset: number): Promise<void> {
    await this.call('truncate', topic, partition, offset);
    const p = this.partition(topic, partition);
    if (p) p.logEndOffset = offset;
  }

  async readRecords(
    topic: string,
    partition: number,
    offset: number,
    options: { maxBytes?: number } = {},
  ): Promise<RecordReadResult> {
    const raw = await this.read(topic, partition, offset, options.maxBytes ?? 1 << 20);
    const p = this.partition(topic, partition);
    if (p) {
      p.logEndOffset = raw.highWatermark;
      p.logStartOffset = raw.logStartOffset;
    }
    return {
      records: decodeRecordBatches(asBuffer(raw.batches)!, offset),
      nextOffset: raw.nextOffset,
      highWatermark: raw.highWatermark,
      logStartOffset: raw.logStartOffset,
    };
  }

  private async read(topic: string, partition: number, offset: number, maxBytes: number) {
    try {
      return await this.call<{
        batches: Uint8Array;
        nextOffset: number;
        highWatermark: number;
        logStartOffset: number;
      }>('readRaw', topic, partition, offset, maxBytes);
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
