// IoT: 5-minute rolling averages per sensor, with late data handled.
//
//   sluice run examples/sensor-averages.ts --data-dir D --kafka-port P
//
// reads JSON readings {"sensor": string, "ts": epoch-ms, "temperature": number} from topic `readings` (10 s of
// disorder allowed), and for every reading emits the sensor's rolling aggregate over the 5 minutes of event time
// before it — {sensor, ts, avg_5m, min_5m, max_5m, readings_5m} — to topic `sensor-averages` and to the serving
// table `sensor_averages`. A reading more than a minute behind the watermark (a device that reconnects with old
// data) would distort the rolling figure of a moment long past: it goes to topic `readings-late` instead.
import { agg, definePipeline, ensureTopic, json, logSink, logSource, Pipeline, serveTable, watermarks } from 'sluice';

export interface Reading {
  sensor: string;
  ts: number;
  temperature: number;
}

export interface SensorAverage {
  sensor: string;
  ts: number;
  avg_5m: number | null;
  min_5m: number | null;
  max_5m: number | null;
  readings_5m: number;
}

export const SENSOR_AVERAGE_COLUMNS = [
  { name: 'sensor', type: 'VARCHAR' },
  { name: 'ts', type: 'TIMESTAMP_MS' },
  { name: 'avg_5m', type: 'DOUBLE' },
  { name: 'min_5m', type: 'DOUBLE' },
  { name: 'max_5m', type: 'DOUBLE' },
  { name: 'readings_5m', type: 'BIGINT' },
] as const satisfies { name: string; type: string }[];

/** How far behind the watermark a reading may be and still count. */
const ALLOWED_LATENESS_MS = 60_000;

function asReading(value: unknown): Reading {
  const r = value as Partial<Reading> | null;
  if (typeof r?.sensor !== 'string') throw new TypeError('field "sensor" must be a string');
  if (typeof r.ts !== 'number' || !Number.isFinite(r.ts)) throw new TypeError('field "ts" must be epoch milliseconds');
  if (typeof r.temperature !== 'number') throw new TypeError('field "temperature" must be a number');
  return r as Reading;
}

export default definePipeline(async ({ log, bounded, serving }) => {
  for (const [topic, partitions] of [
    ['readings', 3],
    ['sensor-averages', 1],
    ['readings-late', 1],
  ] as const) {
    await ensureTopic(log, topic, { partitions });
  }
  const p = new Pipeline({ name: 'sensor-averages', bounded });
  const onTime = p
    .source(logSource({ log, topic: 'readings', format: json(asReading) }))
    .uid('readings')
    .withTimestamps((r) => r.ts, watermarks.boundedOutOfOrderness('10s'))
    .keyBy((r) => r.sensor)
    .process<Reading>({
      processElement(reading, ctx) {
        if (reading.ts < ctx.watermark - ALLOWED_LATENESS_MS) ctx.output('late', reading);
        else ctx.emit(reading);
      },
    })
    .uid('late-filter');
  onTime
    .sideOutput<Reading>('late')
    .sinkTo(logSink({ log, topic: 'readings-late', format: json<Reading>(), key: (r) => r.sensor }));
  const averages = onTime
    .keyBy((r) => r.sensor)
    .rolling(
      agg.multi({
        ts: agg.max((r: Reading) => r.ts),
        avg: agg.avg((r: Reading) => r.temperature),
        min: agg.min((r: Reading) => r.temperature),
        max: agg.max((r: Reading) => r.temperature),
        n: agg.count<Reading>(),
      }),
      { time: '5m' },
    )
    .uid('rolling-5m')
    .map(
      (r): SensorAverage => ({
        sensor: r.key,
        ts: r.value.ts ?? 0,
        avg_5m: r.value.avg === null ? null : Math.round(r.value.avg * 100) / 100,
        min_5m: r.value.min,
        max_5m: r.value.max,
        readings_5m: r.value.n,
      }),
    );
  averages.sinkTo(logSink({ log, topic: 'sensor-averages', format: json<SensorAverage>(), key: (a) => a.sensor }));
  if (serving) {
    averages.sinkTo(
      serveTable({
        store: serving,
        name: 'sensor_averages',
        columns: [...SENSOR_AVERAGE_COLUMNS],
        retention: { column: 'ts', keepMs: 24 * 3_600_000 },
      }),
    );
  }
  return p;
});
