// Keyed operator state as typed tables (Arroyo declares operator state as tables): one key → one value, with an
// optional time to live in event or processing time, snapshots to plain structured-cloneable columns, and an entry
// count for the state-size metric. Windows, joins, sessions, rolling aggregates and keyed-process state all keep
// their keyed state in these, so that checkpoints (and, later, incremental ones) and metrics have one home.
//
// Without a TTL a table is a Map and costs what a Map costs (the hot paths of windows and joins read and write
// through it). With one, each entry also has a time: the time of its last write (processing time, or the event
// time the writer passes), and it reads as absent once the table's clock (the wall clock, or the watermark) is
// `ttl` past it. Expired entries are dropped as they are read and by expire(), which visits only the keys due.
import { fromColumns, type MapColumns, toColumns } from './checkpoint/columns.ts';
import { MinHeap } from './heap.ts';

export interface StateTtl {
  /** Entries not written for this long (ms) read as absent and are dropped. */
  readonly ms: number;
  /** Whose time: the wall clock (since the last write), or event time (the watermark past the written time). */
  readonly time: 'processing' | 'event';
}

export interface StateTableOptions {
  ttl?: StateTtl;
  /**
   * The table's clock, which a TTL counts against: processing time for a processing-time TTL, the current
   * watermark for an event-time one. Required with a TTL.
   */
  now?: () => number;
}

/** A table as checkpoints store it: key and value columns, and with a TTL each entry's time. */
export interface StateTableSnapshot<K, V> extends MapColumns<K, V> {
  times?: Float64Array;
}

/** With a TTL, what a table knows of an entry besides its value. */
interface Stamp {
  /** The time of the entry's last write. */
  time: number;
  /** The expiry it is queued at in the heap (entries at other priorities are stale). */
  queued: number;
}

export class StateTable<K, V> {
  private readonly map = new Map<K, V>();
  readonly ttl: StateTtl | undefined;
  private readonly now: () => number;
  /** With a TTL: each entry's stamp, and a heap of keys by expiry, checked when popped. */
  private stamps: Map<K, Stamp> | undefined;
  private expiries: MinHeap<K> | undefined;

  constructor(options: StateTableOptions = {}) {
    this.ttl = options.ttl;
    if (this.ttl !== undefined) {
      if (!(this.ttl.ms >= 0)) throw new RangeError(`a state TTL must be >= 0 ms, got ${this.ttl.ms}`);
      if (options.now === undefined) throw new TypeError('a state table with a TTL needs a clock (now)');
      this.stamps = new Map();
      this.expiries = new MinHeap();
    }
    this.now = options.now ?? (() => 0);
  }

