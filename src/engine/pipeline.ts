// A pipeline: the dataflow graph built through the stream API, and the runtime that drives it. Each source runs
// its own read loop; a batch is pushed synchronously through the operators to the sinks; a source reads its next
// batch only once the sinks' writes for the previous one have settled, so a slow sink slows the sources and the
// memory in flight is bounded by one batch per source.
//
// Checkpoints use barriers in the Chandy–Lamport way Flink does, specialised to one thread: a checkpoint asks every
// source loop to stop at its next batch boundary (a waiting poll is interrupted); a loop that stops has pushed
// everything before the barrier through the whole graph, synchronously, and its sinks' writes have settled. Once
// all loops have stopped (the barrier is aligned at every operator with several inputs), operator state, event
// time and source positions form a consistent cut; exactly-once sinks pre-commit; the state is serialised; the
// loops resume. Writing the file and the sinks' commit happen while the data flows again.
import { SluiceError } from '../errors.ts';
import { createLogger, type Logger } from '../logger.ts';
import { type CheckpointData, encodeCheckpoint } from './checkpoint/format.ts';
import { CheckpointStore, readCheckpointFile } from './checkpoint/store.ts';
import type { Sink, Source, SourceBatch } from './connector.ts';
import { PipelineHistory, type PipelineHistorySnapshot } from './history.ts';
import { Node, type NodeMetrics, type NodeTimeState, PipelineFailure } from './node.ts';
import { SinkOperator } from './operators/sink.ts';
import { UnionOperator } from './operators/stateless.ts';
import { type ChannelTime, TimestampAssigner } from './operators/timestamps.ts';
import { DataStream } from './stream.ts';
import { type DeadLetter, MAX_WATERMARK, type Operator } from './types.ts';

export interface PipelineOptions {
  name?: string;
  /** What a bad record does: go to the dead-letter output and carry on (default), or fail the pipeline. */
  onError?: 'dead-letter' | 'fail';
  /** Run over a finite input: sources stop at the end, a final watermark fires everything, run() resolves. */
  bounded?: boolean;
  /** Period of processing-time ticks (idleness, processing-time timers and windows). */
  tickMs?: number;
  /** The clock; tests pass a manual one. */
  clock?: () => number;
}

