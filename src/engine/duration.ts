// Durations as people write them ('5s', '1m', '250ms', '1h30m') or as milliseconds.
import { SluiceError } from '../errors.ts';

export type Duration = number | string;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function toMillis(duration: Duration, what = 'duration'): number {
  if (typeof duration === 'number') {
    if (!Number.isFinite(duration) || duration < 0) {
      throw new SluiceError('INVALID_DURATION', `${what}: ${duration} is not a non-negative number of milliseconds`);
    }
    return duration;
  }
  const parts = /^\s*((?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*)+)$/.exec(duration);
  if (!parts) {
    throw new SluiceError(
      'INVALID_DURATION',
      `${what}: '${duration}' is not a duration like '250ms', '5s', '1m', '1h30m'`,
    );
  }
  let total = 0;
  for (const [, n, unit] of duration.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/g)) total += Number(n) * UNITS[unit!]!;
  return total;
}
