// A SQL result as a chart: the x column (time, number or category), one line per numeric y column, or one line
// per value of a split-by column. DuckDB sends timestamps as UTC text and 64-bit integers as strings: both are
// turned into numbers here.
import type { SqlResultJson } from '../../src/http/api.ts';

const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|REAL|DECIMAL.*)$/;

export function isNumericType(type: string): boolean {
  return NUMERIC.test(type);
}

export function isTimeType(type: string): boolean {
  return type.startsWith('TIMESTAMP') || type === 'DATE';
}

/** A DuckDB JSON value as epoch ms: "2024-01-02 03:04:05.678" (UTC), with an optional "+00" offset. */
export function parseTime(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return null;
  let text = value.trim();
  if (/^\d{4}-\d\d-\d\d$/.test(text)) text += 'T00:00:00Z';
  else {
    text = text.replace(' ', 'T');
    if (/T.*[+-]\d\d$/.test(text)) text += ':00';
    else if (!/(Z|[+-]\d\d:\d\d)$/.test(text)) text += 'Z';
  }
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

export function parseNumber(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  const n = typeof value === 'number' ? value : typeof value === 'boolean' ? Number(value) : Number(value);
  return Number.isFinite(n) ? n : null;
}

export interface ChartableResult {
  x: string;
  /** A numeric column, or '' for all of them. */
  y: string;
  /** A column whose values each get a line, or ''. */
  split: string;
}

export interface ResultChart {
  data: (number | null)[][];
  series: string[];
  x: 'time' | 'number' | 'category';
  categories: string[];
  /** Why there is no chart, when there is none. */
  problem?: string;
}

const MAX_SERIES = 10;

export function chartOf(result: SqlResultJson, spec: ChartableResult): ResultChart {
  const none = (problem: string): ResultChart => ({ data: [[]], series: [], x: 'number', categories: [], problem });
  const col = (name: string) => result.columns.findIndex((c) => c.name === name);
  const xi = col(spec.x);
  if (xi < 0) return none('Pick a column for X.');
  const xType = result.columns[xi]!.type;
  const kind: ResultChart['x'] = isTimeType(xType) ? 'time' : isNumericType(xType) ? 'number' : 'category';
  const ys = spec.y
    ? [col(spec.y)].filter((i) => i >= 0)
    : result.columns.map((c, i) => (i !== xi && isNumericType(c.type) ? i : -1)).filter((i) => i >= 0);
  if (ys.length === 0) return none('The result has no numeric column to plot.');
  if (result.rows.length === 0) return none('The query returned no rows.');
  const categories: string[] = [];
  const categoryIndex = new Map<string, number>();
  const xOf = (row: unknown[]): number | null => {
    const v = row[xi];
    if (kind === 'time') return parseTime(v);
    if (kind === 'number') return parseNumber(v);
    const key = v === null ? 'NULL' : String(v);
    if (!categoryIndex.has(key)) {
      categoryIndex.set(key, categories.length);
      categories.push(key);
    }
    return categoryIndex.get(key)!;
  };
  const points = result.rows
    .map((row) => ({ x: xOf(row), row }))
    .filter((p): p is { x: number; row: unknown[] } => p.x !== null);
  // uPlot wants ascending x; categories are numbered in order of appearance, so repeats end up side by side.
  points.sort((a, b) => a.x - b.x);
  const si = spec.split ? col(spec.split) : -1;
  if (si >= 0) {
    // One line per split value (the first y column), points aligned on the distinct x values.
    const y = ys[0]!;
    const xs = [...new Set(points.map((p) => p.x))];
    const xIndex = new Map(xs.map((x, i) => [x, i]));
    const groups = new Map<string, (number | null)[]>();
    for (const { x, row } of points) {
      const g = row[si] === null ? 'NULL' : String(row[si]);
      if (!groups.has(g)) {
        if (groups.size >= MAX_SERIES) continue;
        groups.set(g, new Array<number | null>(xs.length).fill(null));
      }
      groups.get(g)![xIndex.get(x)!] = parseNumber(row[y]);
    }
    return { data: [xs, ...groups.values()], series: [...groups.keys()], x: kind, categories };
  }
  const chosen = ys.slice(0, MAX_SERIES);
  return {
    data: [points.map((p) => p.x), ...chosen.map((y) => points.map((p) => parseNumber(p.row[y])))],
    series: chosen.map((y) => result.columns[y]!.name),
    x: kind,
    categories,
  };
}
