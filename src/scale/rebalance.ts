// Lag-aware task moves between the task threads of one process (`sluice run --parallelism N`).
//
// Threads get their tasks balanced by the records the partitions hold, but they do not run equally fast: the
// owner, V8's helpers and the kernel take their turns on one core more than on another, and a thread's tasks may
// simply cost more per record. Catching up on a backlog (a replay, a backfill, a restart after downtime) ends only
// when the last thread is through, so the owner watches each thread's backlog (the log's end minus what the
// thread has read) and pace, and when one thread would finish well after another it moves tasks from the later
// to the earlier one — those that bring their finishing times closest. A task's state moves through its last
// checkpoint, as on any rescale. In a steady stream every backlog is near zero, so nothing moves.

export interface ThreadLoad {
  /** The partition tasks the thread runs. */
  partitions: readonly number[];
  /** Records per second the thread reads while it has a backlog (undefined: not measured yet). */
  capacity: number | undefined;
}

export interface TaskMove {
  /** The tasks that move, by partition. */
  partitions: number[];
  from: number;
  to: number;
}

export interface MovePolicy {
  /** A move must bring the last thread's finish this much closer (seconds)... */
  minGainSeconds: number;
  /**
   * ...and by this fraction of the time it has left: paces are estimates (they wobble with collections, compiles
   * and what else runs), and a move on a small difference is as likely to be undone by the next.
   */
  minGainFraction: number;
  /** What a move costs the moved tasks: their last checkpoint, the leases handed over, the restore (seconds). */
  moveSeconds: number;
  /**
   * No move once the last thread would be through within this (seconds): near the end the owner's view (pages
   * read ahead: two per task, a tenth of a second or more of a thread's work) runs ahead of the work done, and a
   * move made on it can overshoot.
   */
  minFinishSeconds: number;
  /** No move in the threads' first seconds: their code is still compiling, their paces say little yet. */
  settleSeconds: number;
  /** A move is made once the same threads have called for it this long (a pace that wobbles does not). */
  confirmSeconds: number;
  /** A task that moved stays where it is this long (back and forth gains nothing). */
  movedSettleSeconds: number;
}

export const DEFAULT_MOVE_POLICY: MovePolicy = {
  minGainSeconds: 0.1,
  minGainFraction: 0.2,
  moveSeconds: 0.05,
  minFinishSeconds: 2,
  settleSeconds: 2,
  confirmSeconds: 1,
  movedSettleSeconds: 3,
};

/**
 * The move that best evens out when the threads finish their backlogs — tasks of the thread that would finish last
 * to the one that would finish first —, or undefined when none would pay by `policy` (gain, end in sight) or a
 * thread's pace is not known yet. `lag(p)` is partition p's backlog in records; `movable(p)` rules out tasks that
 * just moved or started.
 * Tasks are whole, so a move pays only once the gap is larger than a task's backlog: typically when one thread
 * is nearly through and the other still has several tasks' worth to go, or when some tasks cost far more per
 * record than others.
 */
