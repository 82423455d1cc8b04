// Where `sluice run` gets the pipeline's log: the embedded log in the data directory with its own Kafka listener
// (the default), or a Kafka-protocol cluster (`--bootstrap`), with no log or broker of its own. Either way the
// serving store and the HTTP API live in the data directory, and so do the checkpoints.
import path from 'node:path';
import type { Command } from 'commander';
import { connectKafkaLog } from '../connectors/index.ts';
import type { PipelineLog, PipelineView } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { RunningServer } from '../http/index.ts';
import type { Log } from '../log/index.ts';
import type { ServingStore } from '../serve/index.ts';
import { type AdvertisedFlags, listenerAddress, paint } from './common.ts';
import { type HttpFlags, openListener, openServices, openServing } from './services.ts';

export interface RunLogFlags extends HttpFlags, AdvertisedFlags {
  dataDir: string;
  kafkaPort: number;
  kafka: boolean;
  bootstrap?: string;
}

export interface RunLog {
  log: PipelineLog;
  dataDir: string;
  store: ServingStore;
  http: RunningServer | undefined;
  /** How clients reach the pipeline's topics, for the banner ("Kafka protocol on …"). */
  describe: string | undefined;
  /** The embedded log's Kafka listener (host:port), when it is open. */
  bootstrap?: string;
  close(): Promise<void>;
}

export async function openRunLog(
  flags: RunLogFlags,
  command: Command,
  pipelines: () => PipelineView[],
): Promise<RunLog> {
  if (flags.bootstrap === undefined) return openEmbedded(flags, pipelines);
  for (const [flag, option] of [
    ['--kafka-port', 'kafkaPort'],
    ['--advertised-host', 'advertisedHost'],
    ['--advertised-port', 'advertisedPort'],
  ] as const) {
    if (command.getOptionValueSource(option) === 'cli') {
      throw new SluiceError(
        'INVALID_FLAGS',
        `--bootstrap runs the pipeline against that cluster, with no broker of its own: drop ${flag}`,
      );
    }
  }
  if (!/^[^:\s]+:\d{1,5}$/.test(flags.bootstrap)) {
    throw new SluiceError('INVALID_FLAGS', `--bootstrap must be host:port, got "${flags.bootstrap}"`);
  }
  const dataDir = path.resolve(flags.dataDir);
  const log = await connectKafkaLog({ bootstrap: flags.bootstrap, clientId: 'sluice-run' });
  try {
    const serving = await openServing(dataDir, log, flags, pipelines);
    return {
      log,
      dataDir,
      ...serving,
      describe: `Kafka cluster at ${paint('cyan', flags.bootstrap)}`,
      async close() {
        await serving.close();
        await log.close();
      },
    };
  } catch (error) {
    await log.close();
    throw error;
  }
}

/** The log in the data directory, with its Kafka listener unless `--no-kafka`, the serving store and HTTP. */
export async function openEmbedded(
  flags: RunLogFlags,
  pipelines: () => PipelineView[],
): Promise<RunLog & { log: Log }> {
  const services = await openServices(flags.dataDir, flags, pipelines, undefined, { streamingQueries: true });
  const { log } = services;
  const broker = flags.kafka ? await openListener(services, flags) : undefined;
  return {
    log,
    dataDir: log.dataDir,
    store: services.store,
    http: services.http,
    describe: broker ? `Kafka protocol on ${paint('cyan', listenerAddress(broker))}` : undefined,
    // This process's own members connect to the bound address (the advertised one may only resolve outside).
    ...(broker ? { bootstrap: `${broker.host}:${broker.port}` } : {}),
    async close() {
      await broker?.close();
      await services.close();
    },
  };
}
