// Kafka transactions for KafkaClusterLog: the transactional writer an exactly-once sink writes each checkpoint epoch
// with, and what recovery needs of the cluster's transaction coordinators — EndTxn for a transaction a crashed run
// prepared, ListTransactions and InitProducerId to find and abort what it left open.
//
// A real Kafka has no "prepare" (KIP-939 needs Kafka 4.x and a broker setting): prepare() waits for every send to
// be acknowledged and returns the transaction's {transactionalId, producerId, producerEpoch}; the transaction stays
// open under its timeout (TRANSACTION_TIMEOUT_MS, Kafka's default transaction.max.timeout.ms) — a pipeline down
// longer than that loses the epoch a crash left prepared (the coordinator aborts it), as with Flink's Kafka sink.
//
// A fresh Kafka transactional id per transaction, as Flink's KafkaSink does: the writer of pool id P (the engine's
// `<sink>/<topic>/<n>`) runs each transaction as `P@<k>` (k: a millisecond clock, strictly increasing), with a
// producer of its own. Re-initialising one id after every transaction (InitProducerId bumps the epoch) would also
// make {id, producer id, epoch} name one transaction, but it would make completePrepared() inexact: once the writer
// had moved on to its next transaction, a retried commit of the previous one — committed, then the epoch bumped —
// answers PRODUCER_FENCED exactly as one the coordinator aborted, so recovery after a crash in the moment between
// the next barrier and its checkpoint would report committed output lost. With an id per transaction a committed
// one is never touched again: a retried EndTxn answers NONE, and one aborted (by its timeout, or by a later run's
// recovery) answers PRODUCER_FENCED or INVALID_TXN_STATE. The cost: a transactional id and a producer id per
// checkpoint epoch per writer, which the cluster forgets after transactional.id.expiration.ms (7 days) and
// producer.id.expiration.ms (1 day); and a run fences only the transaction a zombie of an earlier run (one still
// running after its replacement started: a member cut off past its task lease) had open, not the ones it begins
// afterwards under new ids.
//
// Recovery: ListTransactions (Kafka 3.0+) on every broker finds the open (Ongoing) transactions of a prefix's
// writers; opening writer P aborts each `P@*` one by InitProducerId, which fences its producer and aborts it.
import {
  type Admin,
  type Connection,
  endTxnV0,
  endTxnV1,
  endTxnV2,
  endTxnV3,
  endTxnV4,
  FindCoordinatorKeyTypes,
  initProducerIdV0,
  initProducerIdV1,
  initProducerIdV2,
  initProducerIdV3,
  initProducerIdV4,
  initProducerIdV5,
  listTransactionsV0,
  listTransactionsV1,
  ProduceAcks,
  Producer,
} from '@platformatic/kafka';
import type { PreparedTransaction, TransactionalWriter } from '../../contracts/index.ts';
import { SluiceError } from '../../errors.ts';
import type { AppendResult, CompressionType, LogRecord } from '../../log/index.ts';
import { createLogger } from '../../logger.ts';
import { findApiId } from './errors.ts';
import { InOrderAcrossPartitions, type PartitionRecords } from './in-order.ts';
import { acknowledgedOffsets, toMessages } from './records.ts';

type ApiVersionsResponseApi = Awaited<ReturnType<Admin['listApis']>>[number];
type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>;

/** Kafka's default transaction.max.timeout.ms: the longest a transaction may stay open before it is aborted. */
export const TRANSACTION_TIMEOUT_MS = 900_000;

/** Separates a writer's pool id from the number of its transaction in the Kafka transactional id. */
const SEPARATOR = '@';
/** The number of a transaction (base 36) after the separator. */
const NUMBER = /^[0-9a-z]+$/;

/** Answers that mean "again in a moment": the coordinator moved, is loading, or is ending the transaction. */
const RETRIABLE = new Set([
  'NOT_COORDINATOR',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'COORDINATOR_NOT_AVAILABLE',
  'CONCURRENT_TRANSACTIONS',
]);

/** EndTxn answers that mean the transaction ended otherwise, or its producer was re-initialised since. */
const RESOLVED_OTHERWISE = new Set([
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_TXN_STATE',
  'INVALID_PRODUCER_ID_MAPPING',
  'TRANSACTIONAL_ID_NOT_FOUND',
]);

