// `sluice up`: runs a deployment spec on one data directory. Topics are created or checked; the services, pipelines
// (deployment-pipelines.ts: worker processes in dependency order), tables (deployment-tables.ts) and jobs (jobs.ts)
// each have their part; this runner starts them in order, answers for the whole (status, replays, version drops,
// job runs) and stops them in reverse (last checkpoints). Replays (Kappa) and batch runs (Lambda) start here too,
// because this process owns the log and the store.
import fs from 'node:fs';
import path from 'node:path';
import { toMillis } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { Log } from '../log/index.ts';
import { createLogger } from '../logger.ts';
import type { RuntimeView } from '../runtime/index.ts';
import type { ServingStore } from '../serve/index.ts';
import { runBatch } from './batch.ts';
import { DeploymentPipelines } from './deployment-pipelines.ts';
import { DeploymentServices } from './deployment-services.ts';
import {
  type DeploymentStatus,
  metricsColumns,
  type PipelineStatus,
  pipelineDetail,
  writeStatusFile,
} from './deployment-status.ts';
import { DeploymentTables } from './deployment-tables.ts';
import { type JobRunRecord, Scheduler } from './jobs.ts';
import { Replay, type ReplayFrom } from './replay.ts';
import type { Deployment } from './spec.ts';
import { versionedTable } from './table-loader.ts';
import { pipelineCheckpointDir, Versions, versionedTopic } from './versions.ts';

export interface DeploymentOptions {
  spec: Deployment;
  log: Log;
  store: ServingStore;
  /** Checkpoint interval override for every pipeline (tests). */
  checkpointIntervalMs?: number;
  /** The HTTP API URL to write into the status file. */
  url?: string;
  /** Told of each pipeline given up on (it could not start, or crashed in a loop); the others keep running. */
  onPipelineFailed?: (pipeline: string, error: Error) => void;
}

/** The directory of a deployment's own state: versions, status, job history. */
export function deploymentDir(dataDir: string): string {
  return path.join(dataDir, 'deployment');
}

export class DeploymentRunner {
  readonly spec: Deployment;
  readonly log: Log;
  readonly store: ServingStore;
  readonly scheduler: Scheduler;
  readonly versions: Versions;
  readonly pipelines: DeploymentPipelines;
  readonly tables: DeploymentTables;
  private readonly services: DeploymentServices;
  private readonly logger = createLogger('up');
  private readonly replays = new Map<string, Replay>();
  private readonly dir: string;
  private readonly startedAt = Date.now();
  private state: DeploymentStatus['state'] = 'starting';
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly options: DeploymentOptions;

