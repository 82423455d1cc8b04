// Kafka's transaction coordinator for one log (a single broker coordinates every transactional id). Each id's record
// moves through Kafka's states: Empty → Ongoing (AddPartitions/AddGroup) → PrepareCommit|PrepareAbort (EndTxn,
// durable) → markers written to every partition → CompleteCommit|CompleteAbort (durable) → Ongoing again with the
// next transaction. Requests for one id run one at a time, in order, so a transaction is never ended twice at once.
//
// Fencing: re-initialising an id bumps its epoch (and aborts a transaction the old instance left open, with markers
// at the new epoch); requests with an older epoch are PRODUCER_FENCED and the partitions refuse its batches.
// Recovery: a record left in Prepare* is completed; an Ongoing one keeps its deadline and times out like any other.
// A partition with a transaction open that the coordinator does not know (its state lost) is aborted on open.
import { SluiceError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type {
  GroupOffsetStore,
  OffsetCommit,
  TransactionalProducer,
  TransactionCoordinator,
  TransactionDescription,
  TransactionState,
} from '../types.ts';
import { Journal } from './journal.ts';

/** Kafka's transaction.max.timeout.ms default: a longer transaction holds readers back too long. */
export const MAX_TRANSACTION_TIMEOUT_MS = 15 * 60_000;
/** Kafka's transactional.id.expiration.ms default: an idle id is forgotten (its next producer starts afresh). */
const ID_EXPIRATION_MS = 7 * 24 * 3600_000;
/** How often open transactions are checked against their timeout. */
const TIMEOUT_CHECK_MS = 1000;
/** Epochs are 16-bit: the last usable one before a producer id is replaced. */
const MAX_EPOCH = 32_766;

interface TopicPartition {
  topic: string;
  partition: number;
}

interface TxnRecord {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  timeoutMs: number;
  state: TransactionState;
  partitions: TopicPartition[];
  /** Group offsets the transaction commits when it commits, by group (TxnOffsetCommit). */
  groups: { groupId: string; offsets: OffsetCommit[] }[];
  startTimeMs: number;
  updateTimeMs: number;
  /** Prepared by its producer (two-phase commit): exempt from the timeout. */
  prepared?: boolean;
  /** How the id's last few transactions ended, newest last: for completePrepared() of one already ended. */
  ended?: { producerId: number; producerEpoch: number; committed: boolean }[];
}

/** How many ended transactions a record remembers (a writer re-initialises after each: one epoch per transaction). */
const ENDED_KEPT = 8;

/** What the coordinator needs of the log: markers, the group store, and the partitions' open transactions. */
export interface CoordinatorLog {
  writeMarker(
    topic: string,
    partition: number,
    marker: { producerId: number; producerEpoch: number; type: 'commit' | 'abort' },
  ): Promise<unknown>;
  groups: GroupOffsetStore;
  /** Every partition's open transactions: for the aborting of those no record accounts for. */
  openTransactions(): { topic: string; partition: number; producerId: number; producerEpoch: number }[];
  partitionExists(topic: string, partition: number): boolean;
}

export class FileTransactionCoordinator implements TransactionCoordinator {
  private readonly journal: Journal<TxnRecord>;
  private readonly records: Map<string, TxnRecord>;
  private readonly log: CoordinatorLog;
  private readonly logger: Logger;
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly timer: NodeJS.Timeout;
  private nextId = Date.now() * 1000;
  private closed = false;

  constructor(dir: string, log: CoordinatorLog, logger: Logger) {
    this.log = log;
    this.logger = logger;
    const now = Date.now();
    const { journal, records } = Journal.open<TxnRecord>(
      dir,
      logger,
      (r) => r.state === 'Ongoing' || r.state.startsWith('Prepare') || now - r.updateTimeMs < ID_EXPIRATION_MS,
    );
    this.journal = journal;
    this.records = records;
    // Producer ids grow with time: ids handed out before a restart stay below the ones handed out after it.
    for (const r of records.values()) if (r.producerId >= this.nextId) this.nextId = r.producerId + 1;
    this.timer = setInterval(() => this.abortTimedOut(), TIMEOUT_CHECK_MS).unref();
  }

  /** Completes what a crash left half done; resolves once every partition's markers are written. */
  async recover(): Promise<void> {
    const pending = [...this.records.values()].filter((r) => r.state === 'PrepareCommit' || r.state === 'PrepareAbort');
    await Promise.all(pending.map((r) => this.queued(r.transactionalId, () => this.complete(r))));
    for (const r of pending) {
      this.logger.info({ transactionalId: r.transactionalId, state: r.state }, 'completed a transaction after restart');
    }
    // A partition's open transaction that no Ongoing record lists can never end: abort it now.
    for (const open of this.log.openTransactions()) {
      const owner = [...this.records.values()].find((r) => r.producerId === open.producerId);
      const listed =
        owner?.state === 'Ongoing' &&
        owner.partitions.some((p) => p.topic === open.topic && p.partition === open.partition);
      if (listed) continue;
      this.logger.warn(open, 'aborting a transaction no coordinator record accounts for');
      await this.log.writeMarker(open.topic, open.partition, {
        producerId: open.producerId,
        producerEpoch: Math.max(open.producerEpoch, owner?.producerEpoch ?? 0),
        type: 'abort',
      });
    }
  }

  newProducerId(): number {
    return this.nextId++;
  }

  initProducer(
    transactionalId: string,
    timeoutMs: number,
    current?: { producerId: number; producerEpoch: number },
  ): Promise<TransactionalProducer> {
    validateId(transactionalId);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TRANSACTION_TIMEOUT_MS) {
      return Promise.reject(
        new SluiceError(
          'INVALID_TRANSACTION_TIMEOUT',
          `transaction timeout ${timeoutMs} ms must be between 1 and ${MAX_TRANSACTION_TIMEOUT_MS} ms`,
          { transactionalId, timeoutMs },
        ),
      );
    }
    return this.queued(transactionalId, async () => {
      let record = this.records.get(transactionalId);
      const now = Date.now();
      if (record === undefined) {
        record = {
          transactionalId,
          producerId: this.newProducerId(),
          producerEpoch: 0,
          timeoutMs,
          state: 'Empty',
          partitions: [],
          groups: [],
          startTimeMs: -1,
          updateTimeMs: now,
        };
      } else {
        if (record.state === 'PrepareCommit' || record.state === 'PrepareAbort') {
          await this.complete(record); // a completion a failure interrupted: finish it before anything else
          record = this.records.get(transactionalId)!;
        }
        if (current !== undefined && current.producerId >= 0) {
          const matches =
            current.producerId === record.producerId &&
            (current.producerEpoch === record.producerEpoch || current.producerEpoch === record.producerEpoch - 1);
          if (!matches) throw fenced(record, current.producerId, current.producerEpoch);
        }
        if (record.state === 'Ongoing') {
          // The previous instance left a transaction open: abort it under the new epoch, which fences that instance.
          record = this.bump(record);
          await this.end(record, false);
        }
        record = {
          ...this.bump(record),
          timeoutMs,
          state: 'Empty',
          prepared: false,
          partitions: [],
          groups: [],
          updateTimeMs: now,
        };
      }
      await this.save(record);
      return { transactionalId, producerId: record.producerId, producerEpoch: record.producerEpoch };
    });
  }

  addPartitions(producer: TransactionalProducer, partitions: readonly TopicPartition[]): Promise<void> {
    return this.queued(producer.transactionalId, async () => {
      const record = this.current(producer);
      for (const p of partitions) {
        if (!this.log.partitionExists(p.topic, p.partition)) {
          throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `unknown partition ${p.topic}-${p.partition}`, { ...p });
        }
      }
      const added = partitions.filter(
        (p) => !record.partitions.some((q) => q.topic === p.topic && q.partition === p.partition),
      );
      if (record.state === 'Ongoing' && record.prepared) throw preparedAlready(record);
      if (added.length === 0 && record.state === 'Ongoing') return;
      await this.save(this.begin(record, { partitions: [...this.ongoingPartitions(record), ...added] }));
    });
  }

  addGroup(producer: TransactionalProducer, groupId: string): Promise<void> {
    return this.queued(producer.transactionalId, async () => {
      const record = this.current(producer);
      if (record.state === 'Ongoing' && record.prepared) throw preparedAlready(record);
      const groups = record.state === 'Ongoing' ? record.groups : [];
      if (record.state === 'Ongoing' && groups.some((g) => g.groupId === groupId)) return;
      await this.save(this.begin(record, { groups: [...groups, { groupId, offsets: [] }] }));
    });
  }

  commitOffsets(producer: TransactionalProducer, groupId: string, offsets: readonly OffsetCommit[]): Promise<void> {
    return this.queued(producer.transactionalId, async () => {
      const record = this.current(producer);
      const group = record.state === 'Ongoing' ? record.groups.find((g) => g.groupId === groupId) : undefined;
      if (group === undefined) {
        throw new SluiceError(
          'INVALID_TXN_STATE',
          `transactional id ${producer.transactionalId}: offsets for group ${groupId} before AddOffsetsToTxn added the group`,
          { transactionalId: producer.transactionalId, groupId },
        );
      }
      for (const o of offsets) {
        if (!Number.isSafeInteger(o.offset) || o.offset < 0) {
          throw new SluiceError('INVALID_COMMIT_OFFSET', `invalid offset ${o.offset} for ${o.topic}-${o.partition}`, {
            ...o,
          });
        }
      }
      // Kept with the record, made durable with it at the latest when EndTxn prepares the commit: an offset
      // commit of an open transaction that a crash loses belonged to a transaction the crash aborts anyway.
      const merged = group.offsets.filter(
        (o) => !offsets.some((n) => n.topic === o.topic && n.partition === o.partition),
      );
      group.offsets = [...merged, ...offsets.map((o) => ({ ...o }))];
      record.updateTimeMs = Date.now();
    });
  }

  prepare(producer: TransactionalProducer): Promise<void> {
    return this.queued(producer.transactionalId, async () => {
      const record = this.current(producer);
      if (record.state !== 'Ongoing') {
        throw new SluiceError(
          'INVALID_TXN_STATE',
          `transactional id ${producer.transactionalId} has no open transaction to prepare (state ${record.state})`,
          { transactionalId: producer.transactionalId, state: record.state },
        );
      }
      if (!record.prepared) await this.save({ ...record, prepared: true, updateTimeMs: Date.now() });
    });
  }

  endTransaction(producer: TransactionalProducer, commit: boolean): Promise<void> {
    return this.queued(producer.transactionalId, async () => {
      const record = this.current(producer);
      const completed = commit ? 'CompleteCommit' : 'CompleteAbort';
      if (record.state === (commit ? 'PrepareCommit' : 'PrepareAbort')) return this.complete(record); // interrupted
      if (record.state === completed) return; // a retried EndTxn whose answer was lost
      if (record.state !== 'Ongoing') {
        throw new SluiceError(
          'INVALID_TXN_STATE',
          `transactional id ${producer.transactionalId} has no open transaction to ${commit ? 'commit' : 'abort'} (state ${record.state})`,
          { transactionalId: producer.transactionalId, state: record.state },
        );
      }
      await this.end(record, commit);
    });
  }

  completePrepared(producer: TransactionalProducer, commit: boolean): Promise<boolean> {
    return this.queued(producer.transactionalId, async () => {
      const record = this.records.get(producer.transactionalId);
      if (record === undefined) return false;
      const { producerId, producerEpoch } = producer;
      if (record.producerId === producerId && record.producerEpoch === producerEpoch) {
        if (record.state === 'Ongoing') await this.end(record, commit);
        else if (record.state === 'PrepareCommit' || record.state === 'PrepareAbort') await this.complete(record);
        const outcome = this.records.get(producer.transactionalId)!.state;
        return outcome === (commit ? 'CompleteCommit' : 'CompleteAbort');
      }
      const ended = record.ended?.find((e) => e.producerId === producerId && e.producerEpoch === producerEpoch);
      return ended !== undefined && ended.committed === commit;
    });
  }

  verifyPartition(producer: TransactionalProducer, topic: string, partition: number): void {
    const record = this.current(producer);
    const listed =
      record.state === 'Ongoing' &&
      !record.prepared &&
      record.partitions.some((p) => p.topic === topic && p.partition === partition);
    if (!listed) {
      throw new SluiceError(
        'INVALID_TXN_STATE',
        `transactional id ${producer.transactionalId} wrote to ${topic}-${partition} without adding it to its transaction`,
        { transactionalId: producer.transactionalId, topic, partition },
      );
    }
  }

  describe(transactionalId: string): TransactionDescription | undefined {
    const r = this.records.get(transactionalId);
    return r === undefined ? undefined : describe(r);
  }

  list(): TransactionDescription[] {
    return [...this.records.values()].map(describe);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.queues.values()]);
    await this.journal.close();
  }

  /** Runs `work` after every earlier request for the same transactional id. */
  private queued<T>(transactionalId: string, work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SluiceError('LOG_CLOSED', 'the log is closed'));
    const previous = this.queues.get(transactionalId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => {});
    this.queues.set(transactionalId, settled);
    void settled.then(() => {
      if (this.queues.get(transactionalId) === settled) this.queues.delete(transactionalId);
    });
    return next;
  }

  /** The id's record, if `producer` is its current instance. */
  private current(producer: TransactionalProducer): TxnRecord {
    const record = this.records.get(producer.transactionalId);
    if (record === undefined || record.producerId !== producer.producerId) {
      throw new SluiceError(
        'INVALID_PRODUCER_ID_MAPPING',
        `transactional id ${producer.transactionalId} is not mapped to producer id ${producer.producerId}; call InitProducerId first`,
        { transactionalId: producer.transactionalId, producerId: producer.producerId },
      );
    }
    if (producer.producerEpoch !== record.producerEpoch) {
      throw fenced(record, producer.producerId, producer.producerEpoch);
    }
    return record;
  }

  private ongoingPartitions(record: TxnRecord): TopicPartition[] {
    return record.state === 'Ongoing' ? record.partitions : [];
  }

  /** The record with a transaction open (a new one when none was), and `changes`. */
  private begin(record: TxnRecord, changes: Partial<TxnRecord>): TxnRecord {
    if (record.state === 'PrepareCommit' || record.state === 'PrepareAbort') {
      throw new SluiceError(
        'CONCURRENT_TRANSACTIONS',
        `transactional id ${record.transactionalId} is still completing its last transaction`,
        { transactionalId: record.transactionalId },
      );
    }
    const now = Date.now();
    const fresh = record.state !== 'Ongoing';
    return {
      ...record,
      state: 'Ongoing',
      partitions: fresh ? [] : record.partitions,
      groups: fresh ? [] : record.groups,
      startTimeMs: fresh ? now : record.startTimeMs,
      prepared: false,
      ...changes,
      updateTimeMs: now,
    };
  }

  /** The next epoch of the record's producer (a new producer id once the epochs run out). */
  private bump(record: TxnRecord): TxnRecord {
    if (record.producerEpoch >= MAX_EPOCH) return { ...record, producerId: this.newProducerId(), producerEpoch: 0 };
    return { ...record, producerEpoch: record.producerEpoch + 1 };
  }

  /** Prepares (durably), writes the markers, and completes the transaction. */
  private async end(record: TxnRecord, commit: boolean): Promise<void> {
    const prepared: TxnRecord = {
      ...record,
      state: commit ? 'PrepareCommit' : 'PrepareAbort',
      updateTimeMs: Date.now(),
    };
    await this.save(prepared);
    await this.complete(prepared);
  }

  /** Writes the markers of a prepared transaction (again, after a crash: a repeated marker writes nothing). */
  private async complete(record: TxnRecord): Promise<void> {
    const commit = record.state === 'PrepareCommit';
    const type = commit ? 'commit' : 'abort';
    await Promise.all(
      record.partitions.map(async ({ topic, partition }) => {
        try {
          await this.log.writeMarker(topic, partition, {
            producerId: record.producerId,
            producerEpoch: record.producerEpoch,
            type,
          });
        } catch (error) {
          // A deleted topic has no reader left to protect; anything else must not be skipped.
          if (!(error instanceof SluiceError && error.code === 'UNKNOWN_TOPIC_OR_PARTITION')) throw error;
        }
      }),
    );
    if (commit) {
      for (const group of record.groups) {
        if (group.offsets.length > 0) await this.log.groups.commit(group.groupId, group.offsets);
      }
    }
    const ended = [
      ...(record.ended ?? []),
      { producerId: record.producerId, producerEpoch: record.producerEpoch, committed: commit },
    ].slice(-ENDED_KEPT);
    await this.save({
      ...record,
      state: commit ? 'CompleteCommit' : 'CompleteAbort',
      prepared: false,
      ended,
      partitions: [],
      groups: [],
      updateTimeMs: Date.now(),
    });
  }

  private async save(record: TxnRecord): Promise<void> {
    this.records.set(record.transactionalId, record);
    await this.journal.write(record);
    this.journal.compactIfLarge(() => [...this.records.values()]);
  }

  /** Aborts (with an epoch bump, fencing the producer) every transaction open longer than its timeout. */
  private abortTimedOut(): void {
    const now = Date.now();
    for (const record of this.records.values()) {
      if (record.state !== 'Ongoing' || record.prepared || now - record.startTimeMs <= record.timeoutMs) continue;
      const { transactionalId, producerId, producerEpoch } = record;
      this.queued(transactionalId, async () => {
        const latest = this.records.get(transactionalId);
        if (latest?.state !== 'Ongoing' || latest.producerEpoch !== producerEpoch) return;
        this.logger.warn(
          { transactionalId, producerId, producerEpoch, timeoutMs: latest.timeoutMs },
          'aborting a transaction that ran past its timeout',
        );
        await this.end(this.bump(latest), false);
      }).catch((error: unknown) => {
        this.logger.error({ err: error, transactionalId }, 'could not abort a timed-out transaction');
      });
    }
  }
}

