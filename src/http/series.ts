// Live time series over serving tables: a series spec (table, time column, measure, group-by) is validated
// against the table's declared columns and turned into one read-only query (names are checked and quoted, numbers
// are bounded, so nothing from the request reaches SQL unchecked); and two results of it are compared so that only
// the points that changed are sent again.
import { SluiceError } from '../errors.ts';
import type { ServingStore } from '../serve/index.ts';
import { SERIES_MEASURES, type SeriesEventJson, type SeriesSpec } from './api.ts';

export const MAX_SERIES_POINTS = 2000;
export const DEFAULT_SERIES_POINTS = 120;
/** Lines per chart: the most frequent values of the group-by column. */
export const MAX_SERIES_GROUPS = 10;
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const TIME_TYPES = new Set(['TIMESTAMP_MS', 'BIGINT', 'DOUBLE']);
const NUMERIC_TYPES = new Set(['BIGINT', 'DOUBLE']);

export type SeriesRow = SeriesEventJson['rows'][number];

/** Checks a spec (as parsed from JSON) against the store's tables; throws INVALID_SERIES or UNKNOWN_TABLE. */
export function parseSeriesSpec(raw: unknown, store: ServingStore): SeriesSpec {
  const bad = (message: string) => new SluiceError('INVALID_SERIES', `series: ${message}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('expected a JSON object');
  const spec = raw as Record<string, unknown>;
  const known = new Set(['id', 'table', 'time', 'measure', 'column', 'groupBy', 'bucketMs', 'points']);
  for (const field of Object.keys(spec)) if (!known.has(field)) throw bad(`unknown field "${field}"`);
  const { id, table, time, measure, column, groupBy, bucketMs, points } = spec;
  if (typeof id !== 'string' || !ID.test(id)) throw bad('"id" must be 1 to 64 letters, digits, - or _');
  if (typeof table !== 'string' || !NAME.test(table)) throw bad('"table" must be a table name');
  const definition = store.table(table);
  if (!definition) throw new SluiceError('UNKNOWN_TABLE', `no serving table "${table}"`, { table });
  const columnType = (field: string, name: unknown): string => {
    if (typeof name !== 'string') throw bad(`"${field}" must be a column name`);
    const found = definition.columns.find((c) => c.name === name);
    if (!found) throw bad(`table ${table} has no column "${name}" ("${field}")`);
    return found.type;
  };
  if (!TIME_TYPES.has(columnType('time', time))) {
    throw bad(
      `"time" must be a TIMESTAMP_MS column or a number of epoch milliseconds, not ${columnType('time', time)}`,
    );
  }
  if (typeof measure !== 'string' || !(SERIES_MEASURES as readonly string[]).includes(measure)) {
    throw bad(`"measure" must be one of ${SERIES_MEASURES.join(', ')}`);
  }
  if (measure !== 'count' || column !== undefined) {
    const type = columnType('column', column);
    if (!NUMERIC_TYPES.has(type)) throw bad(`"column" must be numeric (BIGINT or DOUBLE), not ${type}`);
  }
  if (groupBy !== undefined) columnType('groupBy', groupBy);
  if (
    bucketMs !== undefined &&
    (!Number.isInteger(bucketMs) || (bucketMs as number) < 0 || (bucketMs as number) > 366 * 86_400_000)
  ) {
    throw bad('"bucketMs" must be a whole number of milliseconds, 0 to a year');
  }
  if (
    points !== undefined &&
    (!Number.isInteger(points) || (points as number) < 1 || (points as number) > MAX_SERIES_POINTS)
  ) {
    throw bad(`"points" must be a whole number from 1 to ${MAX_SERIES_POINTS}`);
  }
  return {
    id,
    table,
    time: time as string,
    measure: measure as SeriesSpec['measure'],
    ...(column !== undefined ? { column: column as string } : {}),
    ...(groupBy !== undefined ? { groupBy: groupBy as string } : {}),
    ...(bucketMs ? { bucketMs: bucketMs as number } : {}),
    points: (points as number | undefined) ?? DEFAULT_SERIES_POINTS,
  };
}

/** What identifies a series' query (its id aside): subscriptions with the same key share one query per tick. */
export function seriesKey(spec: SeriesSpec): string {
  const { id: _id, ...query } = spec;
  return JSON.stringify([
    query.table,
    query.time,
    query.measure,
    query.column,
    query.groupBy,
    query.bucketMs,
    query.points,
  ]);
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * The query of a validated spec: the last `points` time buckets, the most frequent groups in them, one value per
 * bucket and group, as `[t DOUBLE (epoch ms), g VARCHAR, v DOUBLE]` ordered by t, g.
 */
export function seriesSql(spec: SeriesSpec, timeType: string): string {
  const t = quote(spec.time);
  const ms = timeType === 'TIMESTAMP_MS' ? `epoch_ms(${t})` : `CAST(floor(${t}) AS BIGINT)`;
  const bucket = spec.bucketMs ? `((${ms} // ${spec.bucketMs}) * ${spec.bucketMs})` : ms;
  const g = spec.groupBy ? `coalesce(CAST(${quote(spec.groupBy)} AS VARCHAR), 'null')` : `''`;
  const v = spec.measure === 'count' ? '1' : `CAST(${quote(spec.column!)} AS DOUBLE)`;
  const aggregate = spec.measure === 'count' ? 'count(*)' : `${spec.measure}(v)`;
  return [
    `WITH base AS (SELECT ${bucket} AS t, ${g} AS g, ${v} AS v FROM ${quote(spec.table)} WHERE ${t} IS NOT NULL),`,
    `recent AS (SELECT DISTINCT t FROM base ORDER BY t DESC LIMIT ${spec.points ?? DEFAULT_SERIES_POINTS}),`,
    'since AS (SELECT min(t) AS t FROM recent),',
    `groups AS (SELECT g FROM base WHERE t >= (SELECT t FROM since) GROUP BY g ORDER BY count(*) DESC, g LIMIT ${MAX_SERIES_GROUPS})`,
    `SELECT CAST(t AS DOUBLE) AS t, g, CAST(${aggregate} AS DOUBLE) AS v FROM base`,
    'WHERE t >= (SELECT t FROM since) AND g IN (SELECT g FROM groups)',
    'GROUP BY t, g ORDER BY t, g',
  ].join(' ');
}

/** Runs a spec's query. */
export async function querySeries(store: ServingStore, spec: SeriesSpec, timeoutMs: number): Promise<SeriesRow[]> {
  const definition = store.table(spec.table);
  if (!definition) throw new SluiceError('UNKNOWN_TABLE', `no serving table "${spec.table}"`, { table: spec.table });
  const timeType = definition.columns.find((c) => c.name === spec.time)!.type;
  const result = await store.query(seriesSql(spec, timeType), {
    timeoutMs,
    maxRows: MAX_SERIES_POINTS * MAX_SERIES_GROUPS,
  });
  return result.rows.map((row) => [Number(row[0]), String(row[1]), row[2] === null ? null : Number(row[2])]);
}

/**
 * What to send a client that has `before` so that it ends up with `after`: null when nothing changed, else the
 * points from the first changed time on (late data can change old buckets, not only add new ones).
 */
export function seriesDelta(id: string, before: SeriesRow[] | undefined, after: SeriesRow[]): SeriesEventJson | null {
  const start = after.length > 0 ? after[0]![0] : null;
  if (before === undefined) return { id, reset: true, start, from: null, rows: after };
  const group = (rows: SeriesRow[]) => {
    const byTime = new Map<number, string>();
    for (const [t, g, v] of rows) byTime.set(t, `${byTime.get(t) ?? ''}${g}\u0000${v}\u0001`);
    return byTime;
  };
  const old = group(before);
  const now = group(after);
  const times = [...new Set([...old.keys(), ...now.keys()])].sort((a, b) => a - b);
  // Points that only fell out of the window at the start are not changes: the client drops them by `start`.
  const from = times.find((t) => (start === null || t >= start) && old.get(t) !== now.get(t));
  const startMoved = (before.length > 0 ? before[0]![0] : null) !== start;
  if (from === undefined) return startMoved ? { id, reset: false, start, from: null, rows: [] } : null;
  return { id, reset: false, start, from, rows: after.filter((row) => row[0] >= from) };
}
