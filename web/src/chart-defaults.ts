// What the Results page charts of a table before anyone chooses: a time column that orders its rows (a window's
// start before an arbitrary epoch-ms number), and a measure that means something when summed or averaged per time
// point — a count or total summed, a ratio, average or reading averaged, else the number of rows — never a key, an
// id or another time column, and never a ratio summed.
import type { SeriesMeasure, TableJson } from '../../src/http/api.ts';
import { isNumericType } from './sql-chart.ts';

export interface ChartDefaults {
  time: string;
  measure: SeriesMeasure;
  /** The measured column; absent for count. */
  column?: string;
  /** 0: a point per time value (a windowed table has one per window); else buckets of this many ms. */
  bucketMs: number;
}

type Column = TableJson['columns'][number];

/** A column the series can use as time: TIMESTAMP_MS, or epoch milliseconds as BIGINT/DOUBLE. */
export function isTimeColumn(type: string): boolean {
  return type === 'TIMESTAMP_MS' || type === 'BIGINT' || type === 'DOUBLE';
}

// Not `_ms`: `latency_ms` is a duration to measure, not a time.
const TIME_NAME = /(^|_)(ts|time|timestamp|date|at|start|end)$/i;
const ID_NAME = /(^|_)(id|uuid|key|seq|offset|partition|version)$/i;
/** Values that add up over rows: counts, totals, amounts. */
const ADDITIVE =
  /(^|_)(cnt|count|counts|total|totals|sum|amount|qty|quantity|bytes|size|events|views|clicks|records|requests|errors|orders|sales|revenue)(_|$)/i;
/** Values that only average: ratios, rates, means, extremes, readings. */
const GAUGE =
  /(^|_)(avg|mean|ratio|rate|ctr|pct|percent|share|min|max|p\d+|median|score|temp|temperature|level|price|value)(_|$)/i;

export function chartDefaults(table: TableJson): ChartDefaults | undefined {
  const time = defaultTime(table);
  if (!time) return undefined;
  const candidates = measureColumns(table, time.name);
  const additive = candidates.find((c) => ADDITIVE.test(c.name) && !GAUGE.test(c.name));
  // Anything else numeric is averaged: an average of any column means something, a sum only of additive ones.
  const averaged = candidates.find((c) => GAUGE.test(c.name)) ?? candidates[0];
  const measure: Pick<ChartDefaults, 'measure' | 'column'> = additive
    ? { measure: 'sum', column: additive.name }
    : averaged
      ? { measure: 'avg', column: averaged.name }
      : { measure: 'count' };
  // A time in the key (a window's start) has few rows per value: a point each. Other times (an event's) have a
  // value per row: count or average them per 10 s.
  const bucketMs = table.key.includes(time.name) ? 0 : 10_000;
  return { time: time.name, ...measure, bucketMs };
}

/** The time column: a TIMESTAMP_MS in the key, any TIMESTAMP_MS, a number named as a time, any number. */
function defaultTime(table: TableJson): Column | undefined {
  const timestamps = table.columns.filter((c) => c.type === 'TIMESTAMP_MS');
  return (
    timestamps.find((c) => table.key.includes(c.name)) ??
    timestamps[0] ??
    table.columns.find((c) => isTimeColumn(c.type) && TIME_NAME.test(c.name)) ??
    table.columns.find((c) => isTimeColumn(c.type))
  );
}

/** Numeric columns worth measuring: not the time, not keys, not ids or other times. */
export function measureColumns(table: TableJson, time: string): Column[] {
  return table.columns.filter(
    (c) =>
      c.name !== time &&
      isNumericType(c.type) &&
      !table.key.includes(c.name) &&
      !ID_NAME.test(c.name) &&
      !TIME_NAME.test(c.name),
  );
}
