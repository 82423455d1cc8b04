// The deployment's pipelines: each in worker processes (a worker-process host) under its own supervisor (src/runtime),
// started in dependency order — once the pipelines it reads from are healthy — and stopped in reverse. A replay's new
// version runs the same way and takes over from the live one (promote). What they report (views) is what the HTTP API
// and the dashboard show of a `sluice up` deployment.
import { pathToFileURL } from 'node:url';
import { type StartPosition, toMillis } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { Log } from '../log/index.ts';
import type { Logger } from '../logger.ts';
import {
  isStartupFailure,
  type RestartPolicy,
  type RuntimeView,
  Supervisor,
  type SupervisorState,
  WorkerProcessHost,
} from '../runtime/index.ts';
import type { Deployment, PipelineSpec } from './spec.ts';
import { pipelineCheckpointDir, type Versions, versionedTopic } from './versions.ts';

/** A pipeline's restart policy as its spec gives it. */
export function restartPolicy(spec: PipelineSpec): RestartPolicy {
  return {
    ...(spec.restart.maxFailures === undefined ? {} : { maxFailures: spec.restart.maxFailures }),
    ...(spec.restart.window === undefined ? {} : { windowMs: toMillis(spec.restart.window) }),
    ...(spec.restart.initialDelay === undefined ? {} : { initialDelayMs: toMillis(spec.restart.initialDelay) }),
    ...(spec.restart.maxDelay === undefined ? {} : { maxDelayMs: toMillis(spec.restart.maxDelay) }),
  };
}

export interface DeploymentPipelinesOptions {
  spec: Deployment;
  log: Log;
  versions: Versions;
  logger: Logger;
  /** Checkpoint interval override for every pipeline (tests). */
  checkpointIntervalMs?: number;
  /** Told of each pipeline given up on (it could not start, or crashed in a loop); the others keep running. */
  onFailed?: (pipeline: string, error: Error) => void;
}

/** A pipeline as the status shows it. */
export interface PipelineRow {
  state: SupervisorState | 'waiting' | `blocked: ${string}`;
  pid?: number;
  restarts: number;
  lastError?: string;
  view?: RuntimeView;
}

export class DeploymentPipelines {
  private readonly options: DeploymentPipelinesOptions;
  private readonly live = new Map<string, Supervisor>();
  /** Pipelines waiting for those they depend on (or blocked: one of those failed for good). */
  private readonly pending = new Map<string, { state: PipelineRow['state'] }>();
  private readonly waiters = new Map<string, ((s: Supervisor) => void)[]>();
  /** Why a pipeline was given up on, as reported (a first start that failed says so). */
  private readonly failures = new Map<Supervisor, string>();
  private closing = false;

  constructor(options: DeploymentPipelinesOptions) {
    this.options = options;
  }

  /**
   * Supervises version `version` of `name` in worker processes, reading its inputs from `from` when no checkpoint
   * says otherwise and writing its outputs under that version's names. Not started.
   */
  supervise(name: string, version: number, extra: { from?: StartPosition; label?: string } = {}): Supervisor {
    const { options } = this;
    const spec = options.spec.pipelines[name]!;
    const label = extra.label ?? name;
    const host = new WorkerProcessHost({
      name: label,
      log: options.log,
      renames: version === 1 ? {} : Object.fromEntries(spec.outputs.map((t) => [t, versionedTopic(t, version)])),
      logLevel: options.logger.level,
      start: {
        fileUrl: pathToFileURL(spec.file).href,
        dataDir: options.log.dataDir,
        bounded: false,
        checkpointDir: pipelineCheckpointDir(options.log.dataDir, name, version),
        checkpointIntervalMs: options.checkpointIntervalMs ?? toMillis(spec.checkpointInterval),
        ...(extra.from ? { position: { from: extra.from } } : {}),
      },
    });
    const supervisor = new Supervisor({
      host,
      name: `pipeline ${label}`,
      restart: restartPolicy(spec),
      logger: options.logger,
      restartMessage: 'pipeline process failed; restarting it from its latest checkpoint',
      stopTimeoutMs: 30_000,
      viewName: label,
    });
    supervisor.done.catch((error: Error) => {
      const failure = isStartupFailure(error)
        ? new SluiceError(
            (error as SluiceError).code,
            `pipeline ${label} failed before it started (not restarted): ${error.message}`,
            { ...(error as SluiceError).details, pipeline: label },
          )
        : error;
      this.failures.set(supervisor, failure.message);
      // A pipeline that could not start has nothing in its stack worth a screenful: its message says it all.
      if (isStartupFailure(error)) {
        options.logger.error(
          { pipeline: label, code: (error as SluiceError).code, reason: error.message },
          'pipeline could not start; not restarting it',
        );
      } else options.logger.error({ pipeline: label, err: error }, 'pipeline given up on');
      if (!this.closing && this.live.get(name) === supervisor) options.onFailed?.(name, failure);
    });
    return supervisor;
  }

  /** Starts `name` (its live version) once every pipeline it depends on is healthy. */
  start(name: string): void {
    const deps = this.options.spec.dependencies[name] ?? [];
    const placeholder: { state: PipelineRow['state'] } = { state: 'waiting' };
    this.pending.set(name, placeholder);
    Promise.all(deps.map((d) => this.healthyOne(d))).then(
      () => {
        this.pending.delete(name);
        if (this.closing) return;
        const version = this.options.versions.of(name);
        const supervisor = this.supervise(name, version);
        this.live.set(name, supervisor);
        this.options.logger.info({ pipeline: name, version }, 'pipeline starting');
        supervisor.start();
        for (const resolve of this.waiters.get(name) ?? []) resolve(supervisor);
        this.waiters.delete(name);
      },
      (error: Error) => {
        placeholder.state = `blocked: ${error.message}`;
      },
    );
  }

  /** The live supervisor of `name`, once it has started. */
  whenStarted(name: string): Promise<Supervisor> {
    const existing = this.live.get(name);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => this.waiters.set(name, [...(this.waiters.get(name) ?? []), resolve]));
  }

  /** Resolves once `name` is healthy (its first checkpoint taken); rejects if it fails for good first. */
  async healthyOne(name: string): Promise<void> {
    await (await this.whenStarted(name)).healthy;
  }

  get(name: string): Supervisor | undefined {
    return this.live.get(name);
  }

  /** Makes `supervisor` the live instance of `name` (a replay's switch), returning the one it replaces. */
  promote(name: string, supervisor: Supervisor): Supervisor | undefined {
    const old = this.live.get(name);
    this.live.set(name, supervisor);
    return old;
  }

  /** What the status shows of `name`. */
  row(name: string): PipelineRow {
    const supervisor = this.live.get(name);
    if (!supervisor) return { state: this.pending.get(name)?.state ?? 'waiting', restarts: 0 };
    const lastError = this.failures.get(supervisor) ?? supervisor.lastError;
    const view = supervisor.views()[0];
    return {
      state: supervisor.state,
      ...(supervisor.pid ? { pid: supervisor.pid } : {}),
      restarts: supervisor.restarts(),
      ...(lastError ? { lastError } : {}),
      ...(view ? { view } : {}),
    };
  }

  /** The live pipelines, as their workers last reported them. */
  views(): RuntimeView[] {
    return [...this.live.values()].flatMap((s) => s.views());
  }

  /** Stops every pipeline, downstream first (each takes a last checkpoint). */
  async stop(order: readonly string[]): Promise<void> {
    this.closing = true;
    for (const name of [...order].reverse()) await this.live.get(name)?.stop();
  }
}