/** How long a coordinator may keep answering "again in a moment" before the call fails. */
const RETRY_FOR_MS = 30_000;

/** The versions of the transaction APIs that this client and the cluster both speak. */
export interface TransactionApis {
  endTxn: typeof endTxnV0.api.async;
  initProducerId: typeof initProducerIdV0.api.async;
  listTransactions: typeof listTransactionsV0.api.async;
}

/**
 * The transaction APIs in the highest versions both sides know, or undefined when the cluster lacks one (before
 * Kafka 3.0 there is no ListTransactions, and without it recovery could not find what a crash left open).
 */
export function transactionApis(offered: readonly ApiVersionsResponseApi[]): TransactionApis | undefined {
  const pick = <A extends { version: number }>(key: number, known: A[]): A | undefined => {
    const range = offered.find((a) => a.apiKey === key);
    if (range === undefined) return undefined;
    return known.filter((a) => a.version >= range.minVersion && a.version <= range.maxVersion).at(-1);
  };
  // FindCoordinator for a transactional id (key type 1) since v1; the admin client picks its version itself.
  const findCoordinator = offered.find((a) => a.apiKey === 10);
  const endTxn = pick(26, [endTxnV0.api, endTxnV1.api, endTxnV2.api, endTxnV3.api, endTxnV4.api]);
  const initProducerId = pick(22, [
    initProducerIdV0.api,
    initProducerIdV1.api,
    initProducerIdV2.api,
    initProducerIdV3.api,
    initProducerIdV4.api,
    initProducerIdV5.api,
  ]);
  // v2 adds a transactional id pattern, which brokers filter by regular expression: the prefix is matched here.
  const listTransactions = pick(66, [listTransactionsV0.api, listTransactionsV1.api]);
  const addPartitions = offered.some((a) => a.apiKey === 24);
  const findsTransactions = findCoordinator !== undefined && findCoordinator.maxVersion >= 1;
  if (!findsTransactions || !addPartitions || !endTxn || !initProducerId || !listTransactions) return undefined;
  return {
    endTxn: endTxn.async,
    initProducerId: initProducerId.async as TransactionApis['initProducerId'],
    listTransactions: listTransactions.async,
  };
}

/** What the writers and the coordinator calls need of their KafkaClusterLog. */
export interface TransactionHost {
  admin: Admin;
  apis: TransactionApis;
  /** The client options every producer of the log starts from (client id, bootstrap, timeouts). */
  client: { clientId: string; bootstrapBrokers: string[]; connectTimeout: number; retries: number };
  timeoutMs: number;
  /** Runs a client call, its failure turned into a SluiceError saying `what` was being done. */
  call<T>(what: string, work: () => Promise<T>): Promise<T>;
  /** Throws UNKNOWN_TOPIC_OR_PARTITION for a partition the cluster does not have. */
  check(topic: string, partition: number): void;
  /** An append acknowledged: the cache's end moves past it. */
  acknowledged(topic: string, partition: number, offsets: { baseOffset: number; lastOffset: number }): AppendResult;
  closed(): boolean;
}

/** Runs `work` again, backing off, while it fails with an answer that means "again in a moment". */
async function retrying<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RETRY_FOR_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const apiId = findApiId(error);
      if (apiId === undefined || !RETRIABLE.has(apiId) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 10 * 2 ** attempt)));
    }
  }
}

/** Runs `work` on a connection to the coordinator of `transactionalId` (found again for each retry). */
function onCoordinator<T>(
  host: TransactionHost,
  transactionalId: string,
  what: string,
  work: (connection: Connection) => Promise<T>,
): Promise<T> {
  return retrying(async () => {
    const [found] = await host.admin.findCoordinator({
      keyType: FindCoordinatorKeyTypes.TRANSACTION,
      keys: [transactionalId],
    });
    if (found === undefined) throw new SluiceError('BROKER_UNAVAILABLE', `${what}: no coordinator found`);
    let connection = (await host.admin.connectToBrokers([found.nodeId])).get(found.nodeId);
    if (connection === undefined) {
      // A coordinator the cached metadata does not list yet.
      await host.admin.metadata({ topics: [], forceUpdate: true });
      connection = (await host.admin.connectToBrokers([found.nodeId])).get(found.nodeId);
    }
    if (connection === undefined) throw new SluiceError('BROKER_UNAVAILABLE', `${what}: coordinator not reachable`);
    return work(connection);
  });
}

