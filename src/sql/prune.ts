// Pruning a join of a relation with a window MAX (MIN) over its own rows, on the value being (or reaching) that
// maximum (Nexmark q7: each bid joined with its window's highest price; q5: each count with its window's highest). An
// interval join keeps every record of the relation until the watermark passes its bound; most records can be known
// not to match as they arrive: a record whose value is below the running maximum of every window it could join can
// never reach those windows' final maxima (a maximum only grows). The running maxima are kept per window end in the
// filter, as lower bounds only: losing them (a restart, a partition task seeing part of the rows) prunes less, never
// wrongly.
import { fieldReader } from './codegen.ts';
import type { Compiled } from './expressions.ts';
import type { ExtremumPrune, QueryPlan } from './plan.ts';
import type { TableDef } from './script.ts';
import { isNumeric, type Row, type Value } from './types.ts';

const mod = (a: number, b: number) => ((a % b) + b) % b;

/** A predicate keeping the records that may still equal the extremum of a window they could join. */
export function extremumPrune(p: ExtremumPrune): (row: Row) => boolean {
  const value = fieldReader(p.column);
  const time = fieldReader(p.time);
  const best = new Map<number, number>();
  const beats = p.fn === 'max' ? (v: number, b: number) => v >= b : (v: number, b: number) => v <= b;
  const phase = mod(p.offsetMs + p.sizeMs, p.slideMs);
  let latest = Number.NEGATIVE_INFINITY;
  return (row) => {
    const v = value(row) as Value;
    if (v === null) return false; // = is never TRUE with NULL
    const ts = (time(row) as number) - p.timeOffset;
    // This record is in the aggregate's input: the windows containing it have at least its value.
    const lastStart = ts - mod(ts - p.offsetMs, p.slideMs);
    for (let start = lastStart; start > ts - p.sizeMs; start -= p.slideMs) {
      const end = start + p.sizeMs;
      const b = best.get(end);
      if (b === undefined || beats(v as number, b)) best.set(end, v as number);
    }
    if (ts > latest) {
      latest = ts;
      if (best.size > 256) {
        const horizon = ts - 4 * p.sizeMs - (p.hi - p.lo);
        for (const end of best.keys()) if (end < horizon) best.delete(end);
      }
    }
    // The windows it may join: ends in [ts + lo + 1, ts + hi + 1].
    const first = ts + p.lo + 1;
    for (let end = first + mod(phase - first, p.slideMs); end <= ts + p.hi + 1; end += p.slideMs) {
      const b = best.get(end);
      if (b === undefined || beats(v as number, b)) return true;
    }
    return false;
  };
}

/**
 * A join of a relation with a window MAX or MIN over the same rows, on the relation's value being (`=`) or reaching
 * (`>=` a MAX, `<=` a MIN) that extremum: q7 (bids and their window's highest price), q5 (each auction's count and
 * its window's highest count, over the same window aggregation). The relation's side may be pruned as it arrives
 * (prune.ts). Undefined for any other join.
 */
export function extremumJoin(
  sides: [{ table: TableDef }, { table: TableDef }],
  pairs: { l: Compiled; r: Compiled; op: string }[],
  lower: number,
  upper: number,
): ({ side: 'l' | 'r' } & ExtremumPrune) | undefined {
  const flip: Record<string, string> = { '=': '=', '>=': '<=', '<=': '>=' };
  for (const pair of pairs) {
    for (const [side, base, other, baseKey, otherKey, op] of [
      ['l', sides[0].table, sides[1].table, pair.l, pair.r, pair.op],
      ['r', sides[1].table, sides[0].table, pair.r, pair.l, flip[pair.op]],
    ] as const) {
      const q = other.derived?.query as QueryPlan | undefined;
      const w = q?.window;
      const call = q?.aggregates[0];
      if (!q || !w || !call?.arg || q.aggregates.length !== 1) continue;
      if (w.kind === 'session' || w.processingTime || q.keys.length > 0 || q.where || q.having || q.join) continue;
      if (!(op === '=' || (op === '>=' && call.fn === 'max') || (op === '<=' && call.fn === 'min'))) continue;
      // The other side's key is the aggregate's value (probed: the output reading the aggregate returns what the
      // aggregate gave), the base side's key a column holding the very values the aggregate took.
      const probe = {};
      const output = q.outputs.find((o) => fieldReader(o.name) === otherKey.eval);
      if (output?.eval({ a: [probe], k: [], ws: 0, we: 0 }) !== probe) continue;
      const column = base.columns.find((c) => fieldReader(c.name) === baseKey.eval);
      if (!column || !isNumeric(column.type) || !sameValues(base, column.name, q.source, call.arg)) continue;
      const time: readonly [string, number] | undefined = base.derived
        ? [...base.derived.times].find(([name]) => base.columns.some((c) => c.name === name))
        : base.watermark
          ? [base.watermark.column, 0]
          : undefined;
      if (!time) continue;
      base.derived?.used.add(time[0]); // read by the pruning
      // The other side's time (end − 1 ms) relative to the base's: within [lo, hi].
      const [lo, hi] = side === 'l' ? [lower, upper] : [-upper, -lower];
      if ((hi - lo) / w.slideMs > 16) continue;
      return {
        side,
        column: column.name,
        time: time[0],
        timeOffset: time[1],
        fn: call.fn as 'max' | 'min',
        sizeMs: w.sizeMs,
        slideMs: w.slideMs,
        offsetMs: w.offsetMs,
        lo,
        hi,
      };
    }
  }
  return undefined;
}

/**
 * Whether `column` of `base` holds, row for row, what `arg` reads from the rows of `source`: the same table and
 * column, or two window aggregations of equal digest (built once) and outputs reading the same aggregate or key.
 */
function sameValues(base: TableDef, column: string, source: TableDef, arg: Compiled): boolean {
  if (base === source) return !base.derived && arg.eval === fieldReader(column);
  const a = base.derived?.query as QueryPlan | undefined;
  const b = source.derived?.query as QueryPlan | undefined;
  if (!a?.digest || a.digest !== b?.digest) return false;
  const fromA = a.outputs.find((o) => o.name === column);
  const fromB = b.outputs.find((o) => fieldReader(o.name) === arg.eval);
  if (!fromA || !fromB) return false;
  const result = { a: a.aggregates.map(() => ({})), k: a.keys.map(() => ({})), ws: {}, we: {}, kind: {} };
  const value = fromA.eval(result);
  return typeof value === 'object' && value !== null && value === fromB.eval(result);
}
