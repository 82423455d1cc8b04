// The embedded services a long-running command opens on a data directory: the log, the serving store
// (`<data dir>/serve`) and the HTTP API; closed in reverse order. `sluice run --bootstrap` opens the store and the
// HTTP API over a Kafka cluster's log instead (openServing).
import fs from 'node:fs';
import path from 'node:path';
import type { Hono } from 'hono';
import type { PipelineView } from '../engine/index.ts';
import { type RunningServer, type ServerLog, type ServerOptions, startServer } from '../http/index.ts';
import { type KafkaBroker, startBroker } from '../kafka/index.ts';
import { type Log, openLog } from '../log/index.ts';
import { ServingStore } from '../serve/index.ts';
import { type AdvertisedFlags, advertisedOf } from './common.ts';

export interface HttpFlags {
  host: string;
  httpPort: number;
  http: boolean;
  authToken?: string;
}

export interface Services {
  log: Log;
  store: ServingStore;
  http: RunningServer | undefined;
  close(): Promise<void>;
}

/**
 * The embedded log's Kafka listener on the command's --host/--kafka-port (and advertised address), auto-creating
 * topics as `dev`, `run` and `up` do; if it cannot open (the port is taken), the services are closed first.
 */
export async function openListener(
  services: Services,
  flags: { host: string; kafkaPort: number } & AdvertisedFlags,
): Promise<KafkaBroker> {
  return startBroker({
    log: services.log,
    host: flags.host,
    port: flags.kafkaPort,
    ...advertisedOf(flags),
    autoCreateTopics: true,
  }).catch(async (error: unknown) => {
    await services.close();
    throw error;
  });
}

export interface Serving {
  store: ServingStore;
  http: RunningServer | undefined;
  close(): Promise<void>;
}

export async function openServices(
  dataDir: string,
  flags: HttpFlags,
  pipelines: () => PipelineView[],
  /** More HTTP routes by prefix, built once the log and store are open. */
  mount?: () => Record<string, Hono>,
  /** Let the HTTP API start streaming SQL queries over this log (POST /v1/streaming-queries). */
  options: { streamingQueries?: boolean } = {},
): Promise<Services> {
  const log = await openLog({ dataDir });
  let serving: Serving;
  try {
    const streaming = options.streamingQueries ? { log, dataDir: log.dataDir } : undefined;
    serving = await openServing(log.dataDir, log, flags, pipelines, mount, streaming);
  } catch (error) {
    await log.close();
    throw error;
  }
  return {
    log,
    ...serving,
    async close() {
      await serving.close();
      await log.close();
    },
  };
}

/** The serving store in `<dataDir>/serve` and the HTTP API over `log` (which the caller owns and closes). */
export async function openServing(
  dataDir: string,
  log: ServerLog,
  flags: HttpFlags,
  pipelines: () => PipelineView[],
  mount?: () => Record<string, Hono>,
  streaming?: ServerOptions['streaming'],
): Promise<Serving> {
  fs.mkdirSync(dataDir, { recursive: true });
  const store = await ServingStore.open({ dir: path.join(dataDir, 'serve') });
  let http: RunningServer | undefined;
  try {
    if (flags.http) {
      http = await startServer({
        log,
        store,
        pipelines,
        host: flags.host,
        port: flags.httpPort,
        authToken: flags.authToken ?? process.env.SLUICE_AUTH_TOKEN,
        ...(mount ? { mount: mount() } : {}),
        ...(streaming ? { streaming } : {}),
      });
    }
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  return {
    store,
    http,
    async close() {
      await http?.close();
      await store.close();
    },
  };
}
