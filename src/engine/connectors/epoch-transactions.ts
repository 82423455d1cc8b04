// An exactly-once sink's transactions on a log that has them (Flink's two-phase-commit sink, over Kafka's
// transactions): the writes between two checkpoint barriers form one transaction; at the barrier it is prepared
// (durable, kept open with no timeout) and recorded in the checkpoint; once the checkpoint is durable it commits.
// Readers that read committed (Kafka consumers with isolation.level=read_committed, engine sources) never see an
// epoch's output before the checkpoint that covers it completes, so a crash never takes back what they saw.
//
// A prepared transaction commits only after the checkpoint file is written, while the next epoch's writes flow:
// those go into another transaction, of another transactional id from a small pool (`<prefix><n>`), as Flink's
// sink does. Recovery commits what the restored checkpoint recorded as prepared, then opens every id of the pool
// again, which fences the crashed instance's writers and aborts whatever else they left open.
import type { PipelineLog, PreparedTransaction, TransactionalWriter } from '../../contracts/index.ts';
import type { LogRecord } from '../../log/index.ts';
import { createLogger } from '../../logger.ts';

interface PendingCommit {
  checkpointId: number;
  writer: TransactionalWriter;
  prepared: PreparedTransaction;
}

export class EpochTransactions {
  private readonly log: PipelineLog;
  private readonly prefix: string;
  private readonly free: TransactionalWriter[] = [];
  private current: Promise<TransactionalWriter> | undefined;
  private pending: PendingCommit[] = [];
  private poolSize = 0;
  /** Prepared transactions recovery found already resolved by a later instance (their output may be gone). */
  lost = 0;

  constructor(log: PipelineLog, prefix: string) {
    this.log = log;
    this.prefix = prefix;
  }

  /** The transactional ids of this sink's writers start with it. */
  get idPrefix(): string {
    return this.prefix;
  }

  /** Appends to the open epoch's transaction. */
  async append(topic: string, partition: number, records: readonly LogRecord[]): Promise<void> {
    const writer = await this.writer();
    await writer.append(topic, partition, records);
  }

  /**
   * At a checkpoint's barrier (every write before it acknowledged): prepares the epoch's transaction and returns
   * every transaction prepared and not yet committed, for the checkpoint to record (normally just this one; more
   * after a checkpoint failed once its sinks had prepared).
   */
  async prepare(checkpointId: number): Promise<PreparedTransaction[]> {
    const current = this.current;
    this.current = undefined;
    if (current !== undefined) {
      const writer = await current;
      const prepared = await writer.prepare();
      if (prepared === null) this.free.push(writer);
      else this.pending.push({ checkpointId, writer, prepared });
    }
    return this.pending.map((p) => p.prepared);
  }

  /** Once checkpoint `checkpointId` is durable: commits every transaction it (or an earlier one) prepared. */
  async commit(checkpointId: number): Promise<void> {
    const due = this.pending.filter((p) => p.checkpointId <= checkpointId);
    this.pending = this.pending.filter((p) => p.checkpointId > checkpointId);
    for (const { writer } of due) {
      await writer.commit();
      this.free.push(writer);
    }
  }

  /**
   * Before any write: commits what the restored checkpoint prepared (undefined: nothing was restored), then opens
   * every writer of the pool, fencing earlier instances and aborting what they left open.
   */
  async recover(prepared: readonly PreparedTransaction[] | undefined): Promise<void> {
    const log = this.log;
    for (const txn of prepared ?? []) {
      if (await log.completePrepared!(txn, true)) continue;
      this.lost++;
      createLogger('engine').error(
        { transactionalId: txn.transactionalId, producerId: txn.producerId, producerEpoch: txn.producerEpoch },
        'a transaction the restored checkpoint prepared was resolved by a later run: restoring an older checkpoint ' +
          'than the last one lost the output of that epoch',
      );
    }
    const ids = (await log.transactionalIds!(this.prefix)).sort();
    for (const id of ids) {
      const n = Number(id.slice(this.prefix.length));
      if (Number.isSafeInteger(n) && n >= this.poolSize) this.poolSize = n + 1;
    }
    for (let n = 0; n < this.poolSize; n++) this.free.push(await log.openTransactionalWriter!(`${this.prefix}${n}`));
  }

  /**
   * Aborts the open epoch's transaction (a stop without a final checkpoint: its records are replayed next time);
   * prepared ones stay prepared for the next run to commit.
   */
  async close(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current !== undefined) await (await current).abort();
  }

  private writer(): Promise<TransactionalWriter> {
    this.current ??= this.take();
    return this.current;
  }

  private async take(): Promise<TransactionalWriter> {
    const free = this.free.pop();
    if (free !== undefined) return free;
    return this.log.openTransactionalWriter!(`${this.prefix}${this.poolSize++}`);
  }
}
