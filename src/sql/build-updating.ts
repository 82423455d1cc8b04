// The keyed-state operators of updating queries: a regular GROUP BY (each key's row re-emitted after each batch that
// changed it; a result read by another query retracts its previous row first, and a GROUP BY over such a result takes
// the retractions out of its aggregates) and a regular join (both sides kept per key, each record paired with the
// other side's records so far; a GROUP BY on a side's key may run inside it).
import type { BatchEnd, DataStream, KeyedContext, ValueState } from '../engine/index.ts';
import { type Acc, sqlAggregates } from './aggregates.ts';
import type { AggregateCall, QueryPlan } from './planner.ts';
import { KIND, type KindedRow, PREVIOUS, type Replacing, shuffle, withKind } from './rows.ts';
import type { Row, Value } from './types.ts';

const isDelete = (row: Row) => (row as KindedRow)[KIND] === 'delete';

/**
 * Before a retracting GROUP BY's WHERE and keyBy: an update whose replaced row has another key, or another WHERE
 * result, becomes the replaced row's retraction and the new row, each filtered and keyed on its own; the others stay
 * one record, retracted and added by one key's state.
 */
export function splitUpdates(
  stream: DataStream<Row>,
  keyOf: (row: Row) => Value,
  where: ((row: Row) => Value) | undefined,
): DataStream<Row> {
  return stream.process<Row>((row, ctx) => {
    const previous = (row as Replacing)[PREVIOUS];
    if (previous === undefined) return ctx.emit(row);
    const keepPrevious = where === undefined || where(previous) === true;
    const keepRow = where === undefined || where(row) === true;
    if (keepPrevious && keepRow && keyOf(previous) === keyOf(row)) return ctx.emit(row);
    (row as Replacing)[PREVIOUS] = undefined;
    if (keepPrevious) {
      (previous as KindedRow)[KIND] = 'delete';
      ctx.emit(previous);
    }
    if (keepRow) ctx.emit(row);
  });
}

/** A regular GROUP BY's work on its key's records, in whichever keyed operator holds the key's state. */
export interface GroupState {
  /**
   * Adds `row` to its key's aggregates (its row is emitted at the batch's end); true when it made the key's state.
   * With `slot`, the key's aggregates live there (a grouped join's state object of the key: one lookup, not three)
   * instead of in a keyed state of their own; a GROUP BY that takes no retractions only.
   */
  add(row: Row, ctx: KeyedContext<Value, KindedRow>, slot?: GroupSlot): boolean;
  /** Drops the key's aggregates (no row of the key can come any more). */
  clear(ctx: KeyedContext<Value, KindedRow>, slot?: GroupSlot): void;
  /** Emits the row of each key the batch changed: the operator's finishBatch. */
  finishBatch(out: BatchEnd<KindedRow>): void;
}

/** A key's aggregates kept in another state object of the key (checkpointed with it), and its batch's entry. */
export interface GroupSlot {
  g?: Acc[];
  /** Set while a batch lasts (a checkpoint falls between batches: never in one). */
  t?: Touched;
}

/** A key the current batch touched: its row before the batch, and its accumulators and time now. */
interface Touched {
  slot?: GroupSlot;
  keys: Value[];
  /** The key's result values before the batch (undefined: it had no row). */
  before: Value[] | undefined;
  /** Its accumulators now (undefined: its last row was retracted, the key deleted). */
  accs: Acc[] | undefined;
  timestamp: number;
}

/**
 * A GROUP BY's per-key state and what it emits: the key's accumulators (checkpointed), and its row once per batch
 * that changed it — Flink SQL's mini-batch aggregation (nexmark-flink runs with it on), with the engine's batch as
 * the bundle: no latency added (a batch ends before any watermark, timer or checkpoint), and the rows between are
 * updates a keyed table would overwrite anyway. A row read by another query that the batch left as it was is no
 * change, and is not emitted.
 */
