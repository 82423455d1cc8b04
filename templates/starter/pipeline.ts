// Per-key event counts and sums in 10-second event-time windows.
//
//   npx sluice run pipeline.ts
//
// reads JSON events {"key": string, "ts": epoch ms, "value": number} from the topic `events`, allows 2 s of
// disorder, and once a window has closed writes {window_start, window_end, key, events, total} to the topic
// `totals` and to the serving table `totals` (query it with SQL while it runs).
import {
  agg,
  definePipeline,
  ensureTopic,
  json,
  logSink,
  logSource,
  Pipeline,
  serveTable,
  watermarks,
  windows,
} from 'sluice';

export interface Event {
  key: string;
  ts: number;
  value: number;
}

export interface Total {
  window_start: number;
  window_end: number;
  key: string;
  events: number;
  total: number;
}

/** Refuses records that are not events, naming the field: they go to the dead-letter output, not the results. */
function asEvent(value: unknown): Event {
  const e = value as Partial<Event> | null;
  if (typeof e?.key !== 'string') throw new TypeError('field "key" must be a string');
  if (typeof e.ts !== 'number') throw new TypeError('field "ts" must be epoch milliseconds');
  if (typeof e.value !== 'number') throw new TypeError('field "value" must be a number');
  return e as Event;
}

export default definePipeline(async ({ log, bounded, serving }) => {
  await ensureTopic(log, 'events', { partitions: 2 });
  await ensureTopic(log, 'totals', { partitions: 1 });

  const p = new Pipeline({ name: 'totals', bounded });
  const totals = p
    .source(logSource({ log, topic: 'events', format: json(asEvent) }))
    .withTimestamps((e) => e.ts, watermarks.boundedOutOfOrderness('2s'))
    .keyBy((e) => e.key)
    .window(windows.tumbling('10s'))
    .aggregate(agg.multi({ events: agg.count<Event>(), total: agg.sum((e: Event) => e.value) }))
    .map(
      (r): Total => ({
        window_start: r.windowStart,
        window_end: r.windowEnd,
        key: r.key,
        events: r.value.events,
        total: r.value.total,
      }),
    );

  totals.sinkTo(logSink({ log, topic: 'totals', format: json<Total>(), key: (t) => t.key }));
  if (serving) {
    totals.sinkTo(
      serveTable({
        store: serving,
        name: 'totals',
        columns: [
          { name: 'window_start', type: 'TIMESTAMP_MS' },
          { name: 'window_end', type: 'TIMESTAMP_MS' },
          { name: 'key', type: 'VARCHAR' },
          { name: 'events', type: 'BIGINT' },
          { name: 'total', type: 'DOUBLE' },
        ],
        key: ['window_start', 'key'],
      }),
    );
  }
  return p;
});
