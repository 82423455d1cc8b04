// What `sluice status`, `GET /v1/deployment` and the dashboard's Deployment page show of a running deployment, and
// the status file the orchestrator rewrites every second (`<data dir>/deployment/status.json`). Every state comes
// with `detail`: a sentence that says what the state means for this pipeline or table right now, so that nobody has
// to guess why a table is still "catching up" or a pipeline is "waiting".
import fs from 'node:fs';
import path from 'node:path';
import type { PipelineMetrics, PipelineView } from '../engine/index.ts';
import type { Logger } from '../logger.ts';
import type { TableStatus } from './deployment-tables.ts';
import type { JobStatus } from './jobs.ts';
import type { ReplayStatus } from './replay.ts';

export interface DeploymentStatus {
  name: string;
  pid: number;
  startedAt: number;
  updatedAt: number;
  /** The HTTP API of the running deployment, when it has one. */
  url?: string;
  state: 'starting' | 'running' | 'stopping' | 'stopped';
  pipelines: PipelineStatus[];
  tables: TableStatus[];
  jobs: JobStatus[];
  replays: ReplayStatus[];
  services: { name: string; state: string; restarts: number; lastError?: string }[];
}

export interface PipelineStatus {
  name: string;
  version: number;
  /**
   * The supervisor's state (src/runtime/states.ts: starting, running, restarting, recovering, stopping, stopped,
   * finished, failed), or `waiting` (for the pipelines it reads from) or `blocked` (one of those failed for good).
   */
  state: string;
  /** What the state means now, in a sentence. */
  detail: string;
  /** Where it runs: `worker-process` under `sluice up`. */
  host?: string;
  pid?: number;
  restarts: number;
  lastError?: string;
  dependsOn: string[];
  recordsIn: number;
  recordsOut: number;
  lateRecords: number;
  checkpoints: number;
  checkpointFailures: number;
  /** When the latest completed checkpoint finished (epoch ms). */
  lastCheckpointAt?: number;
  /** Processing time minus the slowest operator's watermark: negative when event time runs ahead of the clock. */
  watermarkLagMs: number | null;
}

/** The status columns a pipeline's view gives. */
export function metricsColumns(
  view: PipelineView | undefined,
): Pick<
  PipelineStatus,
  'recordsIn' | 'recordsOut' | 'lateRecords' | 'checkpoints' | 'checkpointFailures' | 'watermarkLagMs'
> & { lastCheckpointAt?: number } {
  const m: PipelineMetrics | undefined = view?.metrics();
  const sources = m?.operators.filter((o) => o.name.startsWith('source:')) ?? [];
  const sinks = m?.operators.filter((o) => o.name.startsWith('sink:')) ?? [];
  const lags = m?.operators.map((o) => o.watermarkLagMs).filter((l): l is number => l !== null) ?? [];
  const completed = view?.history.snapshot().checkpoints.filter((c) => c.status === 'completed') ?? [];
  const last = completed.at(-1);
  return {
    recordsIn: sources.reduce((s, o) => s + o.recordsIn, 0),
    recordsOut: sinks.reduce((s, o) => s + o.recordsIn, 0),
    lateRecords: m?.operators.reduce((s, o) => s + (o.lateRecords ?? 0), 0) ?? 0,
    checkpoints: m?.checkpoints.completed ?? 0,
    checkpointFailures: m?.checkpoints.failed ?? 0,
    ...(last ? { lastCheckpointAt: last.startedAt + last.durationMs } : {}),
    watermarkLagMs: lags.length > 0 ? Math.max(...lags) : null,
  };
}

/** What a pipeline's state means, given what else the status knows of it. */
export function pipelineDetail(
  state: string,
  facts: { dependsOn: readonly string[]; lastError?: string; restartInMs?: number | null; failures?: number },
): string {
  if (state.startsWith('blocked')) return `not started: ${state.slice('blocked: '.length) || 'a dependency failed'}`;
  switch (state) {
    case 'waiting':
      return facts.dependsOn.length > 0
        ? `waiting for ${facts.dependsOn.join(', ')} to be healthy (first checkpoint taken)`
        : 'waiting to start';
    case 'created':
    case 'starting':
      return 'its worker is loading the pipeline and restoring the latest checkpoint';
    case 'running':
      return 'processing';
    case 'restarting':
      // The backoff the supervisor chose when it failed (not a countdown: the status does not know how much is left).
      return `failed${facts.failures ? ` (${facts.failures} in the restart window)` : ''}; restarting${
        facts.restartInMs ? ` after a ${Math.ceil(facts.restartInMs / 1000)} s backoff` : ''
      } from its latest checkpoint${facts.lastError ? `: ${facts.lastError}` : ''}`;
    case 'recovering':
      return 'a new worker is restoring the latest checkpoint after a failure';
    case 'stopping':
      return 'taking a last checkpoint before it stops';
    case 'stopped':
      return 'stopped';
    case 'finished':
      return 'finished: its input was bounded and is all read';
    case 'failed':
      return `given up on (not restarted)${facts.lastError ? `: ${facts.lastError}` : ''}`;
    default:
      return state;
  }
}

/** Advisory and rewritten every second: renamed into place (never half-written), but not fsynced. */
export function writeStatusFile(dir: string, status: DeploymentStatus, logger: Logger): void {
  try {
    const file = path.join(dir, 'status.json');
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(status, null, 2));
    fs.renameSync(`${file}.tmp`, file);
  } catch (error) {
    logger.warn({ err: error }, 'could not write the status file');
  }
}
