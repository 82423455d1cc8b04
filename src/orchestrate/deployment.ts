// `sluice up`: runs a deployment spec on one data directory. Topics are created or checked, pipelines start in
// dependency order — each once the pipelines it reads from are healthy — in supervised worker processes, tables load
// their topics exactly once, jobs run on their schedules, and a stop goes in reverse order (last checkpoints).
// Replays (Kappa) and batch runs (Lambda) are started here too, because this process owns the log and the store.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { RestartBudget, type StartPosition, sleep, toMillis } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import { writeFileAtomicSync } from '../files.ts';
import type { Log } from '../log/index.ts';
import { createLogger } from '../logger.ts';
import type { ServingStore } from '../serve/index.ts';
import { runBatch } from './batch.ts';
import { type JobRunRecord, Scheduler } from './jobs.ts';
import { PipelineProcess } from './pipeline-process.ts';
import { Replay, type ReplayStatus, versionedTopic } from './replay.ts';
import type { Deployment, PipelineSpec, ServiceFunction } from './spec.ts';
import { loaderCheckpointDir, startTableLoader, type TableLoader, versionedTable } from './table-loader.ts';

export interface DeploymentStatus {
  name: string;
  pid: number;
  startedAt: number;
  updatedAt: number;
  /** The HTTP API of the running deployment, when it has one. */
  url?: string;
  state: 'starting' | 'running' | 'stopping' | 'stopped';
  pipelines: {
    name: string;
    version: number;
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
  }[];
  tables: { name: string; version: string; topic: string; lag: number; state: string }[];
  jobs: { name: string; schedule: string; nextRun: number | null; lastRun?: JobRunRecord }[];
  replays: ReplayStatus[];
  services: { name: string; state: string; restarts: number; lastError?: string }[];
}