export interface CheckpointOptions {
  /** This pipeline's checkpoint directory (the runner uses `<data dir>/checkpoints/<pipeline name>`). */
  dir: string;
  /** Period of automatic checkpoints in ms (default 10,000; 0: only on demand). */
  intervalMs?: number;
  /** How many completed checkpoints to keep (default 3). */
  retain?: number;
  /** Where to start: the latest complete checkpoint (default), a savepoint or checkpoint file, or nothing. */
  restoreFrom?: 'latest' | 'none' | { file: string };
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

export interface OperatorMetrics extends NodeMetrics {
  /** Records in per second, over the time since the previous metrics() call (at least one second apart). */
  ratePerSec: number;
  /** Fraction of the running time this operator's output was held back by slow sinks downstream (0..1). */
  backpressure: number;
  /** Event-time lag: processing time minus the operator's watermark (ms), when it has one. */
  watermarkLagMs: number | null;
}

/** A partition (channel) of a source: where the source reads it, its event time, and whether it is idle. */
export interface SourcePartitionMetrics {
  partition: number;
  /** The next offset the source reads there (sources that read a topic); null otherwise. */
  offset: number | null;
  /**
   * The partition's own watermark: the largest timestamp seen there minus the out-of-orderness bound (the lowest
   * where several withTimestamps read it); null before its first record, or when no withTimestamps reads it.
   */
  watermark: number | null;
  /**
   * Left out of the watermark: the source caught up with it and nothing arrived for its idle timeout, or (the
   * watermark strategy's idleTimeout) no record reached withTimestamps for that long.
   */
  idle: boolean;
  /** When it went idle (epoch ms); null while active. */
  idleSince: number | null;
}

export interface SourceMetrics {
  /** The source's operator, as named in `operators`. */
  operator: string;
  /** The topic it reads, if it reads one. */
  topic: string | null;
  partitions: SourcePartitionMetrics[];
}

export interface PipelineMetrics {
  name: string;
  running: boolean;
  uptimeMs: number;
  operators: OperatorMetrics[];
  /** The pipeline's inputs per partition (a partition task: its own partition only). */
  sources: SourceMetrics[];
  deadLetters: number;
  checkpoints: { completed: number; failed: number; restoredFrom: string | null; last: CheckpointInfo | null };
  /** Why the pipeline failed, if it did (its run() rejected). */
  error: string | null;
  /** Restarts by a supervisor (see supervise()). */
  restarts: number;
}

/** An operator of the dataflow graph; `id` is its unique name, as in metrics. */
export interface TopologyNode {
  id: string;
  kind: 'source' | 'operator' | 'sink' | 'dead-letters';
  /** What it runs: the source's or sink's name (`log:events`), or the operator's class. */
  description: string;
  /** The id its state is checkpointed under. */
  uid: string;
}

/** Records flow `from` → `to` (into input `input` of a two-input operator), from a side output when `side`. */
export interface TopologyEdge {
  from: string;
  to: string;
  input: number;
  side: string | null;
}

export interface PipelineTopology {
  name: string;
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

interface Barrier {
  parked: number;
  released: Promise<void>;
  release: () => void;
  aligned: Promise<void>;
  onAligned: () => void;
}

const DEAD_LETTER_TAG = 'dead-letters';
/** Channel numbers downstream are `source index × this + the source's channel`, unique over the pipeline. */
const CHANNELS_PER_SOURCE = 1_000_000;

/**
 * What observers (the HTTP API, /metrics, the dashboard) read of a running pipeline: a Pipeline itself, or the
 * latest report of one running elsewhere (a task thread).
 */
export interface PipelineView {
  readonly name: string;
  metrics(): PipelineMetrics;
  topology(): PipelineTopology;
  sourcePositions(): { operator: string; topic: string; offsets: number[] }[];
  readonly history: { snapshot(): PipelineHistorySnapshot };
}

/**
 * @internal A step whose records cross between partition tasks (a repartition, see repartition.ts). In one process
 * its `writer` node feeds its `reader` node directly; runAsTask() cuts that edge, has the writer feed a sink and
 * the reader read a source (an internal topic), both made by split() for the task's partition.
 */
export interface ShuffleStep {
  /** The internal topic (unique in a pipeline). */
  readonly topic: string;
  readonly writer: Node;
  readonly reader: Node;
  split(partition: number, inputs: readonly Source<unknown>[]): { sink: Sink<unknown>; source: Source<unknown> };
}

interface SourceEntry {
  source: Source<unknown>;
  node: Node;
  index: number;
  /** A repartition topic's reader (runAsTask adds it), not one of the pipeline's inputs. */
  internal: boolean;
}

export class Pipeline {
  readonly name: string;
  readonly options: Required<Omit<PipelineOptions, 'clock'>> & { clock: () => number };
  readonly logger: Logger;
  private readonly nodes: Node[] = [];
  private readonly sources: SourceEntry[] = [];
  private readonly shuffles: ShuffleStep[] = [];
  private readonly sinks: { operator: SinkOperator<unknown>; node: Node }[] = [];
  private readonly deadLetterNode: Node;
  private readonly names = new Map<string, number>();
  private running = false;
  private startedAt = 0;
  private stopController = new AbortController();
  private finalCheckpoint = true;
  private failure: unknown;
  private deadLetterCount = 0;
  private readonly rateSamples = new Map<Node, { at: number; recordsIn: number; rate: number }>();
  private checkpointOptions: Required<Omit<CheckpointOptions, 'restoreFrom'>> & Pick<CheckpointOptions, 'restoreFrom'>;
  private store: CheckpointStore | undefined;
  private pendingRestore: CheckpointData | undefined;
  private nextCheckpointId = 1;
  private checkpointChain: Promise<unknown> = Promise.resolve();
  private checkpointStats = {
    completed: 0,
    failed: 0,
    restoredFrom: null as string | null,
    last: null as CheckpointInfo | null,
  };
  private historyStore = new PipelineHistory();
  private barrier: Barrier | undefined;
  /** Source loops running (not yet finished): the barrier is aligned when all of them have parked. */
  private liveLoops = 0;
  private readonly polls = new Map<number, AbortController>();
  /** Set for a partition task of a scaled-out pipeline (see runAsTask). */
  private taskPartition: number | undefined;
  /** When the source loops last gave timers and I/O a turn, and the turn they are waiting for (shared). */
  private yieldedAt = performance.now();
  private turn: Promise<void> | undefined;