export function groupState(
  query: QueryPlan,
  /** The GROUP BY expressions (their values read from a row: cheaper than decoding its key). */
  keyFns: readonly ((row: Row) => Value)[],
  project: (row: unknown) => KindedRow,
  derived: boolean,
): GroupState {
  const aggregate = sqlAggregates(query.aggregates);
  const retract = query.retracting ? retraction(query.aggregates) : undefined;
  // The projection reads the keys and values into its own row and keeps neither: one holder, refilled per row.
  const holder = { k: null as unknown as Value[], a: null as unknown as Value[], ws: null, we: null };
  // A row read by another query only needs to say that it is a retraction: a plain property, cheaper than
  // withKind's defineProperty (its rows never leave the SQL operators).
  const rowOf = (keys: Value[], values: Value[], kind: 'insert' | 'update' | 'delete') => {
    holder.k = keys;
    holder.a = values;
    const out = project(holder);
    if (!derived) return withKind(out, kind);
    if (kind === 'delete') out[KIND] = kind;
    return out;
  };
  // The state handles, looked up once per operator instance (a restarted pipeline has new state).
  let owner: unknown;
  let handle!: ValueState<Acc[]>;
  let counts!: ValueState<number>;
  const handles = (ctx: KeyedContext<Value, KindedRow>) => {
    if (owner === ctx.state) return;
    owner = ctx.state;
    handle = ctx.state.value<Acc[]>('aggregates');
    counts = ctx.state.value<number>('rows');
  };
  /** The keys this batch touched, in the order it first touched them; those kept in slots, in theirs. */
  const touched = new Map<Value, Touched>();
  const slotted: Touched[] = [];
  const current: Value[] = [];
  const touch = (row: Row, before: Acc[] | undefined, timestamp: number): Touched => {
    const keys = new Array<Value>(keyFns.length);
    for (let i = 0; i < keyFns.length; i++) keys[i] = keyFns[i]!(row);
    const values = before === undefined ? undefined : aggregate.resultInto(before, [] as Value[]);
    return { keys, before: values, accs: before, timestamp };
  };
  const emit = (out: BatchEnd<KindedRow>, entry: Touched) => {
    const { keys, before, accs, timestamp } = entry;
    if (accs === undefined) {
      // Its last row retracted: the key's row is deleted (if it had one before the batch).
      if (before !== undefined) out.emit(rowOf(keys, before, 'delete'), timestamp);
      return;
    }
    const values = aggregate.resultInto(accs, current);
    if (before === undefined) return out.emit(rowOf(keys, values, 'insert'), timestamp);
    // Unchanged by the batch (bids below an auction's maximum): no row.
    if (aggregate.sameResult(accs, before)) return;
    const row: Replacing = rowOf(keys, values, 'update');
    // Read by another query: the new row carries the one it replaces, retracted first.
    if (derived) row[PREVIOUS] = rowOf(keys, before, 'delete');
    out.emit(row, timestamp);
  };
  return {
    add(row, ctx, slot) {
      if (slot !== undefined) {
        const before = slot.g;
        let entry = slot.t;
        if (entry === undefined) {
          entry = touch(row, before, ctx.timestamp);
          entry.slot = slot;
          slot.t = entry;
          slotted.push(entry);
        } else entry.timestamp = ctx.timestamp;
        const accs = aggregate.add(before ?? aggregate.create(), row);
        entry.accs = accs;
        if (before !== undefined) return false;
        slot.g = accs; // changed in place from then on
        return true;
      }
      handles(ctx);
      const before = handle.get();
      let entry = touched.get(ctx.key);
      if (entry === undefined) touched.set(ctx.key, (entry = touch(row, before, ctx.timestamp)));
      else entry.timestamp = ctx.timestamp;
      let accs = before ?? aggregate.create();
      if (retract) {
        // An updating input: a retraction takes its row out; a key left without rows is deleted; an update
        // takes the row it replaces out and adds its own.
        const replaced = (row as Replacing)[PREVIOUS];
        const n = (counts.get() ?? 0) + (replaced ? 0 : isDelete(row) ? -1 : 1);
        if (replaced) accs = aggregate.add(retract(accs, replaced), row);
        else accs = isDelete(row) ? retract(accs, row) : aggregate.add(accs, row);
        if (n <= 0) {
          counts.clear();
          handle.clear();
          entry.accs = undefined;
          return false;
        }
        counts.set(n);
      } else accs = aggregate.add(accs, row);
      entry.accs = accs;
      if (before !== undefined) return false;
      handle.set(accs); // changed in place from then on
      return true;
    },
    clear(ctx, slot) {
      if (slot !== undefined) {
        slot.g = undefined;
        return;
      }
      handles(ctx);
      handle.clear();
      counts.clear();
    },
    finishBatch(out) {
      if (touched.size > 0) {
        for (const entry of touched.values()) emit(out, entry);
        touched.clear();
      }
      if (slotted.length > 0) {
        for (const entry of slotted) {
          entry.slot!.t = undefined;
          emit(out, entry);
        }
        slotted.length = 0;
      }
    },
  };
}