  /** Entries held (expired ones count until they are dropped). */
  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    if (this.stamps === undefined) return this.map.get(key);
    return this.live(key) ? this.map.get(key) : undefined;
  }

  has(key: K): boolean {
    if (this.stamps === undefined) return this.map.has(key);
    return this.live(key);
  }

  /** Writes `value` for `key`. With a TTL, `time` is the write's time (default: the table's clock now). */
  put(key: K, value: V, time?: number): void {
    this.map.set(key, value);
    const stamps = this.stamps;
    if (stamps === undefined) return;
    const at = time ?? this.now();
    const expiry = at + this.ttl!.ms;
    const stamp = stamps.get(key);
    if (stamp === undefined) {
      stamps.set(key, { time: at, queued: expiry });
      this.expiries!.push(expiry, key);
      return;
    }
    stamp.time = at;
    // A later expiry is found when the queued one comes up; an earlier one (an older event time) is queued now.
    if (expiry < stamp.queued) {
      stamp.queued = expiry;
      this.expiries!.push(expiry, key);
    }
  }

  delete(key: K): boolean {
    this.stamps?.delete(key);
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
    if (this.stamps !== undefined) {
      this.stamps.clear();
      this.expiries = new MinHeap();
    }
  }

  /** The live entries, in the order their keys were first written. */
  entries(): IterableIterator<[K, V]> {
    return this.stamps === undefined ? this.map.entries() : this.liveEntries();
  }

  keys(): IterableIterator<K> {
    if (this.stamps === undefined) return this.map.keys();
    return (function* (entries) {
      for (const [key] of entries) yield key;
    })(this.liveEntries());
  }

  values(): IterableIterator<V> {
    if (this.stamps === undefined) return this.map.values();
    return (function* (entries) {
      for (const [, value] of entries) yield value;
    })(this.liveEntries());
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  /** The time of `key`'s last write (tables with a TTL). */
  timeOf(key: K): number | undefined {
    return this.stamps?.get(key)?.time;
  }

  /** Drops every entry past its TTL at `now` (default: the table's clock); returns how many went. */
  expire(now: number = this.now()): number {
    const { stamps, expiries, ttl } = this;
    if (stamps === undefined) return 0;
    let dropped = 0;
    while (expiries!.peekPriority() <= now) {
      const priority = expiries!.peekPriority();
      const key = expiries!.pop()!;
      const stamp = stamps.get(key);
      if (stamp === undefined || stamp.queued !== priority) continue; // deleted, or queued again since
      if (now - stamp.time >= ttl!.ms) {
        stamps.delete(key);
        this.map.delete(key);
        dropped++;
      } else {
        // Written again since it was queued: queue it at its new expiry.
        stamp.queued = stamp.time + ttl!.ms;
        expiries!.push(stamp.queued, key);
      }
    }
    return dropped;
  }

  /** The entries as columns (`encode` copies or converts each value; the table keeps its own). */
  snapshot<S = V>(encode?: (value: V, key: K) => S): StateTableSnapshot<K, S> {
    let source: ReadonlyMap<K, unknown> = this.map;
    if (encode !== undefined) {
      const encoded = new Map<K, S>();
      for (const [key, value] of this.map) encoded.set(key, encode(value, key));
      source = encoded;
    }
    const columns = toColumns(source) as StateTableSnapshot<K, S>;
    const stamps = this.stamps;
    if (stamps !== undefined) {
      const times = new Float64Array(this.map.size);
      let i = 0;
      this.map.forEach((_, key) => {
        times[i++] = stamps.get(key)?.time ?? Number.NEGATIVE_INFINITY;
      });
      columns.times = times;
    }
    return columns;
  }

  /**
   * Replaces the contents with a snapshot's (also a plain [key, value] pair list, as older checkpoints stored some
   * maps); `decode` turns each stored value back into the table's. Entries of a snapshot without times (taken
   * without a TTL) count as written now.
   */
  restore<S = V>(snapshot: StateTableSnapshot<K, S> | [K, S][], decode?: (stored: S, key: K) => V): void {
    const stored = fromColumns(snapshot);
    this.clear();
    const times = Array.isArray(snapshot) ? undefined : snapshot.times;
    const now = this.stamps === undefined ? 0 : this.now();
    let i = 0;
    for (const [key, value] of stored) {
      this.put(key, decode === undefined ? (value as unknown as V) : decode(value, key), times?.[i] ?? now);
      i++;
    }
  }

  /** Whether an entry is there and within its TTL; one past it is dropped. */
  private live(key: K): boolean {
    const stamp = this.stamps!.get(key);
    if (stamp === undefined) return false;
    if (this.now() - stamp.time < this.ttl!.ms) return true;
    this.stamps!.delete(key);
    this.map.delete(key);
    return false;
  }

  private *liveEntries(): IterableIterator<[K, V]> {
    const now = this.now();
    const ms = this.ttl!.ms;
    const stamps = this.stamps!;
    for (const entry of this.map) {
      const stamp = stamps.get(entry[0]);
      if (stamp !== undefined && now - stamp.time < ms) yield entry;
    }
  }
}