  constructor(options: PipelineOptions = {}) {
    this.name = options.name ?? 'pipeline';
    this.options = {
      name: this.name,
      onError: options.onError ?? 'dead-letter',
      bounded: options.bounded ?? false,
      tickMs: options.tickMs ?? 200,
      clock: options.clock ?? Date.now,
    };
    this.logger = createLogger('engine', { pipeline: this.name });
    this.checkpointOptions = { dir: '', intervalMs: 10_000, retain: 3, allowNonRestoredState: false };
    this.deadLetterNode = this.addNode('dead-letters', new UnionOperator());
  }

  /** A unique operator name ('map', 'map-2', ...), used in metrics and logs. */
  uniqueName(base: string): string {
    const n = (this.names.get(base) ?? 0) + 1;
    this.names.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  }

  /** @internal Adds an operator node to the graph. */
  addNode(name: string, operator: Operator<never, unknown>): Node {
    const node = new Node(this.uniqueName(name), operator as Operator<unknown, unknown>);
    this.nodes.push(node);
    return node;
  }

  source<T>(source: Source<T>): DataStream<T> {
    const node = this.addNode(`source:${source.name}`, new UnionOperator());
    this.sources.push({ source: source as Source<unknown>, node, index: this.sources.length, internal: false });
    return new DataStream<T>(this, node);
  }

  /** Every record refused by any operator or source, with the error and the original record. */
  deadLetters(): DataStream<DeadLetter> {
    return new DataStream<DeadLetter>(this, this.deadLetterNode);
  }

  /** @internal Registers a repartition step (wired for a partition task by runAsTask). */
  addShuffle(step: ShuffleStep): void {
    if (this.taskPartition !== undefined) {
      throw new PipelineFailure('PIPELINE_RUNNING', 'add repartition steps before runAsTask()');
    }
    if (this.shuffles.some((s) => s.topic === step.topic)) {
      throw new PipelineFailure(
        'INVALID_REPARTITION',
        `pipeline ${this.name} has two repartition steps with the topic ${step.topic}: give each its own name`,
      );
    }
    this.shuffles.push(step);
  }

  /** @internal */
  addSink<T>(upstream: Node, sideTag: string | undefined, sink: Sink<T>): void {
    const operator = new SinkOperator(sink as Sink<unknown>);
    const node = this.addNode(`sink:${sink.name}`, operator);
    upstream.connect(node, 0, sideTag);
    this.sinks.push({ operator, node });
  }

  /**
   * Turns checkpoints on (the runner does this for pipeline files): periodic, on demand (`checkpoint()`), and on
   * request from `sluice savepoint`; run() then starts from the latest complete checkpoint.
   */
  enableCheckpoints(options: CheckpointOptions): this {
    if (this.running) throw new PipelineFailure('PIPELINE_RUNNING', 'enable checkpoints before run()');
    this.checkpointOptions = {
      dir: options.dir,
      intervalMs: options.intervalMs ?? 10_000,
      retain: options.retain ?? 3,
      restoreFrom: options.restoreFrom,
      allowNonRestoredState: options.allowNonRestoredState ?? false,
    };
    this.store = new CheckpointStore(options.dir, this.checkpointOptions.retain, this.logger);
    return this;
  }

  /**
   * Throws if the graph cannot run (no sink, two operators with one uid): what run() checks first, for runners to
   * call once the pipeline is built, so that a malformed graph fails at once rather than on every restart.
   */
  validate(): void {
    if (this.sinks.length === 0) {
      throw new PipelineFailure('NO_SINK', `pipeline ${this.name} has no sink: add .sinkTo(...) to a stream`);
    }
    const uids = new Set<string>();
    for (const node of this.nodes) {
      if (uids.has(node.uid)) {
        throw new PipelineFailure('DUPLICATE_UID', `two operators of pipeline ${this.name} have the uid "${node.uid}"`);
      }
      uids.add(node.uid);
    }
  }

