// What `sluice status` and `GET /v1/deployment` show of a running deployment, and the status file the orchestrator
// rewrites every second (`<data dir>/deployment/status.json`).
import fs from 'node:fs';
import path from 'node:path';
import type { PipelineMetrics } from '../engine/index.ts';
import type { Logger } from '../logger.ts';
import type { JobRunRecord } from './jobs.ts';
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
  tables: { name: string; version: string; topic: string; lag: number; state: string }[];
  jobs: { name: string; schedule: string; nextRun: number | null; lastRun?: JobRunRecord }[];
  replays: ReplayStatus[];
  services: { name: string; state: string; restarts: number; lastError?: string }[];
}

export interface PipelineStatus {
  name: string;
  version: number;
  /** The supervisor's state (src/runtime/states.ts), or `waiting`/`blocked: …` before it starts. */
  state: string;
  pid?: number;
  restarts: number;
  lastError?: string;
  dependsOn: string[];
  recordsIn: number;
  recordsOut: number;
  lateRecords: number;
  checkpoints: number;
  lastCheckpointAt?: number;
  watermarkLagMs: number | null;
}

/** The status columns a pipeline's metrics give. */
export function metricsColumns(
  m: PipelineMetrics | undefined,
): Pick<PipelineStatus, 'recordsIn' | 'recordsOut' | 'lateRecords' | 'checkpoints' | 'watermarkLagMs'> {
  const sources = m?.operators.filter((o) => o.name.startsWith('source:')) ?? [];
  const sinks = m?.operators.filter((o) => o.name.startsWith('sink:')) ?? [];
  const lags = m?.operators.map((o) => o.watermarkLagMs).filter((l): l is number => l !== null) ?? [];
  return {
    recordsIn: sources.reduce((s, o) => s + o.recordsIn, 0),
    recordsOut: sinks.reduce((s, o) => s + o.recordsIn, 0),
    lateRecords: m?.operators.reduce((s, o) => s + (o.lateRecords ?? 0), 0) ?? 0,
    checkpoints: m?.checkpoints.completed ?? 0,
    watermarkLagMs: lags.length > 0 ? Math.max(...lags) : null,
  };
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
