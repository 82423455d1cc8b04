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
//
// Where opening a writer costs round trips to a cluster (`prefetch`: a Kafka cluster, whose writer opens with
// ListTransactions, then a producer of its own with FindCoordinator and InitProducerId), no epoch waits for one:
// recovery opens the first epoch's writer before the pipeline reads, while nothing else competes for the process,
// and the first epoch that writes opens the spare the next epoch takes while this one's transaction waits for its
// commit (the pool's second writer). Opening a writer early is opening it: it fences and aborts what earlier
// instances of its id left open, exactly as an open at the first append would.
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
  /** `prefetch`: the pool's next writer, opening while the epochs use the others (see the file comment). */
  private spare: Promise<TransactionalWriter> | undefined;
  /** A spare failed to open: the next epoch opens its writer when it needs one, as without prefetch. */
  private spareFailed = false;
  private readonly prefetch: boolean;
  /** Prepared transactions recovery found already resolved by a later instance (their output may be gone). */
  lost = 0;

  constructor(log: PipelineLog, prefix: string, options: { prefetch?: boolean } = {}) {
    this.log = log;
    this.prefix = prefix;
    this.prefetch = options.prefetch ?? false;
  }

  /** The transactional ids of this sink's writers start with it. */
  get idPrefix(): string {
    return this.prefix;
  }

  /** Appends to the open epoch's transaction. */
  async append(topic: string, partition: number, records: readonly LogRecord[]): Promise<void> {
    const writer = await this.writer();
    if (this.prefetch) this.keepSpare();
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
    const opened = await Promise.all(
      Array.from({ length: this.poolSize }, (_, n) => log.openTransactionalWriter!(`${this.prefix}${n}`)),
    );
    this.free.push(...opened);
    if (this.prefetch) await this.writer(); // the first epoch's, before the pipeline reads
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
    const spare = this.spare;
    this.spare = undefined;
    if (spare !== undefined) {
      try {
        return await spare;
      } catch {
        // opened when an epoch needs it, below
      }
    }
    return this.open();
  }

  private open(): Promise<TransactionalWriter> {
    return this.log.openTransactionalWriter!(`${this.prefix}${this.poolSize++}`);
  }

  /**
   * An epoch writes and no other writer is free or will be once a prepared transaction commits: opens the one the
   * next epoch will take, in the background (it joins the free writers once open).
   */
  private keepSpare(): void {
    if (this.spare !== undefined || this.spareFailed || this.free.length > 0 || this.pending.length > 0) return;
    const spare = this.open();
    this.spare = spare;
    spare.then(
      (writer) => {
        if (this.spare !== spare) return; // taken meanwhile
        this.spare = undefined;
        this.free.push(writer);
      },
      (error: unknown) => {
        if (this.spare === spare) this.spare = undefined;
        this.spareFailed = true;
        createLogger('engine').warn({ err: error, sink: this.prefix }, 'could not open a spare transactional writer');
      },
    );
  }
}
