// Who runs a partition task right now. A task's state moves between processes through its checkpoint directory,
// so two processes must never run the same task at once: the one taking it over would restore a checkpoint the
// other is about to supersede. Each task directory holds a lease file naming its owner; an owner renews it while it
// runs and removes it once its last checkpoint is durable. A newcomer waits until the lease is gone, or until its
// owner is certainly dead (a dead pid on this host) or has not renewed it for `leaseMs` (another host, on a shared
// directory). This is the handshake a Kafka rebalance does not give us: the group says who should run a task;
// the lease says when the previous owner has let go.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { SluiceError } from '../errors.ts';
import { isAlive, writeFileAtomic } from '../files.ts';
import { sleep } from '../runtime/index.ts';

export interface LeaseHolder {
  /** The member that holds it: `<host>:<pid>:<thread>:<n>`, unique per claim. */
  owner: string;
  host: string;
  pid: number;
  /** The worker thread (0: the main thread); a dead thread's leases are released by its process (see below). */
  thread: number;
  renewedAt: number;
}

export interface LeaseOptions {
  /** A lease not renewed for this long is abandoned (default 10 s). */
  leaseMs?: number;
  clock?: () => number;
}

/** What a task runner needs of a lease: a file in the task's directory (here) or records in the log (log-lease.ts). */
export interface TaskLeaseLike {
  readonly owner: string;
  /** Waits until the lease is free and takes it; `onLost` runs if another process takes it later. */
  acquire(signal: AbortSignal, onLost: () => void): Promise<void>;
  /** Lets go (after the task's last checkpoint): the next owner may start at once. */
  release(): Promise<void>;
}

let claims = 0;

export class TaskLease implements TaskLeaseLike {
  readonly file: string;
  readonly owner: string;
  private readonly leaseMs: number;
  private readonly clock: () => number;
  private renewTimer: NodeJS.Timeout | undefined;
  /** The renewal being written, if any: release() waits for it (see there). */
  private renewal: Promise<void> | undefined;

  constructor(dir: string, options: LeaseOptions = {}) {
    this.file = path.join(dir, 'LEASE');
    this.owner = `${os.hostname()}:${process.pid}:${threadId}:${++claims}`;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.clock = options.clock ?? Date.now;
  }

  /** The current holder, if the lease is held and alive. */
  holder(): LeaseHolder | undefined {
    let held: LeaseHolder;
    try {
      held = JSON.parse(fs.readFileSync(this.file, 'utf8')) as LeaseHolder;
    } catch {
      return undefined; // none, or half-written by a crash (written atomically, so only by hand)
    }
    if (held.owner === this.owner) return held;
    if (held.host === os.hostname() && !isAlive(held.pid)) return undefined;
    if (this.clock() - held.renewedAt > this.leaseMs) return undefined;
    return held;
  }

  /**
   * Waits until the lease is free, takes it and starts renewing it; `onLost` runs if another process takes it
   * (this one stalled beyond leaseMs), and the task must then stop at once, writing nothing more.
   */
  async acquire(signal: AbortSignal, onLost: () => void): Promise<void> {
    for (;;) {
      if (signal.aborted) throw new SluiceError('ABORTED', `gave up waiting for the lease ${this.file}`);
      if (this.holder() === undefined) {
        await this.write();
        // Two newcomers may have written at once: the rename that came last wins; the other backs off.
        await sleep(20);
        if (this.holder()?.owner === this.owner) break;
      }
      await sleep(100);
    }
    this.renewTimer = setInterval(
      () => {
        if (this.holder()?.owner !== this.owner) {
          this.stopRenewing();
          onLost();
          return;
        }
        // One renewal at a time: on a thread busy with long batches a write can outlast the period.
        if (this.renewal !== undefined) return;
        this.renewal = this.write()
          .catch(() => {})
          .finally(() => {
            this.renewal = undefined;
          });
      },
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
  }

  /** Lets go (after the task's last checkpoint): the next owner may start at once. */
  async release(): Promise<void> {
    this.stopRenewing();
    // A renewal still being written (several turns of a busy event loop: open, write, sync, rename) would land
    // after the removal and bring the lease back for an owner that has let go; the next owner would then wait it
    // out for leaseMs — in this process, whose pid is alive, always — while the task stood still.
    await this.renewal;
    if (this.holder()?.owner === this.owner) fs.rmSync(this.file, { force: true });
  }

  private stopRenewing(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  private write(): Promise<void> {
    const holder: LeaseHolder = {
      owner: this.owner,
      host: os.hostname(),
      pid: process.pid,
      thread: threadId,
      renewedAt: this.clock(),
    };
    return writeFileAtomic(this.file, Buffer.from(JSON.stringify(holder)));
  }
}

/**
 * Removes the leases a worker thread of this process held in `dirs` when the thread died without letting go: its
 * process is alive, so a newcomer could not tell the owner is gone until the lease expired.
 */
export function releaseThreadLeases(dirs: Iterable<string>, thread: number): number {
  let released = 0;
  for (const dir of dirs) {
    const file = path.join(dir, 'LEASE');
    let held: LeaseHolder;
    try {
      held = JSON.parse(fs.readFileSync(file, 'utf8')) as LeaseHolder;
    } catch {
      continue;
    }
    if (held.host === os.hostname() && held.pid === process.pid && held.thread === thread) {
      fs.rmSync(file, { force: true });
      released++;
    }
  }
  return released;
}
