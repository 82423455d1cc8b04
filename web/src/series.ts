// Live series on the client: applying the server's series events (a full series, then only what changed) and
// turning long rows [time, group, value] into uPlot's columns, one line per group.
import type { SeriesEventJson } from '../../src/http/api.ts';

type Row = SeriesEventJson['rows'][number];

/** Applies a series event: a reset replaces everything; a delta keeps [start, from) and appends its rows. */
export function mergeSeries(before: Row[] | undefined, event: SeriesEventJson): Row[] {
  if (event.reset || !before) return event.rows;
  const kept = before.filter(
    ([t]) => event.start !== null && t >= event.start && (event.from === null || t < event.from),
  );
  return event.rows.length > 0 ? kept.concat(event.rows) : kept;
}

/** Turns long rows `[x, group, value]` (ordered by x) into uPlot's columns: one series per group. */
export function pivot(rows: readonly (readonly [number, string, number | null])[]): {
  data: (number | null)[][];
  groups: string[];
} {
  const xs: number[] = [];
  const groups: string[] = [];
  const index = new Map<string, number>();
  const columns: (number | null)[][] = [];
  for (const [x, group] of rows) {
    if (xs.length === 0 || xs[xs.length - 1] !== x) xs.push(x);
    if (!index.has(group)) {
      index.set(group, groups.length);
      groups.push(group);
    }
  }
  for (let g = 0; g < groups.length; g++) columns.push(new Array<number | null>(xs.length).fill(null));
  let i = -1;
  let lastX: number | undefined;
  for (const [x, group, value] of rows) {
    if (x !== lastX) {
      i++;
      lastX = x;
    }
    columns[index.get(group)!]![i] = value;
  }
  return { data: [xs, ...columns], groups };
}