/**
 * Commits (or aborts) a transaction that a writer prepared, whatever producer began it, by EndTxn with its ids.
 * True when it ended so now or had already (a retried EndTxn of an ended transaction answers NONE); false when it
 * had ended otherwise or its producer was re-initialised since (aborted by its timeout, or by a later run).
 */
export async function completePrepared(
  host: TransactionHost,
  prepared: PreparedTransaction,
  commit: boolean,
): Promise<boolean> {
  const { transactionalId, producerId, producerEpoch } = prepared;
  const what = `${commit ? 'commit' : 'abort'} transaction ${transactionalId} (producer ${producerId}, epoch ${producerEpoch})`;
  try {
    await host.call(what, () =>
      onCoordinator(host, transactionalId, what, (connection) =>
        host.apis.endTxn(connection, transactionalId, BigInt(producerId), producerEpoch, commit),
      ),
    );
    return true;
  } catch (error) {
    const apiId = findApiId(error) ?? (error as SluiceError).code;
    if (!RESOLVED_OTHERWISE.has(apiId)) throw error;
    createLogger('connectors').warn(
      { transactionalId, producerId, producerEpoch, kafkaError: apiId },
      `cannot ${commit ? 'commit' : 'abort'} a prepared transaction: ${
        apiId === 'INVALID_TXN_STATE'
          ? 'it had already ended the other way'
          : 'its producer was re-initialised since (the transaction timed out, or a later run aborted it)'
      }`,
    );
    return false;
  }
}

/** The open transactions of every broker's coordinators whose transactional ids start with `prefix`. */
async function openTransactions(host: TransactionHost, prefix: string): Promise<string[]> {
  return (await everyOpenTransaction(host)).filter((id) => id.startsWith(prefix));
}

/** Per cluster client: the listing in flight, and the one queued behind it that callers join. */
interface Listings {
  running: Promise<unknown>;
  queued: Promise<string[]> | undefined;
}
const listings = new WeakMap<Admin, Listings>();

/**
 * Every open transaction's id, from a listing sent after this call: callers share it — those that call while a
 * listing is in flight share the next one, sent once it is answered. A member opening its tasks' writers together
 * then sends a few ListTransactions instead of one per writer (each a round trip to every broker), and each caller
 * still sees every transaction begun before it called.
 */
function everyOpenTransaction(host: TransactionHost): Promise<string[]> {
  let state = listings.get(host.admin);
  if (state === undefined) listings.set(host.admin, (state = { running: Promise.resolve(), queued: undefined }));
  if (state.queued !== undefined) return state.queued;
  const s = state;
  const queued = s.running.then(() => {
    s.queued = undefined;
    const listing = listOpenTransactions(host);
    s.running = listing.catch(() => {});
    return listing;
  });
  s.queued = queued;
  return queued;
}

/** ListTransactions (Ongoing) on every broker. */
async function listOpenTransactions(host: TransactionHost): Promise<string[]> {
  const brokers = await host.call('list transactions', () => host.admin.connectToBrokers(null));
  const ids = await Promise.all(
    [...brokers.values()].map((connection) =>
      host.call('list transactions', () =>
        retrying(async () => {
          const listed = await host.apis.listTransactions(connection, ['Ongoing'], [], -1n, null);
          return listed.transactionStates.map((t) => t.transactionalId);
        }),
      ),
    ),
  );
  return ids.flat();
}

/**
 * The pool ids (P of `P@<k>`) of the writers that start with `prefix` and left a transaction open: what recovery
 * opens again (each open aborts them).
 */
export async function writersWithOpenTransactions(host: TransactionHost, prefix: string): Promise<string[]> {
  const pools = new Set<string>();
  for (const id of await openTransactions(host, prefix)) {
    const at = id.lastIndexOf(SEPARATOR);
    if (at >= prefix.length && NUMBER.test(id.slice(at + 1))) pools.add(id.slice(0, at));
  }
  return [...pools].sort();
}

