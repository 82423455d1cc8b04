// The checkpoint coordinator: barriers, snapshots, restore, savepoints and the sinks' two-phase commit.
//
// Checkpoints use barriers in the Chandy–Lamport way Flink does, specialised to one thread: a checkpoint asks the
// executor to hold every source loop at its next batch boundary (a waiting poll is interrupted); a loop that stops
// has pushed everything before the barrier through the whole graph, synchronously, and its sinks' writes have
// settled. Once all loops are held (the barrier is aligned at every operator with several inputs), operator state,
// event time and source positions form a consistent cut; exactly-once sinks pre-commit; the state is serialised;
// the loops resume. Writing the file and the sinks' commit happen while the data flows again.
import { SluiceError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { PipelineGraph } from '../graph.ts';
import type { PipelineHistory } from '../history.ts';
import { type NodeTimeState, PipelineFailure } from '../node.ts';
import { type CheckpointData, encodeCheckpoint } from './format.ts';
import { sameKind } from './kinds.ts';
import type { CheckpointStorage } from './storage.ts';
import { CheckpointStore, readCheckpointFile } from './store.ts';

export interface CheckpointOptions {
  /** This pipeline's checkpoint directory (the runner uses `<data dir>/checkpoints/<pipeline name>`). */
  dir?: string;
  /**
   * Where checkpoints live instead of `dir`: another store (`LogCheckpointStore`, the log itself, for processes
   * that share no filesystem). `retain` is then the store's own.
   */
  storage?: CheckpointStorage;
  /** Period of automatic checkpoints in ms (default 10,000; 0: only on demand). */
  intervalMs?: number;
  /** How many completed checkpoints to keep (default 3). */
  retain?: number;
  /**
   * Where to start: the latest complete checkpoint (default), a savepoint or checkpoint file, a savepoint of the
   * store by name, or nothing.
   */
  restoreFrom?: 'latest' | 'none' | { file: string } | { savepoint: string };
  /** Start from a savepoint that has state for operators this pipeline no longer has (that state is dropped). */
  allowNonRestoredState?: boolean;
}

export interface CheckpointInfo {
  id: number;
  kind: 'checkpoint' | 'savepoint';
  file: string;
  bytes: number;
  /** How long the sources were held at the barrier (snapshot, sink pre-commit and serialisation). */
  pauseMs: number;
  /** From the barrier to the file being durable and the sinks committed. */
  durationMs: number;
}

/** What the coordinator needs of the executor: holding the sources at a barrier, and the sinks' writes. */
export interface BarrierHost {
  /** Holds every source loop at its next batch boundary; resolves once all are held (or finished). */
  holdSources(): Promise<void>;
  releaseSources(): void;
  /** Waits for pending sink writes (and fails the run if one failed). */
  drainSinks(): Promise<void>;
  readonly failure: unknown;
}

export class CheckpointCoordinator {
  private readonly graph: PipelineGraph;
  private readonly host: BarrierHost;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly history: () => PipelineHistory;
  private options: Required<Omit<CheckpointOptions, 'restoreFrom' | 'dir' | 'storage'>> &
    Pick<CheckpointOptions, 'restoreFrom'>;
  private store: CheckpointStorage | undefined;
  /** The store's open(), once per store (again after it failed). */
  private opened: Promise<void> | undefined;
  private pendingRestore: CheckpointData | undefined;
  private nextCheckpointId = 1;
  private chain: Promise<unknown> = Promise.resolve();
  readonly stats = {
    completed: 0,
    failed: 0,
    restoredFrom: null as string | null,
    last: null as CheckpointInfo | null,
  };

  constructor(options: {
    graph: PipelineGraph;
    host: BarrierHost;
    logger: Logger;
    clock: () => number;
    history: () => PipelineHistory;
  }) {
    this.graph = options.graph;
    this.host = options.host;
    this.logger = options.logger;
    this.clock = options.clock;
    this.history = options.history;
    this.options = { intervalMs: 10_000, retain: 3, allowNonRestoredState: false };
  }

  enable(options: CheckpointOptions): void {
    this.options = {
      intervalMs: options.intervalMs ?? 10_000,
      retain: options.retain ?? 3,
      restoreFrom: options.restoreFrom,
      allowNonRestoredState: options.allowNonRestoredState ?? false,
    };
    if (options.storage) this.store = options.storage;
    else if (options.dir !== undefined) this.store = new CheckpointStore(options.dir, this.options.retain, this.logger);
    else throw new SluiceError('INVALID_CONFIG', 'checkpoints need a directory (dir) or a store (storage)');
    this.opened = undefined;
  }

  private ready(store: CheckpointStorage): Promise<void> {
    this.opened ??= store.open().catch((error: unknown) => {
      this.opened = undefined;
      throw error;
    });
    return this.opened;
  }

  /** Checkpoints are on (there is a directory to write them to). */
  get enabled(): boolean {
    return this.store !== undefined;
  }

  get intervalMs(): number {
    return this.options.intervalMs;
  }

  /** Starts the next run from `snapshot` instead of the checkpoint options' restore point. */
  restoreNext(snapshot: CheckpointData): void {
    this.pendingRestore = snapshot;
  }

  /**
   * Takes a checkpoint now (or a savepoint, kept until deleted), after any checkpoint in progress; resolves once
   * its file is durable and the sinks have committed.
   */
  checkpoint(options: { savepoint?: string } = {}): Promise<CheckpointInfo> {
    const store = this.store;
    if (!store) {
      return Promise.reject(
        new PipelineFailure('CHECKPOINTS_DISABLED', `pipeline ${this.graph.name} has no checkpoint directory`),
      );
    }
    if (options.savepoint !== undefined) store.checkSavepointName(options.savepoint); // validates the name first
    const run = this.chain.catch(() => {}).then(() => this.take(store, options.savepoint));
    this.chain = run;
    return run;
  }

  /** Waits for the checkpoint in progress, if any (rejecting as it does). */
  settled(): Promise<unknown> {
    return this.chain;
  }

  /** Takes the savepoints other processes asked for (`sluice savepoint`), in the background. */
  serveRequests(): void {
    if (!this.store) return;
    for (const name of this.store.takeRequests()) {
      this.checkpoint({ savepoint: name }).then(
        (info) => this.logger.info({ file: info.file }, 'savepoint written'),
        (error: unknown) => this.logger.error({ err: error, name }, 'savepoint failed'),
      );
    }
  }

  private async take(store: CheckpointStorage, savepoint: string | undefined): Promise<CheckpointInfo> {
    await this.ready(store);
    const id = this.nextCheckpointId++;
    const kind = savepoint === undefined ? 'checkpoint' : 'savepoint';
    const started = performance.now();
    const startedAt = this.clock();
    let pauseMs = 0;
    try {
      let bytes: Buffer;
      await this.host.holdSources();
      try {
        await this.host.drainSinks();
        if (this.host.failure !== undefined) throw this.host.failure;
        const data = this.snapshot();
        data.id = id;
        data.kind = kind;
        for (const { operator, node } of this.graph.sinks) {
          if (operator.sink.prepareCheckpoint) data.sinks[node.uid] = await operator.sink.prepareCheckpoint(id);
        }
        bytes = encodeCheckpoint(data);
      } finally {
        pauseMs = performance.now() - started;
        this.host.releaseSources();
      }
      const file =
        savepoint === undefined ? await store.writeCheckpoint(id, bytes) : await store.writeSavepoint(savepoint, bytes);
      for (const { operator } of this.graph.sinks) await operator.sink.commitCheckpoint?.(id);
      const info: CheckpointInfo = {
        id,
        kind,
        file,
        bytes: bytes.length,
        pauseMs: Math.round(pauseMs * 100) / 100,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
      };
      this.stats.completed++;
      this.stats.last = info;
      this.history().recordCheckpoint({
        id,
        kind,
        startedAt,
        status: 'completed',
        durationMs: info.durationMs,
        pauseMs: info.pauseMs,
        bytes: info.bytes,
      });
      this.logger.debug(info, 'checkpoint complete');
      return info;
    } catch (error) {
      this.stats.failed++;
      this.history().recordCheckpoint({
        id,
        kind,
        startedAt,
        status: 'failed',
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        pauseMs: Math.round(pauseMs * 100) / 100,
        bytes: null,
        error: error instanceof Error ? error.message : String(error),
      });
      this.logger.error({ err: error, id }, 'checkpoint failed');
      throw error;
    }
  }

  /**
   * The state of every operator (with its kind), its event time and every source position, keyed by uid.
   * Consistent only between batches: checkpoint() takes it at an aligned barrier.
   */
  snapshot(): CheckpointData {
    const data: CheckpointData = {
      pipeline: this.graph.name,
      id: 0,
      kind: 'checkpoint',
      takenAt: Date.now(),
      sources: {},
      operators: {},
      sinks: {},
    };
    for (const { source, node } of this.graph.sources) data.sources[node.uid] = source.snapshot?.();
    for (const node of this.graph.nodes) {
      data.operators[node.uid] = {
        kind: node.operator.kind,
        state: node.operator.snapshot?.(),
        time: node.snapshotTime(),
      };
    }
    return data;
  }

  /**
   * Before the first record: restores the checkpoint to start from, if any (operator state, event time, source
   * positions), and has every sink undo what it wrote after it. Returns it.
   */
  async restoreAtStart(): Promise<CheckpointData | undefined> {
    const restored = await this.loadRestorePoint();
    if (restored) this.apply(restored);
    if (this.store) {
      for (const { operator, node } of this.graph.sinks) await operator.sink.recover?.(restored?.sinks[node.uid]);
    }
    return restored;
  }

  /** The checkpoint or savepoint to start from, per the checkpoint options (or one handed to restoreNext()). */
  private async loadRestorePoint(): Promise<CheckpointData | undefined> {
    if (this.pendingRestore) {
      const data = this.pendingRestore;
      this.pendingRestore = undefined;
      return data;
    }
    const store = this.store;
    if (!store) return undefined;
    const from = this.options.restoreFrom ?? 'latest';
    await this.ready(store);
    this.nextCheckpointId = (await store.lastId()) + 1;
    if (from === 'none') return undefined;
    const stored =
      from === 'latest'
        ? await store.loadLatest()
        : 'savepoint' in from
          ? await store.loadSavepoint(from.savepoint)
          : { data: readCheckpointFile(from.file), file: from.file };
    if (!stored) return undefined;
    const name = this.graph.name;
    if (stored.data.pipeline !== name) {
      throw new SluiceError(
        'INCOMPATIBLE_CHECKPOINT',
        `${stored.file} belongs to pipeline "${stored.data.pipeline}", not "${name}"`,
        { file: stored.file },
      );
    }
    this.stats.restoredFrom = stored.file;
    this.logger.info({ file: stored.file, id: stored.data.id }, 'restoring from checkpoint');
    return stored.data;
  }

  /** Matches state to operators by uid and kind; refuses what would silently lose or misplace state. */
  private apply(data: CheckpointData): void {
    const byUid = new Map(this.graph.nodes.map((node) => [node.uid, node]));
    const incompatible = (message: string) =>
      new SluiceError(
        'INCOMPATIBLE_CHECKPOINT',
        `cannot restore checkpoint ${data.id} of ${data.pipeline}: ${message}`,
      );
    for (const [uid, saved] of Object.entries(data.operators)) {
      const node = byUid.get(uid);
      if (!node) {
        if (saved.state !== undefined && !this.options.allowNonRestoredState) {
          throw incompatible(
            `it has state for operator "${uid}" (${saved.kind}), which this pipeline does not have; give stateful ` +
              'operators stable ids with .uid(...), or start with allowNonRestoredState to drop that state',
          );
        }
        continue;
      }
      const { kind } = node.operator;
      if (!sameKind(saved.kind, kind) && (saved.state !== undefined || node.operator.snapshot)) {
        throw incompatible(`operator "${uid}" was a ${saved.kind} and is now a ${kind}`);
      }
    }
    for (const { source, node } of this.graph.sources) {
      const position = data.sources[node.uid];
      if (position !== undefined) source.restore?.(position);
    }
    for (const [uid, saved] of Object.entries(data.operators)) {
      const node = byUid.get(uid);
      if (!node) continue;
      try {
        if (saved.state !== undefined) node.operator.restore?.(saved.state);
        node.restoreTime(saved.time as NodeTimeState);
      } catch (error) {
        throw incompatible(`operator "${uid}" refused its state: ${(error as Error).message}`);
      }
    }
    this.nextCheckpointId = Math.max(this.nextCheckpointId, data.id + 1);
  }
}
