// The pipeline over a real embedded log in a temporary directory, run to the end of its input as
// `sluice run --bounded` would: no broker, no ports. `npm test` runs it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openTestLog, runBounded } from 'sluice/testing';
import pipeline, { type Event, type Total } from './pipeline.ts';

test('counts and sums each key per 10-second window, out-of-order events included', async () => {
  const testLog = await openTestLog();
  try {
    const events: Event[] = [
      { key: 'kitchen', ts: 1_000, value: 20 },
      { key: 'garden', ts: 4_000, value: 11 },
      { key: 'kitchen', ts: 11_000, value: 22 },
      { key: 'kitchen', ts: 9_500, value: 21 }, // 1.5 s out of order: within the 2 s bound, so still counted
      { key: 'garden', ts: 15_000, value: 12 },
    ];
    await testLog.produce('events', events, { key: (e) => e.key, partitions: 2 });

    const run = await runBounded(pipeline, { log: testLog });

    const totals = await testLog.read<Total>('totals');
    const byWindow = (a: Total, b: Total) => a.window_start - b.window_start || a.key.localeCompare(b.key);
    assert.deepEqual(totals.sort(byWindow), [
      { window_start: 0, window_end: 10_000, key: 'garden', events: 1, total: 11 },
      { window_start: 0, window_end: 10_000, key: 'kitchen', events: 2, total: 41 },
      { window_start: 10_000, window_end: 20_000, key: 'garden', events: 1, total: 12 },
      { window_start: 10_000, window_end: 20_000, key: 'kitchen', events: 1, total: 22 },
    ]);
    assert.equal(run.metrics().deadLetters, 0);
  } finally {
    await testLog.close();
  }
});

test('a record that is not an event goes to the dead letters, not the results', async () => {
  const testLog = await openTestLog();
  try {
    await testLog.produce('events', [{ key: 'kitchen', ts: 1_000 }], { partitions: 2 });
    const run = await runBounded(pipeline, { log: testLog });
    assert.deepEqual(await testLog.read('totals'), []);
    assert.equal(run.metrics().deadLetters, 1);
  } finally {
    await testLog.close();
  }
});