  constructor(options: DeploymentOptions) {
    this.options = options;
    this.spec = options.spec;
    this.log = options.log;
    this.store = options.store;
    this.dir = deploymentDir(this.log.dataDir);
    fs.mkdirSync(this.dir, { recursive: true });
    this.versions = new Versions(this.dir);
    this.pipelines = new DeploymentPipelines({
      spec: this.spec,
      log: this.log,
      versions: this.versions,
      logger: this.logger,
      ...(options.checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs: options.checkpointIntervalMs }),
      onFailed: (name, error) => {
        if (!this.closing) options.onPipelineFailed?.(name, error);
      },
    });
    this.tables = new DeploymentTables({
      spec: this.spec,
      log: this.log,
      store: this.store,
      logger: this.logger,
      versionOf: (pipeline) => this.versionOf(pipeline),
      healthy: (pipeline) => this.pipelines.healthyOne(pipeline),
      closing: () => this.closing,
    });
    this.services = new DeploymentServices(this.log, this.logger);
    this.scheduler = new Scheduler({
      jobs: this.spec.jobs,
      historyDir: path.join(this.dir, 'jobs'),
      logger: this.logger,
      batch: (job, batch, range, signal) =>
        runBatch({ deployment: this, job, batch, range, signal, logger: this.logger }),
      backwards: async (name, range) => {
        const batch = this.spec.jobs[name]?.batch;
        if (!batch) return false;
        const physical = versionedTable(batch.table, this.versionOf(batch.pipeline));
        const current = (await this.store.listTables()).find((t) => t.name === physical)?.hybrid?.batch;
        return current !== null && current !== undefined && range.from < current.from;
      },
    });
  }

  /** Creates topics, starts pipelines in dependency order and tables as their topics' writers become healthy. */
  async start(): Promise<void> {
    await this.ensureTopics();
    this.writeStatus();
    this.heartbeat = setInterval(() => {
      this.tables.refresh();
      this.writeStatus();
    }, 1000);
    for (const [name, service] of Object.entries(this.spec.services)) this.services.start(name, service);
    for (const name of this.spec.order) this.pipelines.start(name);
    for (const name of Object.keys(this.spec.tables)) this.tables.start(name);
    // Jobs read what the pipelines and tables produce: schedule them once every pipeline is healthy.
    this.healthy().then(
      () => {
        if (this.state === 'starting' || this.state === 'running') this.scheduler.start();
      },
      () => this.logger.error('a pipeline failed before the deployment was healthy: jobs are not scheduled'),
    );
  }

  /** Resolves once every pipeline is healthy (rejects if one fails for good first). */
  async healthy(): Promise<void> {
    await Promise.all(this.spec.order.map((name) => this.pipelines.healthyOne(name)));
  }

  private async ensureTopics(): Promise<void> {
    for (const [name, topic] of Object.entries(this.spec.topics)) {
      const config = {
        ...(topic.retention === undefined
          ? {}
          : { retentionMs: topic.retention === -1 ? -1 : toMillis(topic.retention) }),
        ...(topic.retentionBytes === undefined ? {} : { retentionBytes: topic.retentionBytes }),
      };
      if (!this.log.hasTopic(name)) {
        await this.log.createTopic(name, { partitions: topic.partitions, config });
        this.logger.info({ topic: name, partitions: topic.partitions }, 'topic created');
        continue;
      }
      const have = this.log.describeTopic(name).partitions.length;
      if (have !== topic.partitions) {
        throw new SluiceError(
          'TOPIC_MISMATCH',
          `topics.${name}.partitions: the spec says ${topic.partitions}, but the topic exists with ${have}`,
          { topic: name },
        );
      }
    }
  }

  private get closing(): boolean {
    return this.state === 'stopping' || this.state === 'stopped';
  }

  versionOf(pipeline: string): number {
    return this.versions.of(pipeline);
  }

  checkpointDir(pipeline: string, version: number): string {
    return pipelineCheckpointDir(this.log.dataDir, pipeline, version);
  }

  /** The live pipelines and running replays, as their workers report them: for `GET /v1/pipelines` and /metrics. */
  views(): RuntimeView[] {
    return [...this.pipelines.views(), ...[...this.replays.values()].flatMap((r) => r.views())];
  }

  /** Kappa: reprocesses `pipeline`'s inputs from `from` into a new version of its outputs, then switches. */
  replay(pipeline: string, from: ReplayFrom): Replay {
    if (!this.spec.pipelines[pipeline]) {
      throw new SluiceError('UNKNOWN_PIPELINE', `no pipeline "${pipeline}" in deployment ${this.spec.name}`);
    }
    const dependents = Object.entries(this.spec.dependencies)
      .filter(([, deps]) => deps.includes(pipeline))
      .map(([name]) => name);
    if (dependents.length > 0) {
      throw new SluiceError(
        'REPLAY_HAS_DEPENDENTS',
        `pipeline ${pipeline} feeds ${dependents.join(', ')}: replay those together is not supported; replay a pipeline whose outputs only feed tables`,
        { dependents },
      );
    }
    const running = this.replays.get(pipeline);
    if (running && running.status().state === 'running') {
      throw new SluiceError('REPLAY_RUNNING', `a replay of ${pipeline} is already running (${running.id})`);
    }
    const replay = new Replay({ deployment: this, pipeline, from, logger: this.logger });
    this.replays.set(pipeline, replay);
    replay.done.catch(() => {});
    return replay;
  }

  replayById(id: string): Replay | undefined {
    return [...this.replays.values()].find((r) => r.id === id);
  }

  /** Drops an old version of a pipeline's outputs: its tables, topics and checkpoints. */
  async dropVersion(pipeline: string, version: number): Promise<void> {
    if (!this.spec.pipelines[pipeline]) {
      throw new SluiceError('UNKNOWN_PIPELINE', `no pipeline "${pipeline}" in deployment ${this.spec.name}`);
    }
    this.versions.checkDroppable(pipeline, version);
    await this.removeVersion(pipeline, version);
    this.versions.dropped(pipeline, version);
  }

  /** Removes what a version of a pipeline left: its tables (and their loaders), topics and checkpoints. */
  async removeVersion(pipeline: string, version: number): Promise<void> {
    await this.tables.remove(pipeline, version);
    for (const topic of this.spec.pipelines[pipeline]!.outputs) {
      const name = versionedTopic(topic, version);
      if (this.log.hasTopic(name)) await this.log.deleteTopic(name);
    }
    fs.rmSync(this.checkpointDir(pipeline, version), { recursive: true, force: true });
  }

  runJobNow(job: string, range?: { from: number; to: number }): Promise<JobRunRecord[]> {
    return this.scheduler.runNow(job, range);
  }

  status(): DeploymentStatus {
    const pipelines = Object.keys(this.spec.pipelines).map((name): PipelineStatus => {
      const { view, ...row } = this.pipelines.row(name);
      const dependsOn = this.spec.dependencies[name] ?? [];
      const lastRestart = view?.history.snapshot().restarts.at(-1);
      return {
        name,
        version: this.versionOf(name),
        ...row,
        detail: pipelineDetail(row.state, {
          dependsOn,
          ...(row.lastError ? { lastError: row.lastError } : {}),
          ...(lastRestart ? { restartInMs: lastRestart.restartInMs, failures: lastRestart.failures } : {}),
        }),
        ...(view ? { host: view.host } : {}),
        dependsOn,
        ...metricsColumns(view),
      };
    });
    return {
      name: this.spec.name,
      pid: process.pid,
      startedAt: this.startedAt,
      updatedAt: Date.now(),
      ...(this.options.url ? { url: this.options.url } : {}),
      state: this.state === 'starting' && pipelines.every((p) => p.state === 'running') ? 'running' : this.state,
      pipelines,
      tables: this.tables.status(),
      jobs: this.scheduler.status(),
      services: this.services.status(),
      replays: [...this.replays.values()].map((r) => r.status()),
    };
  }

  private writeStatus(): void {
    writeStatusFile(this.dir, this.status(), this.logger);
  }

  /** Graceful: jobs and replays first, then pipelines in reverse dependency order (last checkpoints), then tables. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    await this.scheduler.stop();
    for (const replay of this.replays.values()) await replay.cancel();
    await this.pipelines.stop(this.spec.order);
    await this.tables.stop();
    await this.services.stop();
    clearInterval(this.heartbeat);
    this.state = 'stopped';
    this.writeStatus();
  }
}
