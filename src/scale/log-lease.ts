// A task's lease kept in the log, beside its checkpoints (the task's partition of `<pipeline>-checkpoints`), for
// members on hosts that share no filesystem: the lease records of key `<scope>/lease` — owner, sequence number,
// held or released — form a compare-and-set register. Replaying them in offset order, a record counts only if its
// sequence number is above the last one that counted, so of two records written against the same state (two
// newcomers claiming at once, or a claim racing the holder's renewal) the first in the log wins, and every reader
// agrees which. The holder renews every third of the lease period; a newcomer claims once the lease is released,
// or once it has seen no record count for the lease period on its own clock (hosts' clocks need not agree).
// The handshake a rebalance lacks comes from the log's order: the old owner's last checkpoint is appended before
// its release, so a newcomer that has read the release has read the checkpoint.
import os from 'node:os';
import { threadId } from 'node:worker_threads';
import type { KeyedPartition } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import { sleep } from '../runtime/index.ts';
import type { LeaseOptions, TaskLeaseLike } from './lease.ts';

interface LeaseRecord {
  owner: string;
  seq: number;
  state: 'held' | 'released';
  /** The writer's clock, for people reading the topic (not compared across hosts). */
  at: number;
}

let claims = 0;

export class LogTaskLease implements TaskLeaseLike {
  readonly owner: string;
  readonly key: string;
  private readonly keyed: KeyedPartition;
  private readonly leaseMs: number;
  private readonly clock: () => number;
  /** The last record that counted, and when (on this clock) it was read. */
  private current: LeaseRecord = { owner: '', seq: 0, state: 'released', at: 0 };
  private changedAt: number;
  private renewTimer: NodeJS.Timeout | undefined;
  private renewal: Promise<void> | undefined;

  constructor(keyed: KeyedPartition, scope: string, options: LeaseOptions = {}) {
    this.keyed = keyed;
    this.key = `${scope}/lease`;
    this.owner = `${os.hostname()}:${process.pid}:${threadId}:${++claims}:${Math.random().toString(36).slice(2, 8)}`;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.clock = options.clock ?? Date.now;
    this.changedAt = this.clock();
    keyed.onRecord((record) => {
      if (record.key?.toString() !== this.key || record.value === null) return;
      let lease: LeaseRecord;
      try {
        lease = JSON.parse(record.value.toString()) as LeaseRecord;
      } catch {
        return;
      }
      if (!(typeof lease.seq === 'number' && lease.seq > this.current.seq)) return;
      this.current = lease;
      this.changedAt = this.clock();
    });
  }

  /** The holder as the records read so far say, if held and alive (renewed within the lease period, as seen here). */
  holder(): { owner: string } | undefined {
    const { current } = this;
    if (current.state !== 'held') return undefined;
    if (current.owner !== this.owner && this.clock() - this.changedAt > this.leaseMs) return undefined;
    return { owner: current.owner };
  }

  private mine(): boolean {
    return this.current.state === 'held' && this.current.owner === this.owner;
  }

  private async write(state: LeaseRecord['state']): Promise<void> {
    const record: LeaseRecord = { owner: this.owner, seq: this.current.seq + 1, state, at: Date.now() };
    await this.keyed.append([{ key: this.key, value: Buffer.from(JSON.stringify(record)) }], true);
    await this.keyed.catchUp();
  }

  async acquire(signal: AbortSignal, onLost: () => void): Promise<void> {
    for (;;) {
      if (signal.aborted) throw new SluiceError('ABORTED', `gave up waiting for the lease ${this.key}`);
      try {
        await this.keyed.catchUp();
        if (this.mine()) break; // a claim of ours that a failed append reported lost after all
        if (this.holder() === undefined) {
          await this.write('held');
          if (this.mine()) break;
        }
      } catch {
        // the log out of reach for a moment: try again (the lease cannot be ours without a record in it)
      }
      await sleep(100);
    }
    this.renewTimer = setInterval(
      () => {
        if (this.renewal !== undefined) return;
        this.renewal = (async () => {
          await this.keyed.catchUp();
          if (this.mine()) await this.write('held');
          if (!this.mine()) {
            this.stopRenewing();
            onLost();
          }
        })()
          .catch(() => {})
          .finally(() => {
            this.renewal = undefined;
          });
      },
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
  }

  /** Throws unless the lease is still this member's, as the log says now (before a checkpoint counts). */
  async verify(): Promise<void> {
    await this.keyed.catchUp();
    if (!this.mine()) {
      throw new SluiceError('ABORTED', `lease ${this.key} is no longer ${this.owner}'s: another member took the task`);
    }
  }

  /** Lets go after the task's last checkpoint: appended after it, so the next owner reads that checkpoint first. */
  async release(): Promise<void> {
    this.stopRenewing();
    await this.renewal;
    try {
      await this.keyed.catchUp();
      if (this.mine()) await this.write('released');
    } catch {
      // the log is unreachable: the lease expires instead
    }
  }

  private stopRenewing(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }
}
