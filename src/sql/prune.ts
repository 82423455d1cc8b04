// Pruning a join of a relation with a window MAX (MIN) over its own rows, on the value being (or reaching) that
// maximum (Nexmark q7: each bid joined with its window's highest price; q5: each count with its window's highest). An
// interval join keeps every record of the relation until the watermark passes its bound; most records can be known
// not to match as they arrive: a record whose value is below the running maximum of every window it could join can
// never reach those windows' final maxima (a maximum only grows). The running maxima are kept per window end in the
// filter, as lower bounds only: losing them (a restart, a partition task seeing part of the rows) prunes less, never
// wrongly.
import { fieldReader } from './codegen.ts';
import type { Row, Value } from './types.ts';

export interface ExtremumPrune {
  /** The table's column that the join compares with the aggregate. */
  column: string;
  /** A column telling a record's time: its value is the time + `timeOffset`. */
  time: string;
  timeOffset: number;
  fn: 'max' | 'min';
  /** The aggregate's windows: size, slide and offset (window ends are offset + size + k × slide). */
  sizeMs: number;
  slideMs: number;
  offsetMs: number;
  /** The window results a record may join: those whose time (end − 1 ms) is within [time + lo, time + hi]. */
  lo: number;
  hi: number;
}

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
