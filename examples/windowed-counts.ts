// Per-key counts and totals in 60-second event-time windows.
//
//   sluice run examples/windowed-counts.ts --data-dir D --kafka-port P
//
// reads JSON {"key": string, "ts": epoch-ms, "value": number} from topic `events` (produce with any Kafka client
// to 127.0.0.1:P, or POST NDJSON to /v1/topics/events/records), allows 5 s of disorder (watermark = max ts seen -
// 5000, per partition, minimum over partitions), emits {window_start, window_end, key, cnt, total, kind} to topic
// `window-totals` and to the serving table `window_totals` once the watermark reaches the window's end; an event
// up to 30 s later than that updates its window (kind "update": the table's row is replaced), and events later
// still go to topic `events-late`.
import {
  agg,
  type DataStream,
  definePipeline,
  ensureTopic,
  json,
  logSink,
  logSource,
  Pipeline,
  type PipelineEnvironment,
  serveTable,
  watermarks,
  windows,
} from 'sluice';

export interface Event {
  key: string;
  ts: number;
  value: number;
}

export interface WindowTotal {
  window_start: number;
  window_end: number;
  key: string;
  cnt: number;
  total: number;
  kind: 'insert' | 'update';
}

/** Refuses records that are not events, naming the field (they go to the dead-letter output). */
function asEvent(value: unknown): Event {
  const e = value as Partial<Event> | null;
  if (typeof e?.key !== 'string') throw new TypeError('field "key" must be a string');
  if (typeof e.ts !== 'number' || !Number.isFinite(e.ts)) throw new TypeError('field "ts" must be epoch milliseconds');
  if (typeof e.value !== 'number') throw new TypeError('field "value" must be a number');
  return e as Event;
}

export interface WindowedCountsOptions {
  /** Steps between event time and the window (a later version of the pipeline may add some: see the tests). */
  prepare?: (events: DataStream<Event>) => DataStream<Event>;
}

export async function buildWindowedCounts(
  { log, bounded, serving }: PipelineEnvironment,
  options: WindowedCountsOptions = {},
): Promise<Pipeline> {
  for (const topic of ['events', 'window-totals', 'events-late']) {
    await ensureTopic(log, topic, { partitions: topic === 'events' ? 3 : 1 });
  }
  const p = new Pipeline({ name: 'windowed-counts', bounded });
  const events = p
    .source(logSource({ log, topic: 'events', format: json(asEvent) }))
    .withTimestamps((e) => e.ts, watermarks.boundedOutOfOrderness('5s'));
  const totals = (options.prepare?.(events) ?? events)
    .keyBy((e) => e.key)
    .window(windows.tumbling('60s'))
    .allowedLateness('30s')
    .aggregate(agg.multi({ cnt: agg.count<Event>(), total: agg.sum((e: Event) => e.value) }));
  const rows = totals.map(
    (r): WindowTotal => ({
      window_start: r.windowStart,
      window_end: r.windowEnd,
      key: r.key,
      cnt: r.value.cnt,
      total: r.value.total,
      kind: r.kind === 'update' ? 'update' : 'insert',
    }),
  );
  rows.sinkTo(logSink({ log, topic: 'window-totals', format: json<WindowTotal>(), key: (t) => t.key }));
  if (serving) {
    rows.sinkTo(
      serveTable({
        store: serving,
        name: 'window_totals',
        columns: [
          { name: 'window_start', type: 'TIMESTAMP_MS' },
          { name: 'window_end', type: 'TIMESTAMP_MS' },
          { name: 'key', type: 'VARCHAR' },
          { name: 'cnt', type: 'BIGINT' },
          { name: 'total', type: 'DOUBLE' },
        ],
        key: ['window_start', 'key'],
      }),
    );
  }
  totals.lateData().sinkTo(logSink({ log, topic: 'events-late', format: json<Event>(), key: (e) => e.key }));
  return p;
}

export default definePipeline((env) => buildWindowedCounts(env));
