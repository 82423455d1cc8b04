// How the CLI reaches a running `sluice up`: its status file in the data directory names its process and HTTP
// API; `status` reads the file, `replay` and `backfill` call the control API at /v1/deployment.
import fs from 'node:fs';
import path from 'node:path';
import { errorFromWire, SluiceError } from '../errors.ts';
import type { DeploymentJson } from '../http/index.ts';
import { type DeploymentStatus, deploymentDir } from '../orchestrate/index.ts';

/**
 * The status the orchestrator writes is the JSON the HTTP API documents for the dashboard (src/http/api.ts):
 * checked here, the one layer that sees both, so that neither can change without the other.
 */
type Conforms<T extends DeploymentJson> = T;
export type StatusJson = Conforms<DeploymentStatus>;

/** A status file older than this means the deployment is gone (it is rewritten every second). */
const STALE_MS = 5000;

export interface FoundDeployment {
  status: DeploymentStatus;
  /** False when the process is gone (the file is what it last wrote). */
  alive: boolean;
}

export function readDeploymentStatus(dataDir: string): FoundDeployment {
  const file = path.join(deploymentDir(dataDir), 'status.json');
  if (!fs.existsSync(file)) {
    throw new SluiceError(
      'UNKNOWN_DEPLOYMENT',
      `no deployment has run on ${dataDir} (start one with sluice up <spec>)`,
    );
  }
  const status = JSON.parse(fs.readFileSync(file, 'utf8')) as DeploymentStatus;
  let alive = status.state !== 'stopped' && Date.now() - status.updatedAt < STALE_MS;
  try {
    process.kill(status.pid, 0);
  } catch {
    alive = false;
  }
  return { status, alive };
}

export interface ControlClient {
  call<T>(method: string, route: string, body?: unknown): Promise<T>;
}

/** A client of the running deployment's control API: by --url, or the URL its status file names. */
export function controlClient(flags: { dataDir: string; url?: string; authToken?: string }): ControlClient {
  let base = flags.url;
  if (!base) {
    const { status, alive } = readDeploymentStatus(flags.dataDir);
    if (!alive)
      throw new SluiceError('BROKER_UNAVAILABLE', `deployment ${status.name} on ${flags.dataDir} is not running`);
    if (!status.url) {
      throw new SluiceError(
        'BROKER_UNAVAILABLE',
        `deployment ${status.name} runs without HTTP (--no-http): no control API`,
      );
    }
    base = status.url;
  }
  const token = flags.authToken ?? process.env.SLUICE_AUTH_TOKEN;
  return {
    async call<T>(method: string, route: string, body?: unknown): Promise<T> {
      let response: Response;
      try {
        response = await fetch(`${base!.replace(/\/$/, '')}/v1/deployment${route}`, {
          method,
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        throw new SluiceError(
          'BROKER_UNAVAILABLE',
          `cannot reach ${base}: ${(error as Error).cause ?? (error as Error).message}`,
        );
      }
      const answer = (await response.json().catch(() => ({}))) as T & { error?: { code: string; message: string } };
      if (!response.ok) {
        if (!answer.error)
          throw new SluiceError('INTERNAL', `${base} answered ${response.status} ${response.statusText}`);
        throw errorFromWire(answer.error);
      }
      return answer;
    },
  };
}

/** `--from`: `earliest`, an offset (every partition), an ISO date-time or epoch milliseconds. */
export function parsePoint(value: string, flag: string): 'earliest' | { offset: number } | { timestamp: number } {
  if (value === 'earliest') return 'earliest';
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    // Epoch milliseconds are 13 digits today; offsets are smaller than 10^12 in any log that exists.
    return n >= 1e12 ? { timestamp: n } : { offset: n };
  }
  const time = Date.parse(value);
  if (Number.isNaN(time)) {
    throw new SluiceError(
      'INVALID_ARGUMENT',
      `${flag} '${value}' is not "earliest", an offset, an ISO date-time or epoch ms`,
    );
  }
  return { timestamp: time };
}
