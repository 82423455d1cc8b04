// The demo as a deployment: `sluice up examples/demo.deployment.ts`. The same generators and pipelines as
// `sluice dev`, but each pipeline in its own supervised worker process, its results loaded into tables from its
// topics, and a Lambda batch job that recomputes each finished window_totals minute into the hybrid table and
// reconciles it with the speed layer. Try `sluice status`, `sluice replay sensor-averages --from earliest`, and
// `sluice backfill window-batch --from <ISO time> --to <ISO time>`.
import { defineDeployment } from 'sluice';
import { AD_CTR_COLUMNS, USER_SESSION_COLUMNS } from './clickstream.ts';
import { DEMO_TOPICS, startDemoGenerators } from './demo-data.ts';
import { SENSOR_AVERAGE_COLUMNS } from './sensor-averages.ts';

export default defineDeployment({
  name: 'demo',
  topics: Object.fromEntries(Object.entries(DEMO_TOPICS).map(([name, partitions]) => [name, { partitions }])),
  services: {
    // The demo's producers, in the orchestrator (it owns the log); stopped when the deployment stops. Demo time is
    // real time here (`sluice dev` runs it 10x faster), so that scheduled batch ranges match the data's clock.
    'demo-generators': async ({ log, signal }) => {
      const generators = await startDemoGenerators(log, { eventsPerSecond: 500, speed: 1 });
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      await generators.stop();
    },
  },
  pipelines: {
    'windowed-counts': {
      file: './windowed-counts.ts',
      inputs: ['events'],
      outputs: ['window-totals', 'events-late'],
    },
    clickstream: { file: './clickstream.ts', inputs: ['views', 'clicks'], outputs: ['ad-ctr', 'user-sessions'] },
    'sensor-averages': {
      file: './sensor-averages.ts',
      inputs: ['readings'],
      outputs: ['sensor-averages', 'readings-late'],
    },
  },
  tables: {
    window_totals: {
      from: 'window-totals',
      columns: [
        { name: 'window_start', type: 'TIMESTAMP_MS' },
        { name: 'window_end', type: 'TIMESTAMP_MS' },
        { name: 'key', type: 'VARCHAR' },
        { name: 'cnt', type: 'BIGINT' },
        { name: 'total', type: 'DOUBLE' },
      ],
      key: ['window_start', 'key'],
      time: 'window_start',
    },
    ad_ctr: { from: 'ad-ctr', columns: [...AD_CTR_COLUMNS], key: ['ad', 'window_start'] },
    user_sessions: { from: 'user-sessions', columns: [...USER_SESSION_COLUMNS], key: ['user', 'session_start'] },
    sensor_averages: {
      from: 'sensor-averages',
      columns: [...SENSOR_AVERAGE_COLUMNS],
      retention: { column: 'ts', keep: '1d' },
    },
  },
  jobs: {
    // Every minute, the minute that ended two minutes ago (its windows are final: 5 s disorder, 30 s lateness).
    'window-batch': {
      schedule: '0 * * * * *',
      batch: { pipeline: 'windowed-counts', table: 'window_totals', range: '1m', lag: '2m', slack: '2m' },
    },
  },
});