/** A regular GROUP BY: the key's accumulators in keyed state (checkpointed), its row emitted on each record. */
export function groupBy(
  stream: DataStream<Row>,
  query: QueryPlan,
  keyOf: (row: Row) => Value,
  /** The GROUP BY expressions (their values read from a row: cheaper than decoding its key). */
  keyFns: readonly ((row: Row) => Value)[],
  project: (row: unknown) => KindedRow,
  derived: boolean,
  /** The operator's uid: its rows move to their key's task through a repartition step of this name. */
  uid: string,
  /** When no row of a key can come any more (QueryPlan.partitionExpiry): its state is dropped once the watermark
   * passes that (a second later, after the join upstream forgot the row). */
  expiry?: (row: Row) => Value,
): DataStream<KindedRow> {
  const group = groupState(query, keyFns, project, derived);
  return stream.keyBy(keyOf, shuffle(uid)).process<KindedRow>({
    processElement(row, ctx) {
      if (!group.add(row, ctx) || expiry === undefined) return;
      const until = expiry(row);
      if (until !== null) ctx.timers.registerEventTimeTimer(coarse(until as number) + 1000);
    },
    onTimer(_timestamp, ctx) {
      group.clear(ctx);
    },
    finishBatch: (out) => group.finishBatch(out),
  });
}

/** Takes a row out of the accumulators of count, sum and avg (the planner allows no other over updating input). */
function retraction(calls: AggregateCall[]): (accs: Acc[], row: Row) => Acc[] {
  const parts = calls.map((call) => {
    const f = call.arg?.eval ?? (() => null);
    switch (call.fn) {
      case 'count_star':
        return (acc: Acc) => (acc as number) - 1;
      case 'count':
        return (acc: Acc, row: Row) => (f(row) === null ? acc : (acc as number) - 1);
      case 'sum':
        return (acc: Acc, row: Row) => {
          const v = f(row) as number | null;
          return v === null ? acc : ((acc as number | null) ?? 0) - v;
        };
      case 'avg':
        return (acc: Acc, row: Row) => {
          const v = f(row) as number | null;
          if (v !== null) {
            (acc as { s: number }).s -= v;
            (acc as { n: number }).n--;
          }
          return acc;
        };
      default:
        throw new Error(`${call.fn}() takes no retraction`); // refused by the planner
    }
  });
  return (accs, row) => {
    for (let i = 0; i < parts.length; i++) accs[i] = parts[i]!(accs[i]!, row);
    return accs;
  };
}

/** Each side's rows of a key, and when each expires (Infinity: never). */
interface Sides extends GroupSlot {
  l: Row[];
  r: Row[];
  le: number[];
  re: number[];
}

/** When a side's row expires (JoinPlan.expiry): the earliest of its time + afterTime and its expiry columns. */
export type Expiry = { afterTime?: number; columns: ((row: Row) => Value)[] };

/** Expiry timers on whole seconds: one per key and second, rows forgotten up to a second late (harmless). */
const coarse = (t: number) => Math.ceil(t / 1000) * 1000;

function expiryOf(e: Expiry | undefined): (row: Row, ts: number) => number {
  if (!e || (e.afterTime === undefined && e.columns.length === 0)) return () => Number.POSITIVE_INFINITY;
  const after = e.afterTime;
  const columns = e.columns;
  return (row, ts) => {
    let t = after === undefined ? Number.POSITIVE_INFINITY : ts + after;
    for (let i = 0; i < columns.length; i++) {
      const v = columns[i]!(row);
      if (v !== null && (v as number) < t) t = v as number;
    }
    return t;
  };
}

/**
 * A regular inner join: each side's rows kept per key; a record is paired with the other side's rows so far. A row
 * that no on-time row of the other side can match any more (`expiry`, from the join's time conditions: a bid can only
 * join an auction whose time is not after its own, an auction only bids up to its expiry) is forgotten when the
 * watermark passes that time; one already expired when it arrives is paired, not kept.
 *
 * With `group`, a GROUP BY on the PRIMARY KEY of the join's `side` runs in the join itself (its key is the join's:
 * the rows of a group are in this key's state already): each pair goes into the key's aggregates instead of out of
 * the operator, and the aggregates are dropped with the side's row. One keyed state and one timer per key instead of
 * two, and no record per pair between two operators (Nexmark q4's MAX per auction).
 */
