// Property tests: for random events delivered in random orders, windowed results equal a batch computation over
// the same events as long as the disorder stays within the out-of-orderness bound; beyond it, exactly the
// events whose window had already fired come out of the late-data side output.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { agg, collect, fromArrays, Pipeline, watermarks, windows } from './index.ts';

interface Ev {
  id: number;
  key: string;
  ts: number;
  value: number;
}

const WINDOW = 1000;
const BOUND = 300;

const eventsArb = fc.array(
  fc.record({
    key: fc.constantFrom('a', 'b', 'c'),
    ts: fc.integer({ min: 0, max: 4000 }),
    value: fc.integer({ min: -50, max: 50 }),
    delay: fc.integer({ min: 0, max: BOUND }),
  }),
  { maxLength: 200 },
);

/** The reference: a batch computation of per-key tumbling-window sums and counts. */
function batchResult(events: Ev[]): string[] {
  const sums = new Map<string, { sum: number; count: number }>();
  for (const e of events) {
    const id = `${e.key}@${Math.floor(e.ts / WINDOW) * WINDOW}`;
    const s = sums.get(id) ?? { sum: 0, count: 0 };
    s.sum += e.value;
    s.count++;
    sums.set(id, s);
  }
  return [...sums].map(([id, s]) => `${id} ${s.count} ${s.sum}`).sort();
}

async function streamResult(arrival: Ev[], batchSize: number) {
  const p = new Pipeline({ bounded: true });
  const out = collect<string>();
  const late = collect<Ev>();
  const result = p
    .source(fromArrays([arrival], { batchSize }))
    .withTimestamps((e) => e.ts, watermarks.boundedOutOfOrderness(BOUND))
    .keyBy((e) => e.key)
    .window(windows.tumbling(WINDOW))
    .aggregate(agg.multi({ count: agg.count<Ev>(), sum: agg.sum((e: Ev) => e.value) }));
  result.map((r) => `${r.key}@${r.windowStart} ${r.value.count} ${r.value.sum}`).sinkTo(out);
  result.lateData().sinkTo(late);
  await p.run();
  return { rows: out.values.sort(), late: late.values };
}

describe('windowed results versus a batch computation', () => {
  it('are equal when the disorder stays within the bound, whatever the batching', async () => {
    await fc.assert(
      fc.asyncProperty(eventsArb, fc.integer({ min: 1, max: 50 }), async (raw, batchSize) => {
        const events = raw.map((e, id) => ({ id, key: e.key, ts: e.ts, value: e.value }));
        // Each event arrives `delay` (<= BOUND) after its time: arrival order is by ts + delay.
        const arrival = raw
          .map((e, id) => ({ event: events[id]!, at: e.ts + e.delay }))
          .sort((x, y) => x.at - y.at || x.event.id - y.event.id)
          .map((x) => x.event);
        const { rows, late } = await streamResult(arrival, batchSize);
        assert.deepEqual(late, []);
        assert.deepEqual(rows, batchResult(events));
      }),
      { numRuns: 100 },
    );
  });

  it('send exactly the events whose window had fired to the late output, and count the rest', async () => {
    await fc.assert(
      fc.asyncProperty(
        eventsArb,
        fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 200 }),
        async (raw, extraDelays) => {
          const events = raw.map((e, id) => ({ id, key: e.key, ts: e.ts, value: e.value }));
          // Some events are held back far longer than the bound.
          const arrival = raw
            .map((e, id) => ({ event: events[id]!, at: e.ts + e.delay + (extraDelays[id] ?? 0) }))
            .sort((x, y) => x.at - y.at || x.event.id - y.event.id)
            .map((x) => x.event);
          // Model: one record per batch; the watermark before an event is (max ts before it) - BOUND.
          let maxTs = Number.NEGATIVE_INFINITY;
          const expectedLate: Ev[] = [];
          const onTime: Ev[] = [];
          for (const e of arrival) {
            const windowEnd = Math.floor(e.ts / WINDOW) * WINDOW + WINDOW;
            if (windowEnd <= maxTs - BOUND) expectedLate.push(e);
            else onTime.push(e);
            maxTs = Math.max(maxTs, e.ts);
          }
          const { rows, late } = await streamResult(arrival, 1);
          assert.deepEqual(
            late.map((e) => e.id),
            expectedLate.map((e) => e.id),
          );
          assert.deepEqual(rows, batchResult(onTime));
        },
      ),
      { numRuns: 100 },
    );
  });
});