interface Versions {
  pipelines: Record<string, { version: number; previous: number[] }>;
}

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
  private readonly logger = createLogger('up');
  private readonly processes = new Map<string, PipelineProcess>();
  private readonly loaders = new Map<string, TableLoader>();
  private readonly replays = new Map<string, Replay>();
  private readonly versions: Versions;
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
    this.versions = this.readVersions();
    this.scheduler = new Scheduler({
      jobs: this.spec.jobs,
      historyDir: path.join(this.dir, 'jobs'),
      logger: this.logger,
      batch: (name, batch, range, signal) => this.runBatchJob(name, batch, range, signal),
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
    this.heartbeat = setInterval(() => this.writeStatus(), 1000);
    for (const [name, service] of Object.entries(this.spec.services)) this.startService(name, service);
    for (const name of this.spec.order) this.startPipeline(name);
    for (const name of Object.keys(this.spec.tables)) this.startTable(name);
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
    await Promise.all(this.spec.order.map((name) => this.waitForProcess(name).then((p) => p.ready)));
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
    return this.versions.pipelines[pipeline]?.version ?? 1;
  }

  /** A pipeline's worker for `version`, reading its inputs and writing its outputs under that version's names. */
  createProcess(name: string, version: number, extra: { from?: StartPosition; label?: string } = {}): PipelineProcess {
    const spec = this.spec.pipelines[name]!;
    return new PipelineProcess({
      name: extra.label ?? name,
      log: this.log,
      logger: this.logger,
      renames: this.renames(spec, version),
      restart: {
        ...(spec.restart.maxFailures === undefined ? {} : { maxFailures: spec.restart.maxFailures }),
        ...(spec.restart.window === undefined ? {} : { windowMs: toMillis(spec.restart.window) }),
        ...(spec.restart.initialDelay === undefined ? {} : { initialDelayMs: toMillis(spec.restart.initialDelay) }),
        ...(spec.restart.maxDelay === undefined ? {} : { maxDelayMs: toMillis(spec.restart.maxDelay) }),
      },
      start: {
        fileUrl: pathToFileURL(spec.file).href,
        dataDir: this.log.dataDir,
        bounded: false,
        checkpointDir: this.checkpointDir(name, version),
        checkpointIntervalMs: this.options.checkpointIntervalMs ?? toMillis(spec.checkpointInterval),
        ...(extra.from ? { position: { from: extra.from } } : {}),
      },
    });
  }

  checkpointDir(pipeline: string, version: number): string {
    return path.join(this.log.dataDir, 'checkpoints', version === 1 ? pipeline : `${pipeline}@v${version}`);
  }

  renames(spec: PipelineSpec, version: number): Record<string, string> {
    return version === 1 ? {} : Object.fromEntries(spec.outputs.map((t) => [t, versionedTopic(t, version)]));
  }

  private startPipeline(name: string): void {
    const deps = this.spec.dependencies[name] ?? [];
    const after = Promise.all(deps.map((d) => this.waitForProcess(d).then((p) => p.ready)));
    const placeholder = { state: 'waiting' };
    this.pending.set(name, placeholder);
    after.then(
      () => {
        this.pending.delete(name);
        if (this.closing) return;
        const process = this.createProcess(name, this.versionOf(name));
        process.done.catch((error: Error) => {
          if (!this.closing) this.options.onPipelineFailed?.(name, error);
        });
        this.processes.set(name, process);
        this.logger.info({ pipeline: name, version: this.versionOf(name) }, 'pipeline starting');
        this.resolveProcess(name, process);
      },
      (error: Error) => {
        placeholder.state = `blocked: ${error.message}`;
      },
    );
  }

  private readonly services = new Map<
    string,
    { state: string; restarts: number; lastError?: string; done: Promise<void> }
  >();
  private readonly stopping = new AbortController();

  /** Runs a service until the deployment stops, restarting it with backoff when it throws. */
  private startService(name: string, service: ServiceFunction): void {
    const entry: { state: string; restarts: number; lastError?: string; done: Promise<void> } = {
      state: 'running',
      restarts: 0,
      done: Promise.resolve(),
    };
    const signal = this.stopping.signal;
    entry.done = (async () => {
      const budget = new RestartBudget({ initialDelayMs: 500 });
      while (!signal.aborted) {
        try {
          entry.state = 'running';
          await service({ log: this.log, signal });
          if (!signal.aborted)
            await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        } catch (error) {
          if (signal.aborted) break;
          entry.lastError = (error as Error).message;
          let delay: number;
          try {
            delay = budget.failed(error, `service ${name}`);
          } catch (given) {
            entry.state = 'failed';
            entry.lastError = (given as Error).message;
            this.logger.error({ service: name, err: given }, 'service given up on');
            return;
          }
          entry.state = 'restarting';
          entry.restarts++;
          this.logger.warn({ service: name, err: error, restartInMs: Math.round(delay) }, 'service failed; restarting');
          await sleep(delay, signal);
        }
      }
      entry.state = 'stopped';
    })();
    this.services.set(name, entry);
  }

  private readonly pending = new Map<string, { state: string }>();
  private readonly waiters = new Map<string, ((p: PipelineProcess) => void)[]>();

  private waitForProcess(name: string): Promise<PipelineProcess> {
    const existing = this.processes.get(name);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => this.waiters.set(name, [...(this.waiters.get(name) ?? []), resolve]));
  }

  private resolveProcess(name: string, process: PipelineProcess): void {
    for (const resolve of this.waiters.get(name) ?? []) resolve(process);
    this.waiters.delete(name);
  }

  /** The pipeline (in this spec) that writes `topic`. */
  producerOf(topic: string): string | undefined {
    return Object.entries(this.spec.pipelines).find(([, p]) => p.outputs.includes(topic))?.[0];
  }

  private startTable(name: string): void {
    const spec = this.spec.tables[name]!;
    const producer = this.producerOf(spec.from);
    const version = producer ? this.versionOf(producer) : 1;
    const start = async () => {
      // The producer creates its output topics when it opens: load once it is healthy.
      if (producer) await (await this.waitForProcess(producer)).ready;
      if (this.closing) return;
      this.loadVersion(name, version);
      if (this.store.versionOf(name) !== undefined) return;
      // The first version is published as soon as its loader has defined it (the sink does that when it opens).
      const physical = versionedTable(name, version);
      while (!this.store.table(physical)) {
        if (this.closing) return;
        await sleep(50);
      }
      await this.store.publishVersions({ [name]: physical });
    };
    start().catch((error: unknown) => this.logger.error({ table: name, err: error }, 'table not loaded'));
  }

  /** Starts loading version `version` of table `name` (from that version's topic). */
  loadVersion(name: string, version: number): TableLoader {
    const spec = this.spec.tables[name]!;
    const physical = versionedTable(name, version);
    const topic = versionedTopic(spec.from, version);
    const loader = startTableLoader({
      log: this.log,
      store: this.store,
      table: physical,
      topic,
      spec,
      dataDir: this.log.dataDir,
      logger: this.logger,
    });
    this.loaders.set(physical, loader);
    loader.run.done.catch((error: unknown) =>
      this.logger.error({ table: physical, err: error }, 'table loader failed'),
    );
    return loader;
  }

  loader(table: string): TableLoader | undefined {
    return this.loaders.get(table);
  }

  async stopLoader(table: string): Promise<void> {
    const loader = this.loaders.get(table);
    if (!loader) return;
    loader.run.stop();
    await loader.run.done.catch(() => {});
    this.loaders.delete(table);
  }

  process(name: string): PipelineProcess | undefined {
    return this.processes.get(name);
  }

  /** Makes `process` the live instance of `name` at `version` (a replay's switch), returning the old one. */
  promote(name: string, version: number, process: PipelineProcess): PipelineProcess | undefined {
    const old = this.processes.get(name);
    this.processes.set(name, process);
    const entry = this.versions.pipelines[name] ?? { version: 1, previous: [] };
    this.versions.pipelines[name] = { version, previous: [...entry.previous, entry.version] };
    this.writeVersions();
    return old;
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
    const spec = this.spec.pipelines[pipeline];
    if (!spec) throw new SluiceError('UNKNOWN_PIPELINE', `no pipeline "${pipeline}" in deployment ${this.spec.name}`);
    if (version === this.versionOf(pipeline)) {
      throw new SluiceError('VERSION_IN_USE', `version ${version} is the live version of ${pipeline}`);
    }
    const entry = this.versions.pipelines[pipeline];
    if (!entry?.previous.includes(version)) {
      throw new SluiceError('UNKNOWN_VERSION', `${pipeline} has no old version ${version}`);
    }
    await this.removeVersion(pipeline, version);
    entry.previous = entry.previous.filter((v) => v !== version);
    this.writeVersions();
  }

  /** The spec's tables that load one of the pipeline's outputs. */
  tablesOf(pipeline: string): string[] {
    const outputs = this.spec.pipelines[pipeline]!.outputs;
    return Object.entries(this.spec.tables)
      .filter(([, table]) => outputs.includes(table.from))
      .map(([name]) => name);
  }

  /** Removes what a version of a pipeline left: its tables (and their loaders), topics and checkpoints. */
  async removeVersion(pipeline: string, version: number): Promise<void> {
    for (const name of this.tablesOf(pipeline)) {
      const physical = versionedTable(name, version);
      await this.stopLoader(physical);
      if (this.store.table(physical)) await this.store.dropTable(physical);
      fs.rmSync(loaderCheckpointDir(this.log.dataDir, physical), { recursive: true, force: true });
    }
    for (const topic of this.spec.pipelines[pipeline]!.outputs) {
      const name = versionedTopic(topic, version);
      if (this.log.hasTopic(name)) await this.log.deleteTopic(name);
    }
    fs.rmSync(this.checkpointDir(pipeline, version), { recursive: true, force: true });
  }

  runJobNow(job: string, range?: { from: number; to: number }): Promise<JobRunRecord[]> {
    return this.scheduler.runNow(job, range);
  }

  private runBatchJob(
    job: string,
    batch: NonNullable<Deployment['jobs'][string]['batch']>,
    range: { from: number; to: number },
    signal: AbortSignal,
  ) {
    return runBatch({ deployment: this, job, batch, range, signal, logger: this.logger });
  }

  status(): DeploymentStatus {
    const pipelines = Object.keys(this.spec.pipelines).map((name) => {
      const p = this.processes.get(name);
      const m = p?.metrics;
      const sources = m?.operators.filter((o) => o.name.startsWith('source:')) ?? [];
      const sinks = m?.operators.filter((o) => o.name.startsWith('sink:')) ?? [];
      const lags = m?.operators.map((o) => o.watermarkLagMs).filter((l): l is number => l !== null) ?? [];
      return {
        name,
        version: this.versionOf(name),
        state: p?.state ?? this.pending.get(name)?.state ?? 'waiting',
        ...(p?.pid ? { pid: p.pid } : {}),
        restarts: p?.restarts.length ?? 0,
        ...(p?.lastError ? { lastError: p.lastError } : {}),
        dependsOn: this.spec.dependencies[name] ?? [],
        recordsIn: sources.reduce((s, o) => s + o.recordsIn, 0),
        recordsOut: sinks.reduce((s, o) => s + o.recordsIn, 0),
        lateRecords: m?.operators.reduce((s, o) => s + (o.lateRecords ?? 0), 0) ?? 0,
        checkpoints: m?.checkpoints.completed ?? 0,
        watermarkLagMs: lags.length > 0 ? Math.max(...lags) : null,
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
      tables: [...this.loaders.values()].map((l) => ({
        name: l.table.replace(/__v\d+$/, ''),
        version: l.table,
        topic: l.topic,
        lag: l.lag(),
        state: l.run.current()?.metrics().running ? 'loading' : 'starting',
      })),
      jobs: this.scheduler.status(),
      services: [...this.services].map(([name, s]) => ({
        name,
        state: s.state,
        restarts: s.restarts,
        ...(s.lastError ? { lastError: s.lastError } : {}),
      })),
      replays: [...this.replays.values()].map((r) => r.status()),
    };
  }

  private writeStatus(): void {
    try {
      // Advisory and rewritten every second: renamed into place (never half-written), but not fsynced.
      const file = path.join(this.dir, 'status.json');
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(this.status(), null, 2));
      fs.renameSync(`${file}.tmp`, file);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not write the status file');
    }
  }

  private readVersions(): Versions {
    const file = path.join(this.dir, 'versions.json');
    if (!fs.existsSync(file)) return { pipelines: {} };
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Versions;
  }

  private writeVersions(): void {
    writeFileAtomicSync(path.join(this.dir, 'versions.json'), JSON.stringify(this.versions, null, 2));
  }

  /** Graceful: jobs and replays first, then pipelines in reverse dependency order (last checkpoints), then tables. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    await this.scheduler.stop();
    for (const replay of this.replays.values()) await replay.cancel();
    for (const name of [...this.spec.order].reverse()) await this.processes.get(name)?.stop();
    for (const table of [...this.loaders.keys()]) await this.stopLoader(table);
    this.stopping.abort();
    await Promise.all([...this.services.values()].map((s) => s.done));
    clearInterval(this.heartbeat);
    this.state = 'stopped';
    this.writeStatus();
  }
}

/** Where a replay starts: the earliest offset, one offset in every partition of every input, or a timestamp. */
export type ReplayFrom = 'earliest' | { offset: number } | { timestamp: number };
