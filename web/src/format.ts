// Numbers, sizes, durations, lags and times as the dashboard shows them: short, with units, never "NaN"; one
// formatter for every time (24-hour, local) and one for every duration, so that no two pages disagree.

const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat('en');

/** 1234 → "1.2K"; small numbers stay exact. */
export function fmtNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (Math.abs(value) < 10_000) return whole.format(Math.round(value * 100) / 100);
  return compact.format(value);
}

export function fmtRate(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : `${fmtNumber(value)}/s`;
}

export function fmtBytes(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = value;
  let unit = 0;
  while (Math.abs(n) >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${unit === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[unit]}`;
}

/**
 * A duration with units: 850 → "850 ms", 61_000 → "1 min 1 s". Negative durations keep their sign ("-2.3 s"),
 * so that a difference never reads as its opposite.
 */
export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 0) return `-${fmtDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms * 10) / 10} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/**
 * A watermark's lag (wall clock − watermark), signed: "2.3 s behind" when event time trails the clock, "ahead by
 * 4 min" when it runs ahead of it (replayed or simulated time, producers with fast clocks). Never clamped to 0:
 * a watermark ahead of the clock is worth seeing, since it makes records on time by the clock late.
 */
export function fmtLag(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  // Below a millisecond the sign is noise (the metrics round to whole ms anyway).
  if (Math.abs(ms) < 1) return 'at the clock';
  return ms > 0 ? `${fmtDuration(ms)} behind` : `ahead by ${fmtDuration(-ms)}`;
}

/** What fmtLag's two directions mean, for a tooltip beside it. */
export const LAG_HELP =
  'wall-clock time minus the watermark: "behind" when event time trails the clock, "ahead" when the watermark is ' +
  'past it (replayed, simulated or future-stamped events)';

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * Every time the dashboard shows (event times, watermarks, wall-clock times, chart axes) goes through here, in the
 * browser's time zone and always on a 24-hour clock, so that no page mixes "3:04:05 PM" with "15:04:05":
 * `15:04:05` for a time today, `2026-12-04 15:04:05` for any other day (ISO 8601's order, which also sorts as
 * text). `date: 'always'` shows the day even for today (a record's timestamp), `millis` adds `.123`.
 */
export function fmtTime(
  ms: number | null | undefined,
  options: { date?: 'auto' | 'always'; millis?: boolean; now?: number } = {},
): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return '—';
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${
    options.millis ? `.${pad(d.getMilliseconds(), 3)}` : ''
  }`;
  const showDate = options.date === 'always' || !sameDay(d, new Date(options.now ?? Date.now()));
  return showDate ? `${fmtDate(d)} ${time}` : time;
}

function fmtDate(d: Date): string {
  const year = d.getFullYear();
  return `${year < 0 ? '-' : ''}${pad(Math.abs(year), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/**
 * A chart's time-axis labels, in the same 24-hour form as fmtTime, as short as the visible span allows: seconds
 * over a short span, `HH:MM` over ten minutes or more, the date (`MM-DD HH:MM`) once the span covers days.
 */
export function fmtTimeTicks(ticks: readonly number[]): string[] {
  const span = ticks.length > 1 ? ticks[ticks.length - 1]! - ticks[0]! : 0;
  return ticks.map((t) => {
    const d = new Date(t);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (span >= 2 * 86_400_000) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
    return span >= 10 * 60_000 ? hm : `${hm}:${pad(d.getSeconds())}`;
  });
}

/**
 * A time typed by a person, in the form fmtTime shows (`2026-12-04 15:04:05[.123]` in the browser's time zone, or
 * only `15:04:05` for today), an ISO 8601 time with a zone (`…T15:04:05Z`), or epoch milliseconds; null when it
 * is none of them.
 */
export function parseTimeInput(text: string, now = Date.now()): number | null {
  const s = text.trim();
  if (/^\d{1,15}$/.test(s)) return Number(s);
  const local = /^(?:(\d{4})-(\d{2})-(\d{2})[ T])?(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(s);
  if (local) {
    const today = new Date(now);
    const [year, month, day] = local[1]
      ? [Number(local[1]), Number(local[2]) - 1, Number(local[3])]
      : [today.getFullYear(), today.getMonth(), today.getDate()];
    const [h, m, sec] = [Number(local[4]), Number(local[5]), Number(local[6] ?? 0)];
    const millis = Number((local[7] ?? '0').padEnd(3, '0'));
    const d = new Date(year, month, day, h, m, sec, millis);
    // new Date rolls 25:00 or 02-30 over into the next hour or month: refuse them rather than guess.
    if (d.getMonth() !== month || d.getDate() !== day || d.getHours() !== h || d.getMinutes() !== m) return null;
    return d.getTime();
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(s)) {
    const ms = Date.parse(s);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

/** How long ago (or until) a time was, as a duration: "3 s ago", "in 2 min 5 s", "just now". */
export function fmtAgo(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined) return '—';
  const d = now - ms;
  // The clock that re-renders ticks once a second: a time a little ahead of it is still "just now".
  if (Math.abs(d) < 1500) return 'just now';
  if (d < 0) return `in ${fmtDuration(-d)}`;
  return `${fmtDuration(d)} ago`;
}

export function fmtPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '—';
  return `${Math.round(fraction * 100)}%`;
}

/** A SQL result cell: strings as they are, numbers formatted, structures as JSON. */
export function fmtCell(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(Math.round(value * 1e6) / 1e6);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