export function regularJoin(
  left: DataStream<Row>,
  right: DataStream<Row>,
  leftKey: (row: Row) => Value,
  rightKey: (row: Row) => Value,
  uid: string,
  expiry?: { l: Expiry; r: Expiry },
  /** A side keyed on its declared PRIMARY KEY (JoinPlan.unique): once its row of a key came, the other side's rows
   * of the key are paired with it and not kept (those that came before it are dropped then). */
  unique?: { l: boolean; r: boolean },
  /** The query's WHERE over the joined row, applied as each pair is made (no filter step after the join). */
  where?: (row: Row) => Value,
  /** A GROUP BY keyed on `side`'s PRIMARY KEY, the join key of that side (QueryPlan.partitionKey), run here. */
  group?: { state: GroupState; side: 'l' | 'r' },
): DataStream<Row> {
  let owner: unknown;
  let state!: ValueState<Sides>;
  const leftExpiry = expiryOf(expiry?.l);
  const rightExpiry = expiryOf(expiry?.r);
  const uniqueL = unique?.l === true;
  const uniqueR = unique?.r === true;
  // A grouped join's pair is read by WHERE and the aggregates, and kept by neither: one object, refilled per pair.
  const scratch = { l: null as unknown as Row, r: null as unknown as Row };
  const grouped = group?.state;
  const pairUp = (l: Row, r: Row, ctx: KeyedContext<Value, Row>, s: Sides) => {
    scratch.l = l;
    scratch.r = r;
    const pair = scratch as unknown as Row;
    if (where !== undefined && where(pair) !== true) return;
    if (grouped) grouped.add(pair, ctx as KeyedContext<Value, KindedRow>, s);
    else ctx.emit({ l, r } as unknown as Row);
  };
  /** A grouped join whose `side` has no row of the key left: no pair of the key can come, its aggregates go. */
  const forgetGroup = (s: Sides | undefined, ctx: KeyedContext<Value, Row>) => {
    if (grouped && s !== undefined && s[group!.side].length === 0)
      grouped.clear(ctx as KeyedContext<Value, KindedRow>, s);
  };
  const sidesOf = (ctx: KeyedContext<Value, Row>): ValueState<Sides> => {
    if (owner !== ctx.state) {
      owner = ctx.state;
      state = ctx.state.value<Sides>('sides');
    }
    return state;
  };
  // Each side keyed (and, scaled out, moved to the task of its key) on its own; one two-input operator holds both.
  const leftKeyed = left.keyBy(leftKey, shuffle(`${uid}-join-left`));
  const rightKeyed = right.keyBy(rightKey, shuffle(`${uid}-join-right`));
  return leftKeyed
    .connect(rightKeyed)
    .process<Row>({
      processElement1(row, ctx) {
        const state = sidesOf(ctx);
        let s = state.get();
        if (s && s.r.length > 0) {
          for (const r of s.r) pairUp(row, r, ctx, s);
          // The key's only right row is kept: this row can meet no other. The key's only left row: the right
          // rows kept met it, and can meet no other.
          if (uniqueR) return;
          if (uniqueL) s.r.length = s.re.length = 0;
        }
        const until = leftExpiry(row, ctx.timestamp);
        if (until <= ctx.watermark) {
          if (group?.side === 'l') forgetGroup(s, ctx);
          if (s && s.l.length === 0 && s.r.length === 0) state.clear();
          return;
        }
        if (!s) state.set((s = { l: [], r: [], le: [], re: [] })); // updated in place from then on
        s.l.push(row);
        s.le.push(until);
        if (until !== Number.POSITIVE_INFINITY) ctx.timers.registerEventTimeTimer(coarse(until));
      },
      processElement2(row, ctx) {
        const state = sidesOf(ctx);
        let s = state.get();
        if (s && s.l.length > 0) {
          for (const l of s.l) pairUp(l, row, ctx, s);
          if (uniqueL) return;
          if (uniqueR) s.l.length = s.le.length = 0;
        }
        const until = rightExpiry(row, ctx.timestamp);
        if (until <= ctx.watermark) {
          if (group?.side === 'r') forgetGroup(s, ctx);
          if (s && s.l.length === 0 && s.r.length === 0) state.clear();
          return;
        }
        if (!s) state.set((s = { l: [], r: [], le: [], re: [] }));
        s.r.push(row);
        s.re.push(until);
        if (until !== Number.POSITIVE_INFINITY) ctx.timers.registerEventTimeTimer(coarse(until));
      },
      onTimer(timestamp, ctx) {
        const state = sidesOf(ctx);
        const s = state.get();
        if (!s) return;
        const keep = (rows: Row[], until: number[]) => {
          let j = 0;
          for (let i = 0; i < rows.length; i++) {
            if (until[i]! > timestamp) {
              rows[j] = rows[i]!;
              until[j++] = until[i]!;
            }
          }
          rows.length = j;
          until.length = j;
        };
        const had = group ? s[group.side].length : 0;
        keep(s.l, s.le);
        keep(s.r, s.re);
        if (had > 0) forgetGroup(s, ctx);
        if (s.l.length === 0 && s.r.length === 0) state.clear();
      },
      // A grouped join's rows: each group the batch changed, once.
      ...(grouped ? { finishBatch: (out: BatchEnd<Row>) => grouped.finishBatch(out as BatchEnd<KindedRow>) } : {}),
    })
    .uid(group ? `sql-${uid}-join-group` : `sql-${uid}-join`)
    .named(group ? 'join-group' : 'join');
}
