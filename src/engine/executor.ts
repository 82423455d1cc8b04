// The executor: runs a pipeline's graph. Each source runs its own read loop; a batch is pushed synchronously
// through the operators to the sinks; a source reads its next batch only once the sinks' writes for the previous
// one have settled, so a slow sink slows the sources and the memory in flight is bounded by one batch per source.
// Processing-time ticks, stop and failure live here too; checkpoints are the coordinator's (it holds the source
// loops at a barrier through holdSources()).
import type { Logger } from '../logger.ts';
import { CheckpointCoordinator } from './checkpoint/coordinator.ts';
import type { SourceBatch } from './connector.ts';
import type { PipelineGraph, SourceEntry } from './graph.ts';
import type { PipelineHistory } from './history.ts';
import { CHANNELS_PER_SOURCE, type RunStatus } from './metrics.ts';
import { type Node, PipelineFailure } from './node.ts';
import { type DeadLetter, MAX_WATERMARK } from './types.ts';

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

export type ResolvedPipelineOptions = Required<Omit<PipelineOptions, 'clock'>> & { clock: () => number };

interface Barrier {
  parked: number;
  released: Promise<void>;
  release: () => void;
  aligned: Promise<void>;
  onAligned: () => void;
}

export class Executor {
  private readonly graph: PipelineGraph;
  private readonly options: ResolvedPipelineOptions;
  private readonly logger: Logger;
  readonly checkpoints: CheckpointCoordinator;
  running = false;
  startedAt = 0;
  private stopController = new AbortController();
  private finalCheckpoint = true;
  failure: unknown;
  deadLetterCount = 0;
  private barrier: Barrier | undefined;
  /** Source loops running (not yet finished): the barrier is aligned when all of them have parked. */
  private liveLoops = 0;
  private readonly polls = new Map<number, AbortController>();
  /** When the source loops last gave timers and I/O a turn, and the turn they are waiting for (shared). */
  private yieldedAt = performance.now();
  private turn: Promise<void> | undefined;

  constructor(graph: PipelineGraph, options: ResolvedPipelineOptions, logger: Logger, history: () => PipelineHistory) {
    this.graph = graph;
    this.options = options;
    this.logger = logger;
    this.checkpoints = new CheckpointCoordinator({ graph, host: this, logger, clock: options.clock, history });
  }

  /** Runs until stop() (or, in bounded mode, until every source is exhausted and every result is written). */
  async run(): Promise<void> {
    const { graph } = this;
    const checkpoints = this.checkpoints;
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
      for (const node of graph.nodes) node.open(hooks);
      const task = graph.taskPartition;
      for (const { operator } of graph.sinks) {
        operator.sink.setWriter?.(task === undefined ? graph.name : `${graph.name}#${task}`, {
          shared: task !== undefined,
        });
        await operator.sink.open?.();
      }
      const restored = await checkpoints.restoreAtStart();
      for (const s of graph.sources) await this.openSource(s);
      // A first checkpoint before any record: recovery then always has a point to roll sinks back to. After a
      // savepoint, it also makes the savepoint's state the latest, so that a crash does not fall back behind it.
      if (checkpoints.enabled && (!restored || restored.kind === 'savepoint')) await checkpoints.checkpoint();
      timers.push(setInterval(() => this.guard(() => this.tick()), this.options.tickMs));
      if (checkpoints.enabled && checkpoints.intervalMs > 0) {
        timers.push(setInterval(() => this.checkpointInBackground(), checkpoints.intervalMs));
      }
      this.liveLoops = graph.sources.length;
      await Promise.all(graph.sources.map((s) => this.runSource(s)));
      this.throwIfFailed();
      await this.drainSinks();
      for (const { operator } of graph.sinks) await operator.sink.flush?.();
      this.throwIfFailed();
      await checkpoints.settled();
      // Stopped, or a bounded run finished: a last checkpoint, so that the next start resumes exactly here,
      // replaying nothing — and transactional sinks commit their last epoch with it (without it, it would stay
      // invisible to read_committed readers, and a crash before the exit would replay it).
      if (checkpoints.enabled && this.finalCheckpoint && (this.stopController.signal.aborted || this.options.bounded)) {
        await checkpoints.checkpoint();
      }
    } finally {
      for (const timer of timers) clearInterval(timer);
      await checkpoints.settled().catch(() => {});
      this.running = false;
      for (const { source } of graph.sources) await source.close().catch(() => {});
      for (const { operator } of graph.sinks) await operator.sink.close?.().catch(() => {});
    }
  }

  /** Stops reading; with `checkpoint: false` no last checkpoint is taken (a crash as far as recovery can tell). */
  stop(options: { checkpoint?: boolean } = {}): void {
    this.finalCheckpoint = options.checkpoint ?? true;
    this.stopController.abort();
  }

  /** Processing-time tick: timers, idleness, and savepoints other processes asked for. */
  tick(): void {
    if (this.barrier) return; // nothing may move between a checkpoint's cut and its sinks' pre-commit
    const now = this.options.clock();
    for (const node of this.graph.nodes) node.onProcessingTime(now);
    if (this.running) this.checkpoints.serveRequests();
  }

  status(restarts: number): RunStatus {
    return {
      running: this.running,
      startedAt: this.startedAt,
      deadLetters: this.deadLetterCount,
      failure: this.failure,
      checkpoints: this.checkpoints.stats,
      restarts,
    };
  }

  private checkpointInBackground(): void {
    if (this.barrier || !this.running || this.stopController.signal.aborted) return;
    this.checkpoints.checkpoint().catch(() => {}); // counted and logged by the coordinator
  }

  /** Holds every source loop at its next batch boundary; resolves once all are held (or finished). */
  holdSources(): Promise<void> {
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

  releaseSources(): void {
    const barrier = this.barrier;
    this.barrier = undefined;
    barrier?.release();
  }

  private checkAligned(): void {
    const barrier = this.barrier;
    if (barrier && barrier.parked >= this.liveLoops) barrier.onAligned();
  }

  private async park(): Promise<void> {
    const barrier = this.barrier!;
    barrier.parked++;
    this.checkAligned();
    await barrier.released;
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
  async drainSinks(): Promise<void> {
    for (const { operator } of this.graph.sinks) {
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
    this.graph.deadLetterNode.receiveBatch({ values: [letter], timestamps: [letter.timestamp] }, 0);
  }
}
