// The keyed-state operators of updating queries: a regular GROUP BY (each key's row re-emitted with every record; a
// result read by another query retracts its previous row first, and a GROUP BY over such a result takes the
// retractions out of its aggregates) and a regular join (both sides kept per key, each record paired with the other
// side's records so far).
import type { DataStream, KeyedContext, ValueState } from '../engine/index.ts';
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

/** A regular GROUP BY: the key's accumulators in keyed state (checkpointed), its row emitted on each record. */
export function groupBy(
  stream: DataStream<Row>,
  query: QueryPlan,
  keyOf: (row: Row) => Value,
  /** The GROUP BY values of a row (cheaper than decoding its key). */
  keysOf: (row: Row) => Value[],
  project: (row: unknown) => KindedRow,
  derived: boolean,
  /** The operator's uid: its rows move to their key's task through a repartition step of this name. */
  uid: string,
  /** When no row of a key can come any more (QueryPlan.partitionExpiry): its state is dropped once the watermark
   * passes that (a second later, after the join upstream forgot the row). */
  expiry?: (row: Row) => Value,
): DataStream<KindedRow> {
  const aggregate = sqlAggregates(query.aggregates);
  const retract = query.retracting ? retraction(query.aggregates) : undefined;
  // A row read by another query only needs to say that it is a retraction: a plain property, cheaper than
  // withKind's defineProperty (its rows never leave the SQL operators).
  const rowOf = (input: Row, values: Value[], kind: 'insert' | 'update' | 'delete') => {
    const out = project({ k: keysOf(input), a: values, ws: null, we: null });
    if (!derived) return withKind(out, kind);
    if (kind === 'delete') out[KIND] = kind;
    return out;
  };
  // The state handles, looked up once per operator instance (a restarted pipeline has new state).
  let owner: unknown;
  let handle!: ValueState<Acc[]>;
  let counts!: ValueState<number>;
  /** The previous result's values, read before the record changes the accumulators in place (no array per record). */
  const scratch: Value[] = [];
  return stream.keyBy(keyOf, shuffle(uid)).process<KindedRow>({
    processElement(row, ctx) {
      if (owner !== ctx.state) {
        owner = ctx.state;
        handle = ctx.state.value<Acc[]>('aggregates');
        counts = ctx.state.value<number>('rows');
      }
      const before = handle.get();
      // The previous result's values (the accumulators change in place), projected only when emitted.
      const previous = before !== undefined && (derived || retract) ? aggregate.resultInto(before, scratch) : undefined;
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
          if (previous) ctx.emit(rowOf(row, previous, 'delete'));
          return;
        }
        counts.set(n);
      } else accs = aggregate.add(accs, row);
      if (before === undefined) {
        handle.set(accs); // changed in place from then on
        const until = expiry?.(row) ?? null;
        if (until !== null) ctx.timers.registerEventTimeTimer(coarse(until as number) + 1000);
      }
      if (derived && previous) {
        // Read by another query: an unchanged row (a bid below the maximum) is no change; a changed one is
        // retracted before its new value.
        if (aggregate.sameResult(accs, previous)) return;
        const out: Replacing = rowOf(row, aggregate.result(accs), 'update');
        out[PREVIOUS] = rowOf(row, previous, 'delete');
        return ctx.emit(out);
      }
      ctx.emit(rowOf(row, aggregate.result(accs), before === undefined ? 'insert' : 'update'));
    },
    onTimer(_timestamp, ctx) {
      if (owner !== ctx.state) {
        owner = ctx.state;
        handle = ctx.state.value<Acc[]>('aggregates');
        counts = ctx.state.value<number>('rows');
      }
      handle.clear();
      counts.clear();
    },
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
interface Sides {
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
): DataStream<Row> {
  let owner: unknown;
  let state!: ValueState<Sides>;
  const leftExpiry = expiryOf(expiry?.l);
  const rightExpiry = expiryOf(expiry?.r);
  const uniqueL = unique?.l === true;
  const uniqueR = unique?.r === true;
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
          for (const r of s.r) {
            const out = { l: row, r } as unknown as Row;
            if (where === undefined || where(out) === true) ctx.emit(out);
          }
          // The key's only right row is kept: this row can meet no other. The key's only left row: the right
          // rows kept met it, and can meet no other.
          if (uniqueR) return;
          if (uniqueL) s.r.length = s.re.length = 0;
        }
        const until = leftExpiry(row, ctx.timestamp);
        if (until <= ctx.watermark) {
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
          for (const l of s.l) {
            const out = { l, r: row } as unknown as Row;
            if (where === undefined || where(out) === true) ctx.emit(out);
          }
          if (uniqueL) return;
          if (uniqueR) s.l.length = s.le.length = 0;
        }
        const until = rightExpiry(row, ctx.timestamp);
        if (until <= ctx.watermark) {
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
        keep(s.l, s.le);
        keep(s.r, s.re);
        if (s.l.length === 0 && s.r.length === 0) state.clear();
      },
    })
    .uid(`sql-${uid}-join`)
    .named('join');
}
