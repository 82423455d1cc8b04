// What every hand-written loop shares: the watermark's bound behind the latest event time, and a sink hole that
// keeps the last result row reachable so that the loop's work cannot be optimised away.

export const BOUND = 4000;
let sinkHole: unknown;
/** Keeps a result reachable so that the loop's work cannot be optimised away. */
export const keep = (row: unknown) => {
  sinkHole = row;
};
export const lastRow = () => sinkHole;
