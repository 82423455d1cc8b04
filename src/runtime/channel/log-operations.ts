// The log channel's operations, one table for both ends: RemoteLog (a worker's side) calls them, serveLog (the log's
// owner) answers them, each typed from here.
import type {
  AbortedTransaction,
  AppendResult,
  CompressionType,
  IsolationLevel,
  PreparedTransaction,
  TopicInfo,
  TopicSpec,
} from '../../log/index.ts';
import { op, type WireError } from './rpc.ts';

/**
 * One append as it crosses: the topic, the partition, an encoded record batch, and whether to wait for fsync. With
 * `writer` (a handle openTransactionalWriter gave), it goes into that writer's transaction instead: the batch is a
 * plain one, whose records the owner's writer appends, compressed with `compression`.
 */
export type AppendArgs = [
  topic: string,
  partition: number,
  batch: Uint8Array,
  durable: boolean,
  writer?: number,
  compression?: CompressionType,
];

/** One append of an appendMany call as it comes back: its result or its error. */
export type AppendReply = { value: AppendResult; error?: undefined } | { error: WireError };

/** A read as it crosses the channel: its bytes moved (`batches`) or in a shared slot lent to the thread. */
export interface RawPage {
  batches?: Uint8Array;
  slot?: number;
  byteOffset?: number;
  length?: number;
  /** The slot's memory, the first time the thread is lent it. */
  memory?: SharedArrayBuffer;
  nextOffset: number;
  highWatermark: number;
  logStartOffset: number;
  lastStableOffset?: number;
  /** Read committed: the aborted transactions whose batches the reader skips. */
  abortedTransactions?: AbortedTransaction[];
}

/** What ending a transaction answers: the topics it wrote, as they are now (their end and last stable offsets). */
export interface TransactionEnded {
  /** completePrepared: false when a later instance of its transactional id had resolved it. */
  completed: boolean;
  topics: TopicInfo[];
}

export const LOG_OPERATIONS = {
  /** Every topic's metadata (those renamed away hidden, renamed ones under the names the worker knows). */
  topics: op<[], TopicInfo[]>(),
  createTopic: op<[topic: string, spec: TopicSpec], TopicInfo>(),
  appendRaw: op<AppendArgs, AppendResult>(),
  /** A turn's appends in one message, made in order; each settles on its own. */
  appendMany: op<[appends: AppendArgs[]], AppendReply[]>(),
  flush: op<[topic: string], void>(),
  truncate: op<[topic: string, partition: number, offset: number], void>(),
  /** Deletes what lies before `offset` (whole segments); answers the log start offset after it. */
  purgeBefore: op<[topic: string, partition: number, offset: number], number>(),
  /** `lend`: into a shared slot the thread gives back; `given`: slots given back since the last read. */
  readRaw: op<
    [
      topic: string,
      partition: number,
      offset: number,
      maxBytes: number,
      lend: boolean,
      given: number[],
      isolation?: IsolationLevel,
    ],
    RawPage
  >(),
  offsetForTimestamp: op<[topic: string, partition: number, timestamp: number], number | null>(),
  waitForData: op<
    [topic: string, partition: number, offset: number, timeoutMs: number, isolation?: IsolationLevel],
    { ready: boolean; info: TopicInfo }
  >(),
  /** A handle to a transactional writer the owner keeps (appends name it: AppendArgs' `writer`). */
  openTransactionalWriter: op<[transactionalId: string], number>(),
  prepareTransaction: op<[writer: number], PreparedTransaction | null>(),
  /** Commits or aborts the writer's transaction. */
  endTransaction: op<[writer: number, commit: boolean], TransactionEnded>(),
  completePrepared: op<[prepared: PreparedTransaction, commit: boolean], TransactionEnded>(),
  transactionalIds: op<[prefix: string], string[]>(),
};

export type LogOperations = typeof LOG_OPERATIONS;

/** The channel's name on the port (the worker protocol shares the port under other kinds). */
export const LOG_CHANNEL = 'log';

/** Appends one appendMany call may carry (a thread's turn makes one per output partition it wrote). */
export const MAX_APPENDS_PER_CALL = 1024;

/** Transactional writers one worker may hold at once (a sink keeps a small pool of them). */
export const MAX_WRITERS_PER_CHANNEL = 1024;

/** Buffers cross the channel as Uint8Arrays: give them back their Buffer face without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