export function planMove(
  threads: readonly ThreadLoad[],
  lag: (partition: number) => number,
  movable: (partition: number) => boolean = () => true,
  policy: MovePolicy = DEFAULT_MOVE_POLICY,
): TaskMove | undefined {
  if (threads.length < 2) return undefined;
  const backlog = threads.map((t) => t.partitions.reduce((n, p) => n + lag(p), 0));
  const finish: number[] = [];
  for (let i = 0; i < threads.length; i++) {
    const capacity = threads[i]!.capacity;
    if (backlog[i]! === 0) finish.push(0);
    else if (capacity === undefined || capacity <= 0)
      return undefined; // a thread not measured yet: no basis
    else finish.push(backlog[i]! / capacity);
  }
  const from = finish.indexOf(Math.max(...finish));
  const to = finish.indexOf(Math.min(...finish));
  if (from === to || finish[from]! < policy.minFinishSeconds) return undefined;
  const slow = threads[from]!;
  // A thread through its backlog before it was measured: as fast as the slow one, at least (same pipeline).
  const fast = { ...threads[to]!, capacity: threads[to]!.capacity ?? slow.capacity };
  // When both threads would be through if `records` moved (the moved tasks pause while they move).
  const after = (records: number) =>
    Math.max(
      (backlog[from]! - records) / slow.capacity!,
      (backlog[to]! + records) / fast.capacity! + policy.moveSeconds,
    );
  // Largest backlog first, each task taken while it brings the finish closer. The thread keeps one task with a
  // backlog at least: moving all of it would gain only by the two threads' paces, and those were read on different
  // tasks (a thread that ran costly tasks reads slower than one that ran cheap ones, on any core) — the task would
  // go back and forth between threads that have nothing else to do, restored each time.
  const backlogged = slow.partitions.filter((p) => lag(p) > 0);
  const candidates = backlogged
    .filter((p) => movable(p))
    .sort((a, b) => lag(b) - lag(a) || a - b)
    .slice(0, backlogged.length - 1);
  const partitions: number[] = [];
  let moved = 0;
  for (const p of candidates) {
    if (after(moved + lag(p)) < (partitions.length === 0 ? finish[from]! : after(moved))) {
      partitions.push(p);
      moved += lag(p);
    }
  }
  const needed = Math.max(policy.minGainSeconds, policy.minGainFraction * finish[from]!);
  if (partitions.length === 0 || after(moved) > finish[from]! - needed) return undefined;
  return { partitions: partitions.sort((a, b) => a - b), from, to };
}

/** The weight of the newest reading in a thread's smoothed pace. */
const PACE_WEIGHT = 0.25;

/**
 * What each thread has read, from the owner's side of the channel: where each partition's reads have got to, and
 * each thread's pace while it has a backlog (a thread that has caught up reads only what arrives, which says
 * nothing of how fast it could go, so its last busy pace stands).
 */
export class ReadProgress {
  private readonly positions = new Map<string, number>();
  private readonly read: number[];
  private readonly capacities: (number | undefined)[];
  private last: { at: number; read: number[]; backlog: number[] } | undefined;

  constructor(threads: number) {
    this.read = new Array<number>(threads).fill(0);
    this.capacities = new Array<number | undefined>(threads).fill(undefined);
  }

  /** Thread `thread` asked for `topic`/`partition` from `offset`: what it asked for before is read. */
  reading(thread: number, topic: string, partition: number, offset: number): void {
    const key = `${partition}:${topic}`;
    const before = this.positions.get(key);
    // A task restored elsewhere may read again from its checkpoint, behind where its reads had got to.
    if (before !== undefined && offset > before) this.read[thread]! += offset - before;
    this.positions.set(key, offset);
  }

  /** Where reads of the partition have got to (undefined: not read since the threads started). */
  position(topic: string, partition: number): number | undefined {
    return this.positions.get(`${partition}:${topic}`);
  }

  /**
   * Takes a reading at `now` (ms) of each thread's backlog (records): a thread that had a backlog left at both
   * readings read as fast as it could in between, and that pace becomes its capacity (smoothed).
   */
  sample(now: number, backlog: readonly number[]): void {
    const last = this.last;
    this.last = { at: now, read: [...this.read], backlog: [...backlog] };
    if (last === undefined || now <= last.at) return;
    for (let i = 0; i < this.read.length; i++) {
      const read = this.read[i]! - last.read[i]!;
      // A reading in which the thread asked for no page counts too (pages come whole: reads are lumpy).
      if (last.backlog[i]! <= read || backlog[i]! <= 0) continue;
      const pace = (read * 1000) / (now - last.at);
      const before = this.capacities[i];
      // Smoothed over about a second of readings: one reading is a few pages, give or take one.
      this.capacities[i] = before === undefined ? pace : (1 - PACE_WEIGHT) * before + PACE_WEIGHT * pace;
    }
  }

  capacity(thread: number): number | undefined {
    return this.capacities[thread];
  }
}
