// `sluice dev`: everything embedded in one process, on the default ports, for a laptop: the log, its Kafka
// listener, the HTTP API and dashboard, the demo generators (counts, clickstream, IoT readings) and the three demo
// pipelines writing serving tables, with a line of progress every few seconds. Each pipeline runs in this process
// under the runtime's supervisor, as `sluice run` does: one that fails restarts from its checkpoint, and one given up
// on is reported while the others keep running.
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { Hono } from 'hono';
import type { PipelineLog } from '../../engine/index.ts';
import { SluiceError } from '../../errors.ts';
import { createLogger } from '../../logger.ts';
import { buildPipeline, InProcessHost, importUserFile, loadPipelineFile, Supervisor } from '../../runtime/index.ts';
import {
  type AdvertisedFlags,
  advertisedHostOption,
  advertisedPortOption,
  DEFAULTS,
  listenerAddress,
  paint,
  portOption,
  positiveIntOption,
  untilShutdownSignal,
} from '../common.ts';
import { type HttpFlags, openListener, openServices } from '../services.ts';
import { checkpointDir } from './run.ts';

/**
 * A file of the demo (examples/, shipped beside the sources: dist/examples in the package), loaded at run time as any
 * pipeline file is — the sources never import the examples.
 */
function demoFile(name: string): string {
  return fileURLToPath(
    new URL(`../../../examples/${name}${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
  );
}

/** What dev uses of examples/demo-data.ts. */
interface DemoData {
  startDemoGenerators(log: PipelineLog, options: { eventsPerSecond: number }): Promise<DemoGenerator>;
}

interface DemoGenerator {
  readonly produced: Record<string, number>;
  readonly speed: number;
  now(): number;
  stop(): Promise<void>;
}

/**
 * `GET /v1/demo/now`: the demo's clock, as epoch ms in plain text (for `ts=$(curl -s …/v1/demo/now)`). Demo time runs
 * faster than the wall clock, so an event stamped with `date +%s000` is minutes behind the demo's watermark: late.
 */
function demoClockApi(generator: () => DemoGenerator | undefined): Hono {
  const app = new Hono();
  app.use('*', async (_c, next) => {
    if (!generator()) throw new SluiceError('DEMO_STARTING', 'the demo is still starting; try again');
    await next();
  });
  app.get('/now', (c) => c.text(String(Math.round(generator()!.now()))));
  app.get('/', (c) =>
    c.json({ now: Math.round(generator()!.now()), speed: generator()!.speed, wallClock: Date.now() }),
  );
  return app;
}

const DEMO_PIPELINES = ['windowed-counts', 'clickstream', 'sensor-averages'];

interface DevFlags extends HttpFlags, AdvertisedFlags {
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
    .addOption(advertisedHostOption())
    .addOption(advertisedPortOption())
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
      let supervisors: Supervisor[] = [];
      let generator: DemoGenerator | undefined;
      const services = await openServices(
        flags.dataDir,
        flags,
        () => supervisors.flatMap((s) => s.views()),
        (): Record<string, Hono> => (flags.demo ? { '/v1/demo': demoClockApi(() => generator) } : {}),
        { streamingQueries: true },
      );
      const { log, store, http } = services;
      const broker = await openListener(services, flags);
      console.log(`${paint('bold', 'sluice dev')} — data in ${log.dataDir}`);
      console.log(`  Kafka protocol   ${listenerAddress(broker)}   (try: kcat -b ${broker.address} -L)`);
      if (http) console.log(`  HTTP API         ${http.url}   (try: curl ${http.url}/v1/tables)`);
      if (!flags.demo) {
        await untilShutdownSignal();
        await broker.close();
        await services.close();
        return;
      }
      const demo = (await importUserFile(demoFile('demo-data'), { code: 'INVALID_PIPELINE', what: 'demo' })) as unknown;
      generator = await (demo as DemoData).startDemoGenerators(log, { eventsPerSecond: flags.rate });
      const clock = generator;
      const env = { log, bounded: false, dataDir: log.dataDir, serving: store };
      const logger = createLogger('dev');
      supervisors = DEMO_PIPELINES.map((name) => {
        const file = demoFile(name);
        const host = new InProcessHost({
          build: async () => {
            const pipeline = await buildPipeline(file, await loadPipelineFile(file), env);
            // Like `sluice run`: a restarted `npm start` resumes each pipeline where it stopped, exactly once.
            pipeline.enableCheckpoints({ dir: checkpointDir(log.dataDir, pipeline.name) });
            return pipeline;
          },
        });
        const supervisor = new Supervisor({ host, name: `pipeline ${name}`, logger });
        supervisor.done.catch((error: Error) =>
          console.error(`  ${paint('red', 'failed', process.stderr)}: ${error.message}`),
        );
        return supervisor;
      });
      console.log(
        `  demo generators  ${flags.rate} events/s → topics events, views, clicks, readings (demo time runs ${generator.speed}× faster)`,
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
        console.log(`  demo clock       ${http.url}/v1/demo/now   (stamp your own events with it: they are on time)`);
        console.log(
          '  query results    sluice query "SELECT ad, window_start, ctr FROM ad_ctr ORDER BY window_start DESC LIMIT 10"',
        );
      }
      for (const supervisor of supervisors) supervisor.start();
      const live = supervisors;
      const report = setInterval(() => {
        const line = live
          .flatMap((s) => s.views())
          .map((p) => {
            const m = p.metrics();
            const input = m.operators.filter((o) => o.name.startsWith('source:')).reduce((n, o) => n + o.recordsIn, 0);
            const output = m.operators.filter((o) => o.name.startsWith('sink:')).reduce((n, o) => n + o.recordsIn, 0);
            const late = m.operators.reduce((n, o) => n + (o.lateRecords ?? 0), 0);
            return `${p.name} ${input}→${output}${late ? ` (late ${late})` : ''}`;
          });
        const produced = Object.values(clock.produced).reduce((a, b) => a + b, 0);
        console.log(
          `  demo time ${new Date(clock.now()).toISOString().slice(11, 19)}Z  produced ${produced}  ${line.join('  ')}`,
        );
      }, flags.reportEvery * 1000);
      // A pipeline given up on is reported as it happens (above); dev runs on until Ctrl-C, or until none is left.
      const ended = Promise.allSettled(live.map((s) => s.done));
      await Promise.race([ended, untilShutdownSignal()]);
      clearInterval(report);
      await clock.stop();
      await Promise.all(live.map((s) => s.stop()));
      await broker.close();
      await services.close();
      console.log('sluice dev: stopped');
    });
}