/** Aborts every open transaction of writer `poolId`'s earlier instances: InitProducerId fences each and aborts it. */
async function abortLeftovers(host: TransactionHost, poolId: string): Promise<void> {
  const mine = `${poolId}${SEPARATOR}`;
  const leftovers = (await openTransactions(host, mine)).filter((id) => NUMBER.test(id.slice(mine.length)));
  for (const id of leftovers) {
    const what = `abort open transaction ${id}`;
    await host.call(what, () =>
      onCoordinator(host, id, what, (connection) => host.apis.initProducerId(connection, id, host.timeoutMs, -1n, -1)),
    );
  }
  if (leftovers.length > 0) {
    createLogger('connectors').info(
      { writer: poolId, aborted: leftovers },
      'aborted the transactions an earlier run left open',
    );
  }
}

/** Opens writer `poolId`: aborts what its earlier instances left open first. */
export async function openWriter(host: TransactionHost, poolId: string): Promise<ClusterTransactionalWriter> {
  if (poolId.length === 0) {
    throw new SluiceError('INVALID_ARGUMENT', 'a transactional id cannot be empty', { transactionalId: poolId });
  }
  await abortLeftovers(host, poolId);
  return new ClusterTransactionalWriter(host, poolId);
}

/** What appends that share a request have in common: their transaction, and their compression. */
interface SendContext {
  current: Promise<OpenTransaction>;
  compression: CompressionType | undefined;
}

/** One transaction: its own producer, under its own transactional id. */
interface OpenTransaction {
  id: string;
  producer: Producer;
  transaction: Transaction;
}

/**
 * A writer of the engine's pool: each transaction under a fresh Kafka transactional id (see the file comment), the
 * next one begun (FindCoordinator, InitProducerId) as soon as the last ends, so that an epoch's first append does
 * not wait for it.
 */
export class ClusterTransactionalWriter implements TransactionalWriter {
  readonly transactionalId: string;
  private readonly host: TransactionHost;
  private current: Promise<OpenTransaction> | undefined;
  /** Whether the current transaction has had an append (then it has something to prepare, commit or abort). */
  private wrote = false;
  private prepared = false;
  private fenced = false;
  private lastNumber = 0;
  /**
   * One produce request at a time, with every partition's waiting appends (in-order.ts): the producer's connection
   * carries one request at a time anyway, and the client adds a send's new partitions to the transaction
   * (AddPartitionsToTxn) before it produces, merging overlapping calls into the first one — the others' partitions
   * would then never be added — so sends must not overlap.
   */
  private readonly appending = new InOrderAcrossPartitions<SendContext>(
    (batches, context) => this.send(batches, context),
    (a, b) => a.current === b.current && a.compression === b.compression,
  );

  constructor(host: TransactionHost, transactionalId: string) {
    this.host = host;
    this.transactionalId = transactionalId;
    this.begin();
  }

  append(
    topic: string,
    partition: number,
    records: readonly LogRecord[],
    options: { compression?: CompressionType } = {},
  ): Promise<AppendResult> {
    const what = `append to ${topic}-${partition} in transaction ${this.transactionalId}`;
    try {
      this.usable(what);
      this.host.check(topic, partition);
      if (this.prepared) {
        throw new SluiceError('INVALID_TXN_STATE', `${what}: the transaction is prepared`, {
          transactionalId: this.transactionalId,
        });
      }
      if (records.length === 0) {
        throw new SluiceError('INVALID_RECORD', `${what}: no records given`, { topic, partition });
      }
    } catch (error) {
      return Promise.reject(error);
    }
    this.wrote = true;
    return this.appending.run(topic, partition, records, { current: this.begin(), compression: options.compression });
  }

