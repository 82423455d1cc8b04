// `sluice dev`: everything embedded in one process, on the default ports, for a laptop: the log, its Kafka
// listener, the HTTP API and dashboard, the demo generators (counts, clickstream, IoT readings) and the three demo
// pipelines writing serving tables, with a line of progress every few seconds.
import type { Command } from 'commander';
import clickstream from '../../../examples/clickstream.ts';
import { startDemoGenerators } from '../../../examples/demo-data.ts';
import sensorAverages from '../../../examples/sensor-averages.ts';
import windowedCounts from '../../../examples/windowed-counts.ts';
import type { Pipeline } from '../../engine/index.ts';
import { startBroker } from '../../kafka/index.ts';
import { DEFAULTS, paint, portOption, positiveIntOption, untilShutdownSignal } from '../common.ts';
import { type HttpFlags, openServices } from '../services.ts';
import { checkpointDir } from './run.ts';

interface DevFlags extends HttpFlags {
  dataDir: string;
  kafkaPort: number;
  demo: boolean;
  rate: number;
  reportEvery: number;
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description(
      'run everything embedded in one process: the log, Kafka listener, HTTP API, dashboard and the demo pipelines',
    )
    .option('--data-dir <dir>', 'where all state lives', DEFAULTS.dataDir)
    .option('--host <host>', 'interface to listen on', DEFAULTS.host)
    .option('--kafka-port <port>', 'Kafka protocol port', portOption, DEFAULTS.kafkaPort)
    .option('--http-port <port>', 'HTTP API port (SQL, ingest, metrics)', portOption, DEFAULTS.httpPort)
    .option('--no-http', 'do not start the HTTP API')
    .option('--auth-token <token>', 'require this bearer token on HTTP (env SLUICE_AUTH_TOKEN)')
    .option('--no-demo', 'start the log, listener and HTTP API only, without the generators and pipelines')
    .option('--rate <events/s>', 'demo events per second', positiveIntOption, 500)
    .option('--report-every <s>', 'seconds between progress lines', positiveIntOption, 5)
    .addHelpText(
      'after',
      `
Example:
  $ npm start                     # the same as: sluice dev
  $ sluice consume window-totals --from-beginning    # in another terminal`,
    )
    .action(async (flags: DevFlags) => {
      let pipelines: Pipeline[] = [];
      const services = await openServices(flags.dataDir, flags, () => pipelines);
      const { log, store, http } = services;
      const broker = await startBroker({ log, host: flags.host, port: flags.kafkaPort, autoCreateTopics: true }).catch(
        async (error: unknown) => {
          await services.close();
          throw error;
        },
      );
      console.log(`${paint('bold', 'sluice dev')} — data in ${log.dataDir}`);
      console.log(`  Kafka protocol   ${broker.address}   (try: kcat -b ${broker.address} -L)`);
      if (http) console.log(`  HTTP API         ${http.url}   (try: curl ${http.url}/v1/tables)`);
      if (!flags.demo) {
        await untilShutdownSignal();
        await broker.close();
        await services.close();
        return;
      }
      const generator = await startDemoGenerators(log, { eventsPerSecond: flags.rate });
      const env = { log, bounded: false, dataDir: log.dataDir, serving: store };
      pipelines = [await windowedCounts(env), await clickstream(env), await sensorAverages(env)];
      // Like `sluice run`: a restarted `npm start` resumes each pipeline where it stopped, exactly once.
      for (const p of pipelines) p.enableCheckpoints({ dir: checkpointDir(log.dataDir, p.name) });
      console.log(
        `  demo generators  ${flags.rate} events/s → topics events, views, clicks, readings (demo time runs 10× faster)`,
      );
      console.log(
        '  pipelines        windowed-counts: 60 s windows per key → table window_totals (late → events-late)',
      );
      console.log(
        '                   clickstream: ad click-through rate, 5 min sliding by 1 min → ad_ctr; sessions → user_sessions',
      );
      console.log(
        '                   sensor-averages: 5 min rolling temperature per sensor → sensor_averages (late → readings-late)',
      );
      if (http) {
        console.log(`  dashboard        ${http.url}/`);
        console.log(
          '  query results    sluice query "SELECT ad, window_start, ctr FROM ad_ctr ORDER BY window_start DESC LIMIT 10"',
        );
      }
      const running = pipelines.map((p) => p.run());
      const live = pipelines;
      const report = setInterval(() => {
        const line = live.map((p) => {
          const m = p.metrics();
          const input = m.operators.filter((o) => o.name.startsWith('source:')).reduce((n, o) => n + o.recordsIn, 0);
          const output = m.operators.filter((o) => o.name.startsWith('sink:')).reduce((n, o) => n + o.recordsIn, 0);
          const late = m.operators.reduce((n, o) => n + (o.lateRecords ?? 0), 0);
          return `${p.name} ${input}→${output}${late ? ` (late ${late})` : ''}`;
        });
        const produced = Object.values(generator.produced).reduce((a, b) => a + b, 0);
        console.log(`  produced ${produced}  ${line.join('  ')}`);
      }, flags.reportEvery * 1000);
      const failed = Promise.race(running).then(() => undefined);
      await Promise.race([failed, untilShutdownSignal()]);
      clearInterval(report);
      await generator.stop();
      for (const p of pipelines) p.stop();
      await Promise.allSettled(running);
      await broker.close();
      await services.close();
      for (const outcome of await Promise.allSettled(running)) if (outcome.status === 'rejected') throw outcome.reason;
      console.log('sluice dev: stopped');
    });
}
