// A pipeline: the dataflow graph built through the stream API, and the runtime that drives it. Each source runs
// its own read loop; a batch is pushed synchronously through the operators to the sinks; a source reads its next
// batch only once the sinks' writes for the previous one have settled, so a slow sink slows the sources and the
// memory in flight is bounded by one batch per source.
import { createLogger, type Logger } from '../logger.ts';
import type { Sink, Source, SourceBatch } from './connector.ts';
import { Node, type NodeMetrics, PipelineFailure } from './node.ts';
import { SinkOperator } from './operators/sink.ts';
import { UnionOperator } from './operators/stateless.ts';
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

export interface OperatorMetrics extends NodeMetrics {
  /** Records in per second, over the time since the previous metrics() call (at least one second apart). */
  ratePerSec: number;
  /** Fraction of the running time this operator's output was held back by slow sinks downstream (0..1). */
  backpressure: number;
  /** Event-time lag: processing time minus the operator's watermark (ms), when it has one. */
  watermarkLagMs: number | null;
}

export interface PipelineMetrics {
  name: string;
  running: boolean;
  uptimeMs: number;
  operators: OperatorMetrics[];
  deadLetters: number;
}

const DEAD_LETTER_TAG = 'dead-letters';

export class Pipeline {
  readonly name: string;
  readonly options: Required<Omit<PipelineOptions, 'clock'>> & { clock: () => number };
  readonly logger: Logger;
  private readonly nodes: Node[] = [];
  private readonly sources: { source: Source<unknown>; node: Node; index: number }[] = [];
  private readonly sinks: { operator: SinkOperator<unknown>; node: Node }[] = [];
  private readonly deadLetterNode: Node;
  private readonly names = new Map<string, number>();
  private running = false;
  private startedAt = 0;
  private stopController = new AbortController();
  private failure: unknown;
  private deadLetterCount = 0;
  private readonly rateSamples = new Map<Node, { at: number; recordsIn: number; rate: number }>();

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
    this.sources.push({ source: source as Source<unknown>, node, index: this.sources.length });
    return new DataStream<T>(this, node);
  }

  /** Every record refused by any operator or source, with the error and the original record. */
  deadLetters(): DataStream<DeadLetter> {
    return new DataStream<DeadLetter>(this, this.deadLetterNode);
  }

  /** @internal */
  addSink<T>(upstream: Node, sideTag: string | undefined, sink: Sink<T>): void {
    const operator = new SinkOperator(sink as Sink<unknown>);
    const node = this.addNode(`sink:${sink.name}`, operator);
    upstream.connect(node, 0, sideTag);
    this.sinks.push({ operator, node });
  }

  /** Runs until stop() (or, in bounded mode, until every source is exhausted and every result is written). */
  async run(): Promise<void> {
    if (this.running) throw new PipelineFailure('PIPELINE_RUNNING', `pipeline ${this.name} is already running`);
    if (this.sinks.length === 0) {
      throw new PipelineFailure('NO_SINK', `pipeline ${this.name} has no sink: add .sinkTo(...) to a stream`);
    }
    this.running = true;
    this.startedAt = this.options.clock();
    this.stopController = new AbortController();
    this.failure = undefined;
    const hooks = {
      deadLetter: (letter: DeadLetter) => this.onDeadLetter(letter),
      processingTime: this.options.clock,
    };
    for (const node of this.nodes) node.open(hooks);
    for (const { operator } of this.sinks) await operator.sink.open?.();
    const tick = setInterval(() => this.guard(() => this.tick()), this.options.tickMs);
    try {
      await Promise.all(this.sources.map((s) => this.runSource(s)));
      this.throwIfFailed();
      await this.drainSinks();
      for (const { operator } of this.sinks) await operator.sink.flush?.();
      this.throwIfFailed();
    } finally {
      clearInterval(tick);
      this.running = false;
      for (const { source } of this.sources) await source.close().catch(() => {});
      for (const { operator } of this.sinks) await operator.sink.close?.().catch(() => {});
    }
  }

  /** Stops reading, finishes the batches in flight and flushes the sinks; run() then resolves. */
  stop(): void {
    this.stopController.abort();
  }

  /** Processing-time tick (public for tests with a manual clock). */
  tick(): void {
    const now = this.options.clock();
    for (const node of this.nodes) node.onProcessingTime(now);
  }

  private async runSource({ source, node, index }: { source: Source<unknown>; node: Node; index: number }) {
    await source.open({
      bounded: this.options.bounded,
      deadLetter: (letter) => this.onDeadLetter({ operator: node.name, ...letter }),
    });
    const channelBase = index * 1_000_000;
    // Announce every channel, so that an empty partition holds the watermark back as Kafka's does in Flink.
    for (const channel of source.channels())
      node.receiveBatch({ values: [], timestamps: [], channel: channelBase + channel }, 0);
    const signal = this.stopController.signal;
    while (!signal.aborted && this.failure === undefined) {
      let batch: SourceBatch<unknown> | null;
      try {
        batch = await source.poll(signal);
      } catch (error) {
        this.fail(error);
        break;
      }
      if (batch === null) break;
      if (batch.values.length > 0) {
        this.guard(() =>
          node.receiveBatch(
            { values: batch.values, timestamps: batch.timestamps, channel: channelBase + batch.channel },
            0,
          ),
        );
      }
      await this.drainSinks();
    }
    // The end of a bounded input: a final watermark fires every window and timer downstream.
    if (this.options.bounded && this.failure === undefined && !signal.aborted) {
      this.guard(() => node.receiveWatermark(MAX_WATERMARK, 0));
    }
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
    };
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

  /** State of every operator and source position, for checkpoints (taken between batches). */
  snapshot(): { sources: unknown[]; operators: Record<string, unknown> } {
    const operators: Record<string, unknown> = {};
    for (const node of this.nodes) {
      const state = node.operator.snapshot?.();
      if (state !== undefined) operators[node.name] = state;
    }
    return { sources: this.sources.map(({ source }) => source.snapshot?.()), operators };
  }

  restore(snapshot: { sources: unknown[]; operators: Record<string, unknown> }): void {
    this.sources.forEach(({ source }, i) => {
      if (snapshot.sources[i] !== undefined) source.restore?.(snapshot.sources[i]);
    });
    for (const node of this.nodes) {
      const state = snapshot.operators[node.name];
      if (state !== undefined) node.operator.restore?.(state);
    }
  }
}

export { DEAD_LETTER_TAG };