  /** One produce request (per broker) for the waiting appends of several partitions, in transaction `current`. */
  private async send(batches: readonly PartitionRecords[], context: SendContext): Promise<AppendResult[]> {
    const open = await context.current;
    const compression = context.compression;
    const what =
      batches.length === 1
        ? `append to ${batches[0]!.topic}-${batches[0]!.partition} in transaction ${this.transactionalId}`
        : `append to ${batches.length} partitions in transaction ${this.transactionalId}`;
    const messages = batches.flatMap((b) => toMessages(b.topic, b.partition, b.records));
    const result = await this.host.call(what, () => open.transaction.send({ messages, compression }));
    return batches.map(({ topic, partition, records }) =>
      this.host.acknowledged(topic, partition, acknowledgedOffsets(result, topic, partition, records.length, what)),
    );
  }

  /** Every append acknowledged; the transaction stays open (under its timeout) until commit() or abort(). */
  async prepare(): Promise<PreparedTransaction | null> {
    this.usable(`prepare transaction ${this.transactionalId}`);
    if (!this.wrote) return null;
    await this.appending.all();
    const { id, producer } = await this.current!;
    const producerId = Number(producer.producerId);
    if (!Number.isSafeInteger(producerId) || producer.producerEpoch === undefined) {
      throw new SluiceError('KAFKA_CLIENT_ERROR', `prepare transaction ${id}: no producer id and epoch`);
    }
    this.prepared = true;
    return { transactionalId: id, producerId, producerEpoch: producer.producerEpoch };
  }

  commit(): Promise<void> {
    return this.end(true);
  }

  abort(): Promise<void> {
    return this.end(false);
  }

  /** Closes the producers without ending anything: a prepared transaction stays open for the next run. */
  async close(): Promise<void> {
    this.fenced = true;
    const current = this.current;
    this.current = undefined;
    await this.appending.settled();
    const open = await current?.catch(() => undefined);
    await open?.producer.close(true).catch(() => {});
  }

  private async end(commit: boolean): Promise<void> {
    const what = `${commit ? 'commit' : 'abort'} transaction ${this.transactionalId}`;
    this.usable(what);
    if (!this.wrote) return; // nothing was written: the begun transaction serves the next epoch
    const appends = this.appending.all();
    if (commit) await appends;
    else await appends.catch(() => {});
    const current = this.current;
    this.current = undefined;
    this.wrote = false;
    this.prepared = false;
    // Its start failed, and so did the appends waiting for it: there is nothing to abort (or commit).
    const open = await current?.catch(() => undefined);
    if (open === undefined) {
      if (commit) throw new SluiceError('INVALID_TXN_STATE', `${what}: the transaction never started`);
      this.begin();
      return;
    }
    try {
      await this.host.call(`${what} (${open.id})`, () =>
        commit ? open.transaction.commit() : open.transaction.abort(),
      );
    } finally {
      await open.producer.close(true).catch(() => {});
      if (!this.fenced && !this.host.closed()) this.begin();
    }
  }

  /** The current transaction, begun now if there is none (a failed start is retried by the next call). */
  private begin(): Promise<OpenTransaction> {
    if (this.current !== undefined) return this.current;
    const number = Math.max(Date.now(), this.lastNumber + 1);
    this.lastNumber = number;
    const id = `${this.transactionalId}${SEPARATOR}${number.toString(36)}`;
    const producer = new Producer({
      ...this.host.client,
      idempotent: true,
      transactionalId: id,
      acks: ProduceAcks.ALL,
      autocreateTopics: false,
      // The client sends this as InitProducerId's transaction timeout (and as Produce's wait for acknowledgements).
      timeout: this.host.timeoutMs,
    });
    const begun = this.host
      .call(`begin transaction ${id}`, () => producer.beginTransaction({ producerId: -1n, producerEpoch: -1 }))
      .then(
        (transaction) => ({ id, producer, transaction }),
        async (error: unknown) => {
          await producer.close(true).catch(() => {});
          if (this.current === begun) this.current = undefined;
          throw error;
        },
      );
    begun.catch(() => {}); // reported by the append that waits for it
    this.current = begun;
    return begun;
  }

  /** Fences this instance (a later writer of its id was opened). */
  fence(): Promise<void> {
    return this.close();
  }

  private usable(what: string): void {
    if (this.fenced || this.host.closed()) {
      throw new SluiceError(
        'PRODUCER_FENCED',
        `${what}: this writer was closed, or a later writer of its id was opened`,
        { transactionalId: this.transactionalId },
      );
    }
  }
}
