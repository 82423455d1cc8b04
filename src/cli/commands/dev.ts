// `sluice dev`: everything embedded in one process, on the default ports, for a laptop: the log, its Kafka
// listener, a demo event generator and the windowed-counts pipeline, with a line of progress every few seconds.
import type { Command } from 'commander';
import windowedCounts from '../../../examples/windowed-counts.ts';
import type { Pipeline } from '../../engine/index.ts';
import { startBroker } from '../../kafka/index.ts';
import { DEFAULTS, paint, portOption, positiveIntOption, untilShutdownSignal } from '../common.ts';
import { startDemoGenerator } from '../demo.ts';
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
    .description('run everything embedded in one process: the log, Kafka listener, HTTP API and the demo pipeline')
    .option('--data-dir <dir>', 'where all state lives', DEFAULTS.dataDir)
    .option('--host <host>', 'interface to listen on', DEFAULTS.host)
    .option('--kafka-port <port>', 'Kafka protocol port', portOption, DEFAULTS.kafkaPort)
    .option('--http-port <port>', 'HTTP API port (SQL, ingest, metrics)', portOption, DEFAULTS.httpPort)
    .option('--no-http', 'do not start the HTTP API')
    .option('--auth-token <token>', 'require this bearer token on HTTP (env SLUICE_AUTH_TOKEN)')
    .option('--no-demo', 'start the log and listener only, without the generator and pipeline')
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
      let pipeline: Pipeline | undefined;
      const services = await openServices(flags.dataDir, flags, () => (pipeline ? [pipeline] : []));
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
      const generator = await startDemoGenerator(log, { eventsPerSecond: flags.rate });
      pipeline = await windowedCounts({ log, bounded: false, dataDir: log.dataDir, serving: store });
      // Like `sluice run`: a restarted `npm start` resumes the pipeline where it stopped, exactly once.
      pipeline.enableCheckpoints({ dir: checkpointDir(log.dataDir, pipeline.name) });
      console.log(`  demo generator   ${flags.rate} events/s → topic events (demo time runs 10× faster)`);
      console.log(
        '  pipeline         windowed-counts: 60 s tumbling windows per sensor → topic window-totals and table window_totals, late → events-late',
      );
      console.log(`  read results     sluice consume window-totals --from-beginning --bootstrap ${broker.address}`);
      if (http)
        console.log(
          `  query results    sluice query "SELECT * FROM window_totals ORDER BY window_start DESC LIMIT 10"`,
        );
      const running = pipeline.run();
      const live = pipeline;
      const report = setInterval(() => {
        const m = live.metrics();
        const op = (name: string) => m.operators.find((o) => o.name === name);
        const windowOp = op('window-tumbling');
        const wm = windowOp && Number.isFinite(windowOp.watermark) ? new Date(windowOp.watermark).toISOString() : '-';
        console.log(
          `  events ${generator.produced}  processed ${op('source:log:events')?.recordsIn ?? 0}` +
            `  window rows ${op('sink:log:window-totals')?.recordsIn ?? 0}  late ${windowOp?.lateRecords ?? 0}` +
            `  watermark ${wm}`,
        );
      }, flags.reportEvery * 1000);
      await Promise.race([running, untilShutdownSignal()]);
      clearInterval(report);
      generator.stop();
      pipeline.stop();
      await running;
      await broker.close();
      await services.close();
      console.log('sluice dev: stopped');
    });
}
