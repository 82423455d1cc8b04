// Kappa replay: history is reprocessed by the same pipeline code, not by a second codebase. A new instance of the
// pipeline (fresh state, its own checkpoints) reads its inputs from the given point and writes a new version of its
// output topics, loaded into new versions of its tables; once it has caught up with what the log held when the
// replay began and its tables have loaded, readers switch to the new versions in one transaction and the new
// instance becomes the live one. The old version stays (tables, topics, checkpoints) until it is dropped.
import { requestSavepoint, type StartPosition } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { Log } from '../log/index.ts';
import type { Logger } from '../logger.ts';
import { positionsByTopic, type RuntimeView, type Supervisor } from '../runtime/index.ts';
import type { ServingStore } from '../serve/index.ts';
import type { DeploymentPipelines } from './deployment-pipelines.ts';
import type { DeploymentTables } from './deployment-tables.ts';
import type { Deployment } from './spec.ts';
import { versionedTable } from './table-loader.ts';
import type { Versions } from './versions.ts';

/** Where a replay starts: the earliest offset, one offset in every partition of every input, or a timestamp. */
export type ReplayFrom = 'earliest' | { offset: number } | { timestamp: number };

/** What a replay uses of the deployment it runs in (the DeploymentRunner). */
export interface ReplayDeployment {
  readonly spec: Deployment;
  readonly log: Log;
  readonly store: ServingStore;
  readonly versions: Versions;
  readonly pipelines: DeploymentPipelines;
  readonly tables: DeploymentTables;
  versionOf(pipeline: string): number;
  checkpointDir(pipeline: string, version: number): string;
  /** Removes what a version of a pipeline left: its tables, topics and checkpoints. */
  removeVersion(pipeline: string, version: number): Promise<void>;
}

export interface ReplayStatus {
  id: string;
  pipeline: string;
  version: number;
  state: 'running' | 'switched' | 'failed' | 'cancelled';
  /** Input records reprocessed so far, and how many the log held (from the start point) when the replay began. */
  processed: number;
  total: number;
  ratePerSec: number;
  etaSec: number | null;
  startedAt: number;
  switchedAt?: number;
  error?: string;
}

let replays = 0;

export class Replay {
  readonly id: string;
  readonly done: Promise<void>;
  private readonly deployment: ReplayDeployment;
  private readonly pipeline: string;
  private readonly version: number;
  private readonly logger: Logger;
  private process: Supervisor | undefined;
  private readonly cancelled = new AbortController();
  private current: ReplayStatus;
  /** Per input topic: where the replay starts and the end offsets when it began. */
  private targets = new Map<string, { start: number[]; end: number[] }>();
  private samples: { at: number; processed: number }[] = [];

  constructor(options: { deployment: ReplayDeployment; pipeline: string; from: ReplayFrom; logger: Logger }) {
    this.deployment = options.deployment;
    this.pipeline = options.pipeline;
    this.logger = options.logger;
    const previous = options.deployment.versionOf(options.pipeline);
    this.version = previous + 1;
    this.id = `${options.pipeline}@v${this.version}-${Date.now().toString(36)}${++replays}`;
    this.current = {
      id: this.id,
      pipeline: this.pipeline,
      version: this.version,
      state: 'running',
      processed: 0,
      total: 0,
      ratePerSec: 0,
      etaSec: null,
      startedAt: Date.now(),
    };
    this.done = this.run(options.from).catch((error: unknown) => {
      this.current.state = this.cancelled.signal.aborted ? 'cancelled' : 'failed';
      this.current.error = (error as Error).message;
      this.logger.error({ replay: this.id, err: error }, 'replay failed');
      throw error;
    });
  }

  status(): ReplayStatus {
    return { ...this.current };
  }

  /** The new version while it catches up (named `<pipeline>@v<n>`); once switched it is the live pipeline. */
  views(): RuntimeView[] {
    return this.current.state === 'running' ? (this.process?.views() ?? []) : [];
  }

  async cancel(): Promise<void> {
    if (this.current.state !== 'running') return;
    this.cancelled.abort();
    await this.process?.stop();
    await this.done.catch(() => {});
  }

