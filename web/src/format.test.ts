// The dashboard's formatters: one 24-hour time form everywhere (no AM/PM whatever the locale), durations that keep
// their sign, watermark lag in words for both directions, chart ticks, and typed times read back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fmtDuration, fmtLag, fmtTime, fmtTimeTicks, parseTimeInput } from './format.ts';

// Local times (the dashboard shows the browser's zone), built from parts so the tests hold in any time zone.
const local = (y: number, mo: number, d: number, h: number, mi: number, s = 0, ms = 0) =>
  new Date(y, mo - 1, d, h, mi, s, ms).getTime();
const NOW = local(2026, 12, 4, 16, 0, 0);

describe('fmtTime', () => {
  it('shows a time today as HH:MM:SS on a 24-hour clock, another day with its ISO-ordered date', () => {
    assert.equal(fmtTime(local(2026, 12, 4, 15, 4, 5), { now: NOW }), '15:04:05');
    assert.equal(fmtTime(local(2026, 12, 4, 0, 0, 7), { now: NOW }), '00:00:07');
    assert.equal(fmtTime(local(2026, 12, 3, 23, 59, 59), { now: NOW }), '2026-12-03 23:59:59');
    assert.equal(fmtTime(local(2025, 1, 2, 3, 4, 5), { now: NOW }), '2025-01-02 03:04:05');
  });

  it('adds the date always or the milliseconds when asked', () => {
    assert.equal(fmtTime(local(2026, 12, 4, 15, 4, 5, 7), { now: NOW, date: 'always' }), '2026-12-04 15:04:05');
    assert.equal(fmtTime(local(2026, 12, 4, 15, 4, 5, 7), { now: NOW, millis: true }), '15:04:05.007');
  });

  it('never shows AM/PM or a locale-dependent form, for any time', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (ms) => {
        const shown = fmtTime(ms, { now: NOW });
        assert.match(shown, /^(\d{4}-\d{2}-\d{2} )?\d{2}:\d{2}:\d{2}$/);
        const hours = Number(shown.slice(-8, -6));
        assert.equal(hours, new Date(ms).getHours());
      }),
    );
  });

  it('shows a dash for no time', () => {
    assert.equal(fmtTime(null), '—');
    assert.equal(fmtTime(undefined), '—');
    assert.equal(fmtTime(Number.NaN), '—');
    assert.equal(fmtTime(Number.POSITIVE_INFINITY), '—');
  });
});

describe('parseTimeInput', () => {
  it('reads back what fmtTime shows, ISO times with a zone, and epoch milliseconds', () => {
    assert.equal(parseTimeInput('2026-12-03 23:59:59', NOW), local(2026, 12, 3, 23, 59, 59));
    assert.equal(parseTimeInput('2026-12-03T23:59', NOW), local(2026, 12, 3, 23, 59));
    assert.equal(parseTimeInput('15:04:05.25', NOW), local(2026, 12, 4, 15, 4, 5, 250));
    assert.equal(parseTimeInput('2026-12-04T15:04:05Z', NOW), Date.UTC(2026, 11, 4, 15, 4, 5));
    assert.equal(parseTimeInput('2026-12-04T15:04:05+01:00', NOW), Date.UTC(2026, 11, 4, 14, 4, 5));
    assert.equal(parseTimeInput(' 1700000000000 ', NOW), 1_700_000_000_000);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (ms) => {
        // Shown again, a parsed time reads the same (an hour that a DST change repeats is ambiguous as text).
        const shown = fmtTime(ms, { date: 'always' });
        assert.equal(fmtTime(parseTimeInput(shown, NOW), { date: 'always' }), shown);
      }),
    );
  });

  it('refuses what is not a time rather than guessing', () => {
    for (const text of ['', 'yesterday', '2026-02-30 10:00:00', '25:00', '3:04 PM', '2026-12-04 15:04:05 PM', '-5']) {
      assert.equal(parseTimeInput(text, NOW), null, text);
    }
  });
});

describe('fmtDuration', () => {
  it('keeps the sign of a negative duration', () => {
    assert.equal(fmtDuration(850), '850 ms');
    assert.equal(fmtDuration(2300), '2.3 s');
    assert.equal(fmtDuration(61_000), '1 min 1 s');
    assert.equal(fmtDuration(-2300), '-2.3 s');
    assert.equal(fmtDuration(-240_000), '-4 min 0 s');
    assert.equal(fmtDuration(3 * 86_400_000), '3 d 0 h');
    assert.equal(fmtDuration(null), '—');
  });
});

describe('fmtLag', () => {
  it('says behind for a watermark that trails the clock and ahead for one past it, never 0', () => {
    assert.equal(fmtLag(2300), '2.3 s behind');
    assert.equal(fmtLag(-240_000), 'ahead by 4 min 0 s');
    assert.equal(fmtLag(-850), 'ahead by 850 ms');
    assert.equal(fmtLag(0), 'at the clock');
    assert.equal(fmtLag(null), '—');
    fc.assert(
      fc.property(fc.integer({ min: -1e10, max: 1e10 }), (ms) => {
        const shown = fmtLag(ms);
        if (ms >= 1) assert.match(shown, / behind$/);
        else if (ms <= -1) assert.match(shown, /^ahead by /);
        assert.doesNotMatch(shown, /-/, 'the direction is in words, not in a sign');
      }),
    );
  });
});

describe('fmtTimeTicks', () => {
  it('labels a chart axis in 24-hour time, as short as the span allows', () => {
    const t = local(2026, 12, 4, 15, 4, 5);
    assert.deepEqual(fmtTimeTicks([t, t + 5000]), ['15:04:05', '15:04:10']);
    assert.deepEqual(fmtTimeTicks([t, t + 3_600_000]), ['15:04', '16:04']);
    assert.deepEqual(fmtTimeTicks([t, t + 3 * 86_400_000]), ['12-04 15:04', '12-07 15:04']);
    const evening = local(2026, 12, 4, 22, 30);
    assert.deepEqual(fmtTimeTicks([evening, evening + 1000]), ['22:30:00', '22:30:01']);
  });
});