  /** Runs until stop() (or, in bounded mode, until every source is exhausted and every result is written). */
  async run(): Promise<void> {
    if (this.running) throw new PipelineFailure('PIPELINE_RUNNING', `pipeline ${this.name} is already running`);
    this.validate();
    this.running = true;
    this.startedAt = this.options.clock();
    this.stopController = new AbortController();
    this.failure = undefined;
    const hooks = {
      deadLetter: (letter: DeadLetter) => this.onDeadLetter(letter),
      processingTime: this.options.clock,
    };
    const timers: NodeJS.Timeout[] = [];
    try {
      for (const node of this.nodes) node.open(hooks);
      const task = this.taskPartition;
      for (const { operator } of this.sinks) {
        operator.sink.setWriter?.(task === undefined ? this.name : `${this.name}#${task}`, {
          shared: task !== undefined,
        });
        await operator.sink.open?.();
      }
      const restored = this.loadRestorePoint();
      if (restored) this.applyCheckpoint(restored);
      if (this.store) {
        for (const { operator, node } of this.sinks) await operator.sink.recover?.(restored?.sinks[node.uid]);
      }
      for (const s of this.sources) await this.openSource(s);
      // A first checkpoint before any record: recovery then always has a point to roll sinks back to. After a
      // savepoint, it also makes the savepoint's state the latest, so that a crash does not fall back behind it.
      if (this.store && (!restored || restored.kind === 'savepoint')) await this.checkpoint();
      timers.push(setInterval(() => this.guard(() => this.tick()), this.options.tickMs));
      if (this.store && this.checkpointOptions.intervalMs > 0) {
        timers.push(setInterval(() => this.checkpointInBackground(), this.checkpointOptions.intervalMs));
      }
      this.liveLoops = this.sources.length;
      await Promise.all(this.sources.map((s) => this.runSource(s)));
      this.throwIfFailed();
      await this.drainSinks();
      for (const { operator } of this.sinks) await operator.sink.flush?.();
      this.throwIfFailed();
      await this.checkpointChain;
      // Stopped (not finished): a last checkpoint, so that the next start resumes exactly here, replaying nothing.
      if (this.store && this.stopController.signal.aborted && this.finalCheckpoint && !this.options.bounded) {
        await this.checkpoint();
      }
    } finally {
      for (const timer of timers) clearInterval(timer);
      await this.checkpointChain.catch(() => {});
      this.running = false;
      for (const { source } of this.sources) await source.close().catch(() => {});
      for (const { operator } of this.sinks) await operator.sink.close?.().catch(() => {});
    }
  }

  /**
   * Makes this instance the task of input partition `partition`: every source reads only that partition (of each
   * of its topics, which must be co-partitioned: keyed alike, same partition count) and sinks identify their
   * writes as this task's. Every record of a key must be in one partition, as in Kafka Streams; a runner starts
   * one instance per partition it owns and moves them, with their checkpoints, between processes. A keyBy on another
   * key goes through a repartition step (`stream.repartition()`): its records then cross between the tasks through
   * an internal topic, which task p writes by key and reads partition p of.
   */
  runAsTask(partition: number): this {
    if (this.running) throw new PipelineFailure('PIPELINE_RUNNING', 'assign the task before run()');
    if (!Number.isSafeInteger(partition) || partition < 0) {
      throw new PipelineFailure('INVALID_TASK', `task partition must be an integer >= 0, got ${partition}`);
    }
    if (this.taskPartition !== undefined) {
      throw new PipelineFailure(
        'INVALID_TASK',
        `pipeline ${this.name} is already the task of partition ${this.taskPartition}`,
      );
    }
    for (const { source } of this.sources) {
      if (!source.assign) {
        throw new PipelineFailure(
          'TASKS_UNSUPPORTED',
          `pipeline ${this.name}: source ${source.name} cannot be split into partition tasks`,
        );
      }
      source.assign([partition]);
    }
    const inputs = this.sources.map((s) => s.source);
    for (const step of this.shuffles) {
      const { sink, source } = step.split(partition, inputs);
      step.writer.disconnect(step.reader);
      this.addSink(step.writer, undefined, sink);
      source.assign?.([partition]);
      this.sources.push({ source, node: step.reader, index: this.sources.length, internal: true });
    }
    this.taskPartition = partition;
    return this;
  }

  /**
   * The pipeline's input connectors, in the order they were added (a runner may reposition them before run());
   * repartition topics' readers are not among them.
   */
  sourceConnectors(): Source<unknown>[] {
    return this.sources.filter((s) => !s.internal).map((s) => s.source);
  }

  /**
   * Stops reading, finishes the batches in flight, flushes the sinks and, with checkpoints on, takes a last one
   * (`{ checkpoint: false }` leaves that out: a crash as far as recovery can tell).
   */
  stop(options: { checkpoint?: boolean } = {}): void {
    this.finalCheckpoint = options.checkpoint ?? true;
    this.stopController.abort();
  }

