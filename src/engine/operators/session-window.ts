// Session windows per key: a record opens [ts, ts + gap); overlapping sessions merge (also when a late record
// bridges two sessions that already fired: the later row is deleted and the earlier one updated). A session fires
// when the watermark reaches its end and is kept until end + allowed lateness.
import type { Aggregate } from '../aggregates/index.ts';
import { MinHeap } from '../heap.ts';
import { StateTable, type StateTableSnapshot } from '../state-table.ts';
import type { Batch, Operator, OperatorContext } from '../types.ts';
import type { WindowResult } from '../windows.ts';
import { LATE_TAG } from './window-aggregate.ts';

interface Session<Acc> {
  start: number;
  end: number;
  acc: Acc;
  /** Starts of rows this session (or sessions merged into it) emitted and has not deleted. */
  emitted: number[];
  fired: boolean;
  dirty: boolean;
  live: boolean;
}

export interface SessionWindowOptions<T, K, Acc, R> {
  key: (value: T) => K;
  gapMs: number;
  allowedLatenessMs: number;
  aggregate: Aggregate<T, Acc, R>;
}

export class SessionWindowOperator<T, K, Acc, R> implements Operator<T, WindowResult<K, R>> {
  readonly kind = 'window-session';
  private ctx!: OperatorContext<WindowResult<K, R>>;
  /** Per key, its sessions sorted by start. */
  private readonly sessions = new StateTable<K, Session<Acc>[]>();
  /** (end → session) to fire, and (end + lateness → session) to clean; entries are checked when popped. */
  private fireQueue = new MinHeap<{ key: K; session: Session<Acc> }>();
  private cleanQueue = new MinHeap<{ key: K; session: Session<Acc> }>();

  private readonly options: SessionWindowOptions<T, K, Acc, R>;

  constructor(options: SessionWindowOptions<T, K, Acc, R>) {
    this.options = options;
  }

  open(ctx: OperatorContext<WindowResult<K, R>>): void {
    this.ctx = ctx;
  }

  processBatch(batch: Batch<T>): void {
    const { key: keyOf, gapMs, allowedLatenessMs, aggregate } = this.options;
    const watermark = this.ctx.currentWatermark();
    for (let i = 0; i < batch.values.length; i++) {
      const value = batch.values[i]!;
      const ts = batch.timestamps[i]!;
      let key: K;
      try {
        key = keyOf(value);
      } catch (error) {
        this.ctx.deadLetter(error, value, ts);
        continue;
      }
      // Fast path (records in order): the record falls inside its key's latest session, not yet fired. Sessions of
      // a key are disjoint and sorted, so no other one can touch it; the session grows in place and its queue
      // entries are moved when they come up (see onWatermark).
      const latest = this.sessions.get(key);
      const last = latest?.[latest.length - 1];
      if (last !== undefined && !last.fired && last.start <= ts && ts < last.end) {
        try {
          last.acc = aggregate.add(last.acc, value);
        } catch (error) {
          this.ctx.deadLetter(error, value, ts);
          continue;
        }
        if (ts + gapMs > last.end) last.end = ts + gapMs;
        continue;
      }
      const list = latest ?? [];
      // Sessions this record touches: [ts, ts + gap) overlaps [start, end).
      const touching = list.filter((s) => s.start < ts + gapMs && ts < s.end);
      const start = Math.min(ts, ...touching.map((s) => s.start));
      const end = Math.max(ts + gapMs, ...touching.map((s) => s.end));
      if (end + allowedLatenessMs <= watermark) {
        this.ctx.emitSide(LATE_TAG, value, ts);
        this.ctx.countLate(1);
        continue;
      }
      let acc: Acc;
      try {
        acc = aggregate.add(aggregate.create(), value);
      } catch (error) {
        this.ctx.deadLetter(error, value, ts);
        continue;
      }
      for (const s of touching) acc = aggregate.merge(acc, s.acc);
      const merged: Session<Acc> = {
        start,
        end,
        acc,
        emitted: touching.flatMap((s) => s.emitted),
        fired: touching.some((s) => s.fired),
        dirty: true,
        live: true,
      };
      for (const s of touching) s.live = false;
      const rest = list.filter((s) => s.live);
      let at = rest.findIndex((s) => s.start > start);
      if (at < 0) at = rest.length;
      rest.splice(at, 0, merged);
      this.sessions.put(key, rest);
      this.fireQueue.push(end, { key, session: merged });
      this.cleanQueue.push(end + allowedLatenessMs, { key, session: merged });
      // A late record changing a session that is already due: emit the change now.
      if (end <= watermark) this.fire(key, merged);
    }
  }

  private fire(key: K, session: Session<Acc>): void {
    const { aggregate } = this.options;
    for (const start of session.emitted) {
      if (start === session.start) continue;
      // The row keyed by this start was merged into another session: it goes away.
      this.ctx.emit(
        { kind: 'delete', key, windowStart: start, windowEnd: start, value: aggregate.result(aggregate.create()) },
        session.end - 1,
      );
    }
    const kind = session.emitted.includes(session.start) ? 'update' : 'insert';
    this.ctx.emit(
      { kind, key, windowStart: session.start, windowEnd: session.end, value: aggregate.result(session.acc) },
      session.end - 1,
    );
    session.emitted = [session.start];
    session.fired = true;
    session.dirty = false;
  }

  onWatermark(watermark: number): number {
    while (this.fireQueue.size > 0 && this.fireQueue.peekPriority() <= watermark) {
      const entry = this.fireQueue.pop()!;
      const { key, session } = entry;
      if (!session.live) continue;
      // The session grew in place since it was queued: queue it again at its end.
      if (session.end > watermark) this.fireQueue.push(session.end, entry);
      else if (session.dirty) this.fire(key, session);
    }
    while (this.cleanQueue.size > 0 && this.cleanQueue.peekPriority() <= watermark) {
      const entry = this.cleanQueue.pop()!;
      const { key, session } = entry;
      if (!session.live) continue;
      if (session.end + this.options.allowedLatenessMs > watermark) {
        this.cleanQueue.push(session.end + this.options.allowedLatenessMs, entry);
        continue;
      }
      session.live = false;
      const rest = (this.sessions.get(key) ?? []).filter((s) => s.live);
      if (rest.length === 0) this.sessions.delete(key);
      else this.sessions.put(key, rest);
    }
    return watermark;
  }

  snapshot(): unknown {
    return this.sessions.snapshot((list) => list.map((s) => ({ ...s })));
  }

  /** Reads columns, or the [key, sessions] pairs of checkpoints written before state tables. */
  restore(state: unknown): void {
    this.sessions.restore(state as StateTableSnapshot<K, Session<Acc>[]> | [K, Session<Acc>[]][]);
    for (const [key, list] of this.sessions.entries()) {
      for (const s of list) {
        this.fireQueue.push(s.end, { key, session: s });
        this.cleanQueue.push(s.end + this.options.allowedLatenessMs, { key, session: s });
      }
    }
  }

  stateSize(): number {
    let n = 0;
    for (const list of this.sessions.values()) n += list.length;
    return n;
  }
}
