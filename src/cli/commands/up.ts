// `sluice up <spec>`: runs a deployment spec — topics, pipelines in supervised worker processes in dependency order,
// tables loaded from topics, scheduled jobs — with the log, its Kafka listener and the HTTP API (and the control
// API at /v1/deployment) in this process, until SIGINT/SIGTERM, which stops everything gracefully. The workers report
// their pipelines (metrics, topology, checkpoints, restarts), which the HTTP API serves at /v1/pipelines and /metrics
// and the dashboard shows, as for `sluice dev`.
import type { Command } from 'commander';
import { toMillis } from '../../engine/index.ts';
import { controlApi, DeploymentRunner, loadDeployment } from '../../orchestrate/index.ts';
import {
  type AdvertisedFlags,
  advertisedHostOption,
  advertisedPortOption,
  DEFAULTS,
  listenerAddress,
  paint,
  portOption,
  untilShutdownSignal,
} from '../common.ts';
import { type HttpFlags, openListener, openServices } from '../services.ts';

interface UpFlags extends HttpFlags, AdvertisedFlags {
  dataDir: string;
  kafkaPort: number;
  kafka: boolean;
  checkpointInterval?: string;
}

export function registerUp(program: Command): void {
  program
    .command('up <spec>')
    .description('run a deployment spec: topics, pipelines (supervised, in dependency order), tables and jobs')
    .option('--data-dir <dir>', 'where the log, tables, checkpoints and job history live', DEFAULTS.dataDir)
    .option('--host <host>', 'interface to listen on', DEFAULTS.host)
    .option('--kafka-port <port>', 'Kafka protocol port (0 picks a free one)', portOption, DEFAULTS.kafkaPort)
    .addOption(advertisedHostOption())
    .addOption(advertisedPortOption())
    .option('--no-kafka', 'do not open the Kafka listener')
    .option('--http-port <port>', 'HTTP API port (0 picks a free one)', portOption, DEFAULTS.httpPort)
    .option('--no-http', 'do not start the HTTP API (then status only, no replay/backfill)')
    .option('--auth-token <token>', 'require this bearer token on HTTP (env SLUICE_AUTH_TOKEN)')
    .option('--checkpoint-interval <duration>', "override every pipeline's checkpoint interval (e.g. 1s)")
    .addHelpText(
      'after',
      `
Examples:
  $ sluice up examples/demo.deployment.ts
  $ sluice status                                   # in another terminal
  $ sluice replay windowed-counts --from earliest   # reprocess history into a new version
  $ sluice backfill window-batch --from 2026-11-24T00:00Z --to 2026-11-25T00:00Z`,
    )
    .action(async (file: string, flags: UpFlags) => {
      const spec = await loadDeployment(file);
      let runner: DeploymentRunner | undefined;
      const services = await openServices(
        flags.dataDir,
        flags,
        () => runner?.views() ?? [],
        () => ({
          '/v1/deployment': controlApi(() => runner),
        }),
      );
      const { log, store, http } = services;
      const broker = flags.kafka ? await openListener(services, flags) : undefined;
      try {
        runner = new DeploymentRunner({
          spec,
          log,
          store,
          ...(http ? { url: http.url } : {}),
          ...(flags.checkpointInterval ? { checkpointIntervalMs: toMillis(flags.checkpointInterval) } : {}),
          // Each as it happens; the deployment keeps its other pipelines running.
          onPipelineFailed: (_name, error) =>
            console.error(`  ${paint('red', 'failed', process.stderr)}: ${error.message}`),
        });
        await runner.start();
        console.log(`${paint('bold', 'sluice up')}: deployment ${spec.name} from ${file}; data in ${log.dataDir}`);
        if (broker) console.log(`  Kafka protocol   ${listenerAddress(broker)}`);
        if (http) console.log(`  HTTP API         ${http.url}   (control: ${http.url}/v1/deployment)`);
        const deps = (name: string) =>
          spec.dependencies[name]!.length ? ` (after ${spec.dependencies[name]!.join(', ')})` : '';
        console.log(`  pipelines        ${spec.order.map((name) => `${name}${deps(name)}`).join(', ') || '(none)'}`);
        const live = runner;
        // Reported as it happens; the deployment keeps running (and restarting) either way. A pipeline given up
        // on is reported by onPipelineFailed.
        live.healthy().then(
          () => console.log(`  ${paint('green', 'healthy')}: every pipeline is running (sluice status for details)`),
          () => {},
        );
        await untilShutdownSignal();
        console.log('sluice up: stopping (last checkpoints)…');
        await live.stop();
      } finally {
        await runner?.stop().catch(() => {});
        await broker?.close();
        await services.close();
      }
      console.log('sluice up: stopped');
    });
}