  /** Processing-time tick (public for tests with a manual clock). */
  tick(): void {
    if (this.barrier) return; // nothing may move between a checkpoint's cut and its sinks' pre-commit
    const now = this.options.clock();
    for (const node of this.nodes) node.onProcessingTime(now);
    if (this.store && this.running) {
      for (const name of this.store.takeRequests()) {
        this.checkpoint({ savepoint: name }).then(
          (info) => this.logger.info({ file: info.file }, 'savepoint written'),
          (error: unknown) => this.logger.error({ err: error, name }, 'savepoint failed'),
        );
      }
    }
  }

  /**
   * Takes a checkpoint now (or a savepoint, kept until deleted), after any checkpoint in progress; resolves once
   * its file is durable and the sinks have committed.
   */
  checkpoint(options: { savepoint?: string } = {}): Promise<CheckpointInfo> {
    const store = this.store;
    if (!store) {
      return Promise.reject(
        new PipelineFailure('CHECKPOINTS_DISABLED', `pipeline ${this.name} has no checkpoint directory`),
      );
    }
    if (options.savepoint !== undefined) store.savepointFile(options.savepoint); // validates the name first
    const run = this.checkpointChain.catch(() => {}).then(() => this.takeCheckpoint(store, options.savepoint));
    this.checkpointChain = run;
    return run;
  }

  private checkpointInBackground(): void {
    if (this.barrier || !this.running || this.stopController.signal.aborted) return;
    this.checkpoint().catch(() => {}); // counted and logged in takeCheckpoint
  }

