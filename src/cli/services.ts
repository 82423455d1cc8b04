// The embedded services a long-running command opens on a data directory: the log, the serving store
// (`<data dir>/serve`) and the HTTP API; closed in reverse order.
import path from 'node:path';
import type { Hono } from 'hono';
import type { Pipeline } from '../engine/index.ts';
import { type RunningServer, startServer } from '../http/index.ts';
import { type Log, openLog } from '../log/index.ts';
import { ServingStore } from '../serve/index.ts';

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

export async function openServices(
  dataDir: string,
  flags: HttpFlags,
  pipelines: () => Pipeline[],
  /** More HTTP routes by prefix, built once the log and store are open. */
  mount?: () => Record<string, Hono>,
): Promise<Services> {
  const log = await openLog({ dataDir });
  let store: ServingStore | undefined;
  let http: RunningServer | undefined;
  try {
    store = await ServingStore.open({ dir: path.join(log.dataDir, 'serve') });
    if (flags.http) {
      http = await startServer({
        log,
        store,
        pipelines,
        host: flags.host,
        port: flags.httpPort,
        authToken: flags.authToken ?? process.env.SLUICE_AUTH_TOKEN,
        ...(mount ? { mount: mount() } : {}),
      });
    }
  } catch (error) {
    await store?.close().catch(() => {});
    await log.close();
    throw error;
  }
  const opened = store;
  return {
    log,
    store: opened,
    http,
    async close() {
      await http?.close();
      await opened.close();
      await log.close();
    },
  };
}
