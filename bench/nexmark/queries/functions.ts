// The SQL functions the Nexmark queries call, in UTC as nexmark-flink runs them: DATE_FORMAT to a day or a minute,
// the hour-based time of day of q14, and q14's count_char. The pipelines and the hand-written loops share them.

const DAY_MS = 86_400_000;
const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
/** DATE_FORMAT(ts, 'yyyy-MM-dd') in UTC. */
export const formatDay = (ts: number) => new Date(ts).toISOString().slice(0, 10);
/** DATE_FORMAT(ts, 'HH:mm') in UTC. */
export const formatMinute = (ts: number) => {
  const ms = ((ts % DAY_MS) + DAY_MS) % DAY_MS;
  return `${pad2(Math.floor(ms / 3_600_000))}:${pad2(Math.floor(ms / 60_000) % 60)}`;
};
export function countChar(s: string, c: number): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === c) n++;
  return n;
}
export function bidTimeType(ts: number): string {
  const hour = Math.floor((((ts % DAY_MS) + DAY_MS) % DAY_MS) / 3_600_000);
  if (hour >= 8 && hour <= 18) return 'dayTime';
  if (hour <= 6 || hour >= 20) return 'nightTime';
  return 'otherTime';
}
