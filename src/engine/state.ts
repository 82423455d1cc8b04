// Keyed state for user functions: value, map and list state scoped to the current key, with an optional time to
// live (processing time since the last write, like Flink's OnCreateAndWrite). Each named state is a state table
// (state-table.ts) from the key to its value, so that a checkpoint is one v8.serialize of `snapshot()`.

import { fromColumns, type MapColumns } from './checkpoint/columns.ts';
import { type Duration, toMillis } from './duration.ts';
import { StateTable, type StateTableSnapshot } from './state-table.ts';

export interface StateOptions {
  /** Entries not written for this long read as absent and are dropped. */
  ttl?: Duration;
}

export interface ValueState<S> {
  get(): S | undefined;
  set(value: S): void;
  clear(): void;
}

export interface MapState<MK, MV> {
  get(key: MK): MV | undefined;
  set(key: MK, value: MV): void;
  delete(key: MK): void;
  has(key: MK): boolean;
  entries(): [MK, MV][];
  clear(): void;
}

export interface ListState<E> {
  get(): E[];
  add(value: E): void;
  update(values: E[]): void;
  clear(): void;
}

export interface KeyedState {
  value<S>(name: string, options?: StateOptions): ValueState<S>;
  map<MK, MV>(name: string, options?: StateOptions): MapState<MK, MV>;
  list<E>(name: string, options?: StateOptions): ListState<E>;
}

/** A state's table: each key's value (a ValueState's value, a MapState's Map, a ListState's array). */
type Table = StateTable<unknown, unknown>;

/** What checkpoints written before state tables held per state: its TTL and entries with their write times. */
type LegacyTables = [string, number | undefined, MapColumns<unknown, { value: unknown; writtenAt: number }>][];

export class KeyedStateBackend<K> {
  private tables = new Map<string, Table>();
  private readonly handles = new Map<string, unknown>();
  currentKey!: K;

  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  private table(name: string, options: StateOptions | undefined): Table {
    let table = this.tables.get(name);
    if (!table) {
      table = this.newTable(options?.ttl === undefined ? undefined : toMillis(options.ttl, `ttl of state ${name}`));
      this.tables.set(name, table);
    }
    return table;
  }

  private newTable(ttlMs: number | undefined): Table {
    return new StateTable({ ttl: ttlMs === undefined ? undefined : { ms: ttlMs, time: 'processing' }, now: this.now });
  }

  private read(table: Table): unknown {
    return table.get(this.currentKey);
  }

  private write(table: Table, value: unknown): void {
    table.put(this.currentKey, value);
  }

  readonly api: KeyedState = {
    value: <S>(name: string, options?: StateOptions): ValueState<S> => {
      const cached = this.handles.get(`v:${name}`);
      if (cached) return cached as ValueState<S>;
      const table = this.table(name, options);
      const handle: ValueState<S> = {
        get: () => this.read(table) as S | undefined,
        set: (value) => this.write(table, value),
        clear: () => void table.delete(this.currentKey),
      };
      this.handles.set(`v:${name}`, handle);
      return handle;
    },
    map: <MK, MV>(name: string, options?: StateOptions): MapState<MK, MV> => {
      const cached = this.handles.get(`m:${name}`);
      if (cached) return cached as MapState<MK, MV>;
      const table = this.table(name, options);
      const current = (create: boolean): Map<MK, MV> | undefined => {
        let map = this.read(table) as Map<MK, MV> | undefined;
        if (!map && create) {
          map = new Map();
          this.write(table, map);
        }
        return map;
      };
      const handle: MapState<MK, MV> = {
        get: (k) => current(false)?.get(k),
        set: (k, v) => {
          current(true)!.set(k, v);
          this.write(table, current(false));
        },
        delete: (k) => void current(false)?.delete(k),
        has: (k) => current(false)?.has(k) ?? false,
        entries: () => [...(current(false) ?? [])],
        clear: () => void table.delete(this.currentKey),
      };
      this.handles.set(`m:${name}`, handle);
      return handle;
    },
    list: <E>(name: string, options?: StateOptions): ListState<E> => {
      const cached = this.handles.get(`l:${name}`);
      if (cached) return cached as ListState<E>;
      const table = this.table(name, options);
      const handle: ListState<E> = {
        get: () => [...((this.read(table) as E[] | undefined) ?? [])],
        add: (v) => {
          const list = (this.read(table) as E[] | undefined) ?? [];
          list.push(v);
          this.write(table, list);
        },
        update: (values) => this.write(table, [...values]),
        clear: () => void table.delete(this.currentKey),
      };
      this.handles.set(`l:${name}`, handle);
      return handle;
    },
  };

  /** Drops expired entries (called on processing-time ticks so that state stays bounded without reads). */
  expire(): void {
    const now = this.now();
    for (const table of this.tables.values()) table.expire(now);
  }

  size(): number {
    let n = 0;
    for (const table of this.tables.values()) n += table.size;
    return n;
  }

  snapshot(): unknown {
    return { tables: [...this.tables].map(([name, table]) => [name, table.ttl?.ms, table.snapshot()]) };
  }

  restore(state: unknown): void {
    this.tables = new Map();
    if (Array.isArray(state)) {
      // Written before state tables: each entry a { value, writtenAt } object.
      for (const [name, ttlMs, columns] of state as LegacyTables) {
        const table = this.newTable(ttlMs);
        for (const [key, entry] of fromColumns(columns)) table.put(key, entry.value, entry.writtenAt);
        this.tables.set(name, table);
      }
    } else {
      const { tables } = state as { tables: [string, number | undefined, StateTableSnapshot<unknown, unknown>][] };
      for (const [name, ttlMs, snapshot] of tables) {
        const table = this.newTable(ttlMs);
        table.restore(snapshot);
        this.tables.set(name, table);
      }
    }
    this.handles.clear();
  }
}
