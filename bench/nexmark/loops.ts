// Hand-written loops computing each Nexmark query's result over an array of events, as plain JavaScript would without
// an engine: the baseline the benchmark compares the pipelines with (same results, same run). Events come in time
// order (the generator's), so the watermark is the latest time minus the 4 s bound and windows fire as it passes.
// Each loop returns the number of result rows (the pipeline's must be equal) and keeps the last row alive.
// Each family's loops live in loops/, beside the queries/ file of the same name; this file assembles them by name.
import { q4, q6, q9 } from './loops/auctions.ts';
import { q15, q16, q17 } from './loops/daily.ts';
import { q3, q18, q19, q20 } from './loops/keyed.ts';
import { q0, q1, q2, q10, q13, q14, q21, q22 } from './loops/per-bid.ts';
import { q5, q7, q8, q11, q12 } from './loops/windows.ts';
import type { NexmarkEvent } from './model.ts';
import type { QueryName } from './queries.ts';

export { lastRow } from './loops/keep.ts';

export const LOOPS: Record<QueryName, (events: NexmarkEvent[]) => number> = {
  q0,
  q1,
  q2,
  q3,
  q4,
  q5,
  q6,
  q7,
  q8,
  q9,
  q10,
  q11,
  q12,
  q13,
  q14,
  q15,
  q16,
  q17,
  q18,
  q19,
  q20,
  q21,
  q22,
};