  private async takeCheckpoint(store: CheckpointStore, savepoint: string | undefined): Promise<CheckpointInfo> {
    const id = this.nextCheckpointId++;
    const kind = savepoint === undefined ? 'checkpoint' : 'savepoint';
    const started = performance.now();
    const startedAt = this.options.clock();
    let pauseMs = 0;
    try {
      let bytes: Buffer;
      await this.alignBarrier();
      try {
        await this.drainSinks();
        if (this.failure !== undefined) throw this.failure;
        const data = this.snapshot();
        data.id = id;
        data.kind = kind;
        for (const { operator, node } of this.sinks) {
          if (operator.sink.prepareCheckpoint) data.sinks[node.uid] = await operator.sink.prepareCheckpoint(id);
        }
        bytes = encodeCheckpoint(data);
      } finally {
        pauseMs = performance.now() - started;
        this.releaseBarrier();
      }
      const file =
        savepoint === undefined ? await store.writeCheckpoint(id, bytes) : await store.writeSavepoint(savepoint, bytes);
      for (const { operator } of this.sinks) await operator.sink.commitCheckpoint?.(id);
      const info: CheckpointInfo = {
        id,
        kind,
        file,
        bytes: bytes.length,
        pauseMs: Math.round(pauseMs * 100) / 100,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
      };
      this.checkpointStats.completed++;
      this.checkpointStats.last = info;
      this.historyStore.recordCheckpoint({
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
      this.checkpointStats.failed++;
      this.historyStore.recordCheckpoint({
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

  /** Holds every source loop at its next batch boundary; resolves once all are held (or finished). */
  private alignBarrier(): Promise<void> {
    let release!: () => void;
    let onAligned!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const aligned = new Promise<void>((resolve) => (onAligned = resolve));
    const barrier: Barrier = { parked: 0, released, release, aligned, onAligned };
    this.barrier = barrier;
    for (const poll of this.polls.values()) poll.abort(); // a poll waiting for data gives way to the barrier
    this.checkAligned();
    return aligned;
  }

  private checkAligned(): void {
    const barrier = this.barrier;
    if (barrier && barrier.parked >= this.liveLoops) barrier.onAligned();
  }

  private releaseBarrier(): void {
    const barrier = this.barrier;
    this.barrier = undefined;
    barrier?.release();
  }

  private async park(): Promise<void> {
    const barrier = this.barrier!;
    barrier.parked++;
    this.checkAligned();
    await barrier.released;
  }

  /** The checkpoint or savepoint to start from, per the checkpoint options (or one handed to restore()). */
  private loadRestorePoint(): CheckpointData | undefined {
    if (this.pendingRestore) {
      const data = this.pendingRestore;
      this.pendingRestore = undefined;
      return data;
    }
    const store = this.store;
    if (!store) return undefined;
    const from = this.checkpointOptions.restoreFrom ?? 'latest';
    this.nextCheckpointId = (store.ids()[0] ?? 0) + 1;
    if (from === 'none') return undefined;
    const stored = from === 'latest' ? store.latest() : { data: readCheckpointFile(from.file), file: from.file };
    if (!stored) return undefined;
    if (stored.data.pipeline !== this.name) {
      throw new SluiceError(
        'INCOMPATIBLE_CHECKPOINT',
        `${stored.file} belongs to pipeline "${stored.data.pipeline}", not "${this.name}"`,
        { file: stored.file },
      );
    }
    this.checkpointStats.restoredFrom = stored.file;
    this.logger.info({ file: stored.file, id: stored.data.id }, 'restoring from checkpoint');
    return stored.data;
  }

  private async openSource({ source, node, index }: SourceEntry) {
    await source.open({
      bounded: this.options.bounded,
      clock: this.options.clock,
      deadLetter: (letter) => this.onDeadLetter({ operator: node.name, ...letter }),
    });
    // Announce every channel, so that an empty partition holds the watermark back as Kafka's does in Flink.
    for (const channel of source.channels())
      node.receiveBatch({ values: [], timestamps: [], channel: index * CHANNELS_PER_SOURCE + channel }, 0);
  }

  private async runSource({ source, node, index }: SourceEntry) {
    const channelBase = index * CHANNELS_PER_SOURCE;
    const signal = this.stopController.signal;
    try {
      while (!signal.aborted && this.failure === undefined) {
        const turn = this.yieldTurn();
        if (turn) await turn;
        if (this.barrier) await this.park();
        if (signal.aborted || this.failure !== undefined) break;
        let batch: SourceBatch<unknown> | null;
        const poll = new AbortController();
        this.polls.set(index, poll);
        try {
          batch = await source.poll(AbortSignal.any([signal, poll.signal]));
        } catch (error) {
          this.fail(error);
          break;
        } finally {
          this.polls.delete(index);
        }
        if (batch === null) break;
        if (batch.values.length > 0 && batch.watermark === undefined && batch.idle === undefined) {
          this.guard(() =>
            node.receiveBatch(
              { values: batch.values, timestamps: batch.timestamps, channel: channelBase + batch.channel },
              0,
            ),
          );
        } else this.guard(() => this.receiveTimed(node, batch, channelBase));
        await this.drainSinks();
      }
      // The end of a bounded input: a final watermark fires every window and timer downstream.
      if (this.options.bounded && this.failure === undefined && !signal.aborted) {
        this.guard(() => node.receiveWatermark(MAX_WATERMARK, 0));
        await this.drainSinks();
      }
    } finally {
      this.liveLoops--;
      this.checkAligned();
    }
  }

  /**
   * A batch that is more than records: time from a source that carries it (a repartition topic's reader), records
   * then time; or a channel's idleness, which travels as an empty batch of that channel to the timestamp assigners.
   */
  private receiveTimed(node: Node, batch: SourceBatch<unknown>, channelBase: number): void {
    // Waking up before the records, going idle after them: downstream never sees records from an idle input.
    if (batch.idle === false) node.receiveIdle(false, 0);
    if (batch.values.length > 0) {
      node.receiveBatch(
        { values: batch.values, timestamps: batch.timestamps, channel: channelBase + batch.channel },
        0,
      );
    } else if (batch.channelIdle !== undefined) {
      const channel = channelBase + batch.channel;
      node.receiveBatch({ values: [], timestamps: [], channel, channelIdle: batch.channelIdle }, 0);
    }
    if (batch.watermark !== undefined) node.receiveWatermark(batch.watermark, 0);
    if (batch.idle === true) node.receiveIdle(true, 0);
  }

  /**
   * A source that always has data (a log being caught up on) resolves its polls as microtasks; every few
   * milliseconds the loops give timers (ticks, checkpoints) and I/O a turn. They wait for one shared turn, so that
   * they resume together and keep alternating batch by batch: a turn of its own per loop would let each run alone
   * for its slice, and the cheaper input of a join would race ahead of the other, its records piling up in the
   * join's state until the slower one's watermark caught up.
   */
  private yieldTurn(): Promise<void> | undefined {
    if (this.turn) return this.turn;
    if (performance.now() - this.yieldedAt <= 5) return undefined;
    this.turn = new Promise((resolve) =>
      setImmediate(() => {
        this.turn = undefined;
        this.yieldedAt = performance.now();
        resolve();
      }),
    );
    return this.turn;
  }

  /** Waits for pending sink writes: this wait is the backpressure a slow sink exerts on the sources. */
  private async drainSinks(): Promise<void> {
    for (const { operator } of this.sinks) {
      if (operator.pending) await operator.pending;
      if (operator.failure !== undefined) this.fail(operator.failure);
    }
  }

  private guard(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.logger.error({ err: error }, 'pipeline failed');
    this.stopController.abort();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private onDeadLetter(letter: DeadLetter): void {
    this.deadLetterCount++;
    if (this.options.onError === 'fail') {
      throw new PipelineFailure('BAD_RECORD', `${letter.operator}: ${letter.error}`, { ...letter });
    }
    if (this.deadLetterCount <= 10 || this.deadLetterCount % 1000 === 0) {
      this.logger.warn({ operator: letter.operator, error: letter.error, count: this.deadLetterCount }, 'dead letter');
    }
    this.deadLetterNode.receiveBatch({ values: [letter], timestamps: [letter.timestamp] }, 0);
  }

  metrics(): PipelineMetrics {
    const now = this.options.clock();
    const uptimeMs = this.running ? Math.max(1, now - this.startedAt) : 1;
    // Backpressure of a node: the busiest sink reachable from it (its output waits for that sink).
    const sinkBusy = new Map<Node, number>();
    for (const { operator, node } of this.sinks) {
      const busy = operator.busyMs + (operator.pending ? performance.now() - operator.busySince : 0);
      sinkBusy.set(node, Math.min(1, busy / uptimeMs));
    }
    return {
      name: this.name,
      running: this.running,
      uptimeMs,
      deadLetters: this.deadLetterCount,
      checkpoints: { ...this.checkpointStats },
      error:
        this.failure === undefined ? null : this.failure instanceof Error ? this.failure.message : String(this.failure),
      restarts: this.historyStore.restarts,
      operators: this.nodes
        .filter((node) => node !== this.deadLetterNode || node.recordsIn > 0)
        .map((node) => {
          const m = node.metrics();
          let backpressure = 0;
          for (const reached of node.reachable()) backpressure = Math.max(backpressure, sinkBusy.get(reached) ?? 0);
          return {
            ...m,
            ratePerSec: this.rate(node, now),
            backpressure,
            watermarkLagMs: Number.isFinite(m.watermark) ? Math.max(0, now - m.watermark) : null,
          };
        }),
      sources: this.sourceMetrics(),
    };
  }

  /**
   * Each input's partitions: the source's position and idleness, and each partition's own watermark as the
   * timestamp assigners reading it see it (channels are numbered per source, so no graph walk is needed).
   */
  private sourceMetrics(): SourceMetrics[] {
    const assigners: Map<number, ChannelTime>[] = [];
    for (const node of this.nodes) {
      if (node.operator instanceof TimestampAssigner) assigners.push(node.operator.channelTimes());
    }
    return this.sources
      .filter((s) => !s.internal)
      .map(({ source, node, index }) => {
        const positions = source.readPositions?.();
        const status = source.channelStatus?.() ?? source.channels().map((channel) => ({ channel, idleSince: null }));
        const partitions = status.map(({ channel, idleSince }): SourcePartitionMetrics => {
          const times = assigners.flatMap((a) => a.get(index * CHANNELS_PER_SOURCE + channel) ?? []);
          let watermark = Number.POSITIVE_INFINITY;
          // Idle where the source says so, or where every assigner reading it left it out (its own idleTimeout).
          let leftOut: number | null = times.length > 0 ? Number.NEGATIVE_INFINITY : null;
          for (const t of times) {
            watermark = Math.min(watermark, t.watermark);
            leftOut = leftOut === null || t.idleSince === null ? null : Math.max(leftOut, t.idleSince);
          }
          const since = idleSince ?? leftOut;
          return {
            partition: channel,
            offset: positions?.offsets[channel] ?? null,
            watermark: Number.isFinite(watermark) ? watermark : null,
            idle: since !== null,
            idleSince: since,
          };
        });
        return { operator: node.name, topic: positions?.topic ?? null, partitions };
      });
  }

  /** The dataflow graph: every operator and the edges between them (the dead-letter output only when used). */
  topology(): PipelineTopology {
    const sources = new Map(this.sources.map((s) => [s.node, s.source]));
    const sinks = new Map(this.sinks.map((s) => [s.node, s.operator.sink]));
    const nodes = this.nodes.filter(
      (node) => node !== this.deadLetterNode || node.recordsIn > 0 || node.outputs().length > 0,
    );
    return {
      name: this.name,
      nodes: nodes.map((node) => {
        const source = sources.get(node);
        const sink = sinks.get(node);
        return {
          id: node.name,
          kind: source ? 'source' : sink ? 'sink' : node === this.deadLetterNode ? 'dead-letters' : 'operator',
          description: source?.name ?? sink?.name ?? node.operator.constructor.name,
          uid: node.uid,
        };
      }),
      edges: nodes.flatMap((node) =>
        node.outputs().map((edge) => ({ from: node.name, to: edge.node.name, input: edge.input, side: edge.side })),
      ),
    };
  }

  /** Where each source that reads a topic stands: the next offset per partition (its consumer lag). */
  sourcePositions(): { operator: string; topic: string; offsets: number[] }[] {
    return this.sources.flatMap(({ source, node }) => {
      const positions = source.readPositions?.();
      return positions ? [{ operator: node.name, ...positions }] : [];
    });
  }

  /** The last checkpoints and restarts (shared with the instances a supervisor rebuilds after a failure). */
  get history(): PipelineHistory {
    return this.historyStore;
  }

  /** @internal A supervisor hands a rebuilt pipeline the history of the instances before it. */
  adoptHistory(history: PipelineHistory): void {
    if (this.running) throw new PipelineFailure('PIPELINE_RUNNING', 'adopt a history before run()');
    this.historyStore = history;
  }

  private rate(node: Node, now: number): number {
    const sample = this.rateSamples.get(node);
    if (sample === undefined) {
      const rate = (node.recordsIn * 1000) / Math.max(1, now - this.startedAt);
      this.rateSamples.set(node, { at: now, recordsIn: node.recordsIn, rate });
      return Math.round(rate);
    }
    if (now - sample.at >= 1000) {
      sample.rate = ((node.recordsIn - sample.recordsIn) * 1000) / (now - sample.at);
      sample.at = now;
      sample.recordsIn = node.recordsIn;
    }
    return Math.round(sample.rate);
  }

  /**
   * The state of every operator, its event time and every source position, keyed by uid. Consistent only between
   * batches: checkpoint() takes it at an aligned barrier.
   */
  snapshot(): CheckpointData {
    const data: CheckpointData = {
      pipeline: this.name,
      id: 0,
      kind: 'checkpoint',
      takenAt: Date.now(),
      sources: {},
      operators: {},
      sinks: {},
    };
    for (const { source, node } of this.sources) data.sources[node.uid] = source.snapshot?.();
    for (const node of this.nodes) {
      data.operators[node.uid] = {
        kind: node.operator.constructor.name,
        state: node.operator.snapshot?.(),
        time: node.snapshotTime(),
      };
    }
    return data;
  }

  /** Starts the next run() from `snapshot` (as taken by snapshot() or read from a checkpoint file). */
  restore(snapshot: CheckpointData): void {
    if (this.running) throw new PipelineFailure('PIPELINE_RUNNING', 'restore() before run()');
    this.pendingRestore = snapshot;
  }

  /** Matches state to operators by uid; refuses what would silently lose or misplace state. */
  private applyCheckpoint(data: CheckpointData): void {
    const byUid = new Map(this.nodes.map((node) => [node.uid, node]));
    const incompatible = (message: string) =>
      new SluiceError(
        'INCOMPATIBLE_CHECKPOINT',
        `cannot restore checkpoint ${data.id} of ${data.pipeline}: ${message}`,
      );
    for (const [uid, saved] of Object.entries(data.operators)) {
      const node = byUid.get(uid);
      if (!node) {
        if (saved.state !== undefined && !this.checkpointOptions.allowNonRestoredState) {
          throw incompatible(
            `it has state for operator "${uid}" (${saved.kind}), which this pipeline does not have; give stateful ` +
              'operators stable ids with .uid(...), or start with allowNonRestoredState to drop that state',
          );
        }
        continue;
      }
      if (saved.kind !== node.operator.constructor.name && (saved.state !== undefined || node.operator.snapshot)) {
        throw incompatible(`operator "${uid}" was a ${saved.kind} and is now a ${node.operator.constructor.name}`);
      }
    }
    for (const { source, node } of this.sources) {
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

export { DEAD_LETTER_TAG };