function validateId(transactionalId: string): void {
  if (typeof transactionalId !== 'string' || transactionalId.length === 0 || transactionalId.length > 32_767) {
    throw new SluiceError('INVALID_REQUEST', 'a transactional id must be a non-empty string', { transactionalId });
  }
}

function preparedAlready(record: TxnRecord): SluiceError {
  return new SluiceError(
    'INVALID_TXN_STATE',
    `transactional id ${record.transactionalId} prepared its transaction: it can only commit or abort it now`,
    { transactionalId: record.transactionalId },
  );
}

function fenced(record: TxnRecord, producerId: number, producerEpoch: number): SluiceError {
  return new SluiceError(
    'PRODUCER_FENCED',
    `producer ${producerId} epoch ${producerEpoch} of transactional id ${record.transactionalId} is fenced: the current epoch is ${record.producerEpoch}`,
    { transactionalId: record.transactionalId, producerId, producerEpoch, currentEpoch: record.producerEpoch },
  );
}

function describe(r: TxnRecord): TransactionDescription {
  return {
    transactionalId: r.transactionalId,
    producerId: r.producerId,
    producerEpoch: r.producerEpoch,
    state: r.state,
    timeoutMs: r.timeoutMs,
    startTimeMs: r.startTimeMs,
    prepared: r.prepared === true,
    partitions: r.partitions.map((p) => ({ ...p })),
  };
}