  private async run(from: ReplayFrom): Promise<void> {
    const { deployment } = this;
    const spec = deployment.spec.pipelines[this.pipeline]!;
    const log = deployment.log;
    // A replay of this version that was interrupted left topics, tables and checkpoints: start clean.
    await deployment.removeVersion(this.pipeline, this.version);
    // What the log holds now, from the start point on: the replay is caught up once it has read that much.
    let total = 0;
    for (const topic of spec.inputs) {
      const partitions = log.describeTopic(topic).partitions;
      const start = partitions.map((p) => {
        if (from === 'earliest') return p.logStartOffset;
        if ('timestamp' in from) return log.offsetForTimestamp(topic, p.partition, from.timestamp) ?? p.logEndOffset;
        return Math.max(p.logStartOffset, Math.min(p.logEndOffset, from.offset));
      });
      const end = partitions.map((p) => p.logEndOffset);
      this.targets.set(topic, { start, end });
      total += end.reduce((sum, e, i) => sum + Math.max(0, e - start[i]!), 0);
    }
    this.current.total = total;
    const partitions = Math.max(...spec.inputs.map((t) => log.describeTopic(t).partitions.length), 1);
    const position: StartPosition =
      from === 'earliest' || 'timestamp' in from
        ? from
        : { offsets: Object.fromEntries(Array.from({ length: partitions }, (_, i) => [i, from.offset])) };
    const process = deployment.pipelines.supervise(this.pipeline, this.version, {
      from: position,
      label: `${this.pipeline}@v${this.version}`,
    });
    this.process = process.start();
    const view = () => process.views()[0];
    const tables = deployment.tables.tablesOf(this.pipeline);
    await Promise.race([process.healthy, this.aborted()]);
    const loaders = tables.map((name) => deployment.tables.loadVersion(name, this.version));
    this.logger.info({ replay: this.id, total }, 'replay started');
    // Caught up, in three steps. (1) The new instance has read its inputs up to where the log ended when the replay
    // began. (2) It has completed a checkpoint since: its barrier came after those records, so every result they
    // produced is in the new topics. (3) The new tables have loaded those topics up to there and checkpointed.
    const wait = async (done: () => boolean) => {
      while (!done()) {
        this.measure();
        if (process.state === 'failed') throw new SluiceError('REPLAY_FAILED', `${this.id}: ${process.lastError}`);
        if (this.cancelled.signal.aborted) throw new SluiceError('REPLAY_CANCELLED', `${this.id} was cancelled`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      this.measure();
    };
    await wait(() =>
      [...this.targets].every(([topic, { end }]) => {
        const position = positionsByTopic(view())[topic];
        return position !== undefined && end.every((e, i) => (position[i] ?? 0) >= e);
      }),
    );
    const checkpoints = () => view()?.metrics().checkpoints.completed ?? 0;
    const checkpointed = checkpoints();
    // Ask for one now rather than waiting for the interval (a savepoint is a checkpoint with a name).
    requestSavepoint(
      deployment.checkpointDir(this.pipeline, this.version),
      `replay-caught-up-${Date.now()}`,
      60_000,
    ).catch(
      () => {}, // the periodic checkpoint will do
    );
    await wait(() => checkpoints() > checkpointed);
    const outputEnds = loaders.map((l) => log.describeTopic(l.topic).partitions.map((p) => p.logEndOffset));
    await wait(() => loaders.every((l, i) => outputEnds[i]!.every((end, p) => (l.position()[p] ?? -1) >= end)));
    const loaded = loaders.map((l) => l.checkpoints());
    await wait(() => loaders.every((l, i) => l.checkpoints() > loaded[i]!));
    // The switch: readers move to the new tables at once; the new instance becomes the live pipeline.
    await deployment.store.publishVersions(
      Object.fromEntries(tables.map((name) => [name, versionedTable(name, this.version)])),
    );
    deployment.versions.promote(this.pipeline, this.version);
    const old = deployment.pipelines.promote(this.pipeline, process);
    this.current.state = 'switched';
    this.current.switchedAt = Date.now();
    this.current.processed = Math.max(this.current.processed, total);
    this.logger.info({ replay: this.id }, 'replay caught up; readers switched to the new version');
    await old?.stop();
    for (const name of tables) await deployment.tables.stopLoader(versionedTable(name, this.version - 1));
  }

  private measure(): void {
    let processed = 0;
    for (const [topic, { start, end }] of this.targets) {
      const position = positionsByTopic(this.process?.views()[0])[topic] ?? start;
      processed += end.reduce((sum, e, i) => sum + Math.max(0, Math.min(e, position[i] ?? 0) - start[i]!), 0);
    }
    const now = Date.now();
    this.samples.push({ at: now, processed });
    while (this.samples.length > 1 && this.samples[0]!.at < now - 5000) this.samples.shift();
    const first = this.samples[0]!;
    const rate = now > first.at ? ((processed - first.processed) * 1000) / (now - first.at) : 0;
    this.current.processed = processed;
    this.current.ratePerSec = Math.round(rate);
    this.current.etaSec = rate > 0 ? Math.ceil((this.current.total - processed) / rate) : null;
  }

  private aborted(): Promise<never> {
    return new Promise((_, reject) =>
      this.cancelled.signal.addEventListener('abort', () =>
        reject(new SluiceError('REPLAY_CANCELLED', `${this.id} was cancelled`)),
      ),
    );
  }
}
