// The typed stream API (in the spirit of Flink's DataStream): each method adds an operator node and returns the
// stream of its output, so that types flow from source to sink with full inference.
import { SluiceError } from '../errors.ts';
import type { Aggregate } from './aggregates/index.ts';
import type { Sink } from './connector.ts';
import { type Duration, toMillis } from './duration.ts';
import type { PipelineGraph } from './graph.ts';
import type { Node } from './node.ts';
import {
  EnrichJoinOperator,
  IntervalJoinOperator,
  LATE_LEFT_TAG,
  LATE_RIGHT_TAG,
  WindowJoinOperator,
} from './operators/joins.ts';
import {
  type KeyedCoProcessFunction,
  KeyedCoProcessOperator,
  type KeyedProcessFunction,
  KeyedProcessOperator,
} from './operators/keyed-process.ts';
import { RollingOperator, type RollingResult } from './operators/rolling.ts';
import { SessionWindowOperator } from './operators/session-window.ts';
import {
  FilterOperator,
  FlatMapOperator,
  MapOperator,
  type ProcessContext,
  ProcessOperator,
  UnionOperator,
} from './operators/stateless.ts';
import { TemporalJoinOperator } from './operators/temporal-join.ts';
import { ProcessingTimeAssigner, TimestampAssigner, type WatermarkStrategy } from './operators/timestamps.ts';
import { LATE_TAG, PaneWindowOperator } from './operators/window-aggregate.ts';
import { addRepartition, type RepartitionOptions } from './repartition.ts';
import type { Operator } from './types.ts';
import type { WindowAssigner, WindowResult } from './windows.ts';

export class DataStream<T> {
  /** @internal The graph this stream belongs to (its pipeline's). */
  readonly graph: PipelineGraph;
  /** @internal */ readonly node: Node;
  /** @internal */ readonly sideTag?: string;

  /** @internal Streams come from `pipeline.source()` and the methods below. */
  constructor(graph: PipelineGraph, node: Node, sideTag?: string) {
    this.graph = graph;
    this.node = node;
    this.sideTag = sideTag;
  }

  /** @internal Adds a one-input operator fed by this stream. */
  protected pipe<O>(name: string, operator: Operator<T, O>): DataStream<O> {
    return attach(this, name, operator);
  }

  /**
   * Names this operator's state in checkpoints and savepoints. Stateful operators that keep a uid keep their state
   * when the pipeline's code changes around them (without one, the generated name — `window-aggregate-2` — may
   * shift when operators are added).
   */
  uid(id: string): this {
    this.node.uid = id;
    return this;
  }

  map<O>(fn: (value: T) => O): DataStream<O> {
    return this.pipe('map', new MapOperator(fn));
  }

  filter<S extends T>(predicate: (value: T) => value is S): DataStream<S>;
  filter(predicate: (value: T) => boolean): DataStream<T>;
  filter(predicate: (value: T) => boolean): DataStream<T> {
    return this.pipe('filter', new FilterOperator(predicate));
  }

  flatMap<O>(fn: (value: T) => Iterable<O>): DataStream<O> {
    return this.pipe('flatMap', new FlatMapOperator(fn));
  }

  /** Per-record logic with side outputs: `ctx.output('errors', x)`, read with `.sideOutput('errors')`. */
  process<O>(fn: (value: T, ctx: ProcessContext<O>) => void): DataStream<O> {
    return this.pipe('process', new ProcessOperator(fn));
  }

  /** The records an operator sent to the named side output. */
  sideOutput<S = unknown>(tag: string): DataStream<S> {
    return new DataStream<S>(this.graph, this.node, tag);
  }

  union(...others: DataStream<T>[]): DataStream<T> {
    const node = this.graph.addNode('union', new UnionOperator());
    this.node.connect(node, 0, this.sideTag);
    for (const [i, other] of others.entries()) other.node.connect(node, i + 1, other.sideTag);
    return new DataStream<T>(this.graph, node);
  }

  /** Event time: the timestamp of each record, and how watermarks follow them (per source partition). */
  withTimestamps(extract: (value: T) => number, strategy: WatermarkStrategy): DataStream<T> {
    return this.pipe('timestamps', new TimestampAssigner(extract, strategy));
  }

  /** Processing time: records are stamped with the wall clock on arrival; windows follow the clock. */
  withProcessingTime(): DataStream<T> {
    return this.pipe('processing-time', new ProcessingTimeAssigner());
  }

  /**
   * Groups by `key`. When the input topic is not partitioned by this key and the pipeline runs scaled out,
   * `{ repartition: 'name' }` moves each key's records to one task first (see repartition()).
   */
  keyBy<K>(key: (value: T) => K, options: { repartition?: string | RepartitionOptions<T> } = {}): KeyedStream<T, K> {
    const { repartition } = options;
    if (repartition === undefined) return new KeyedStream<T, K>(this, key);
    const shuffled = this.repartition(key, typeof repartition === 'string' ? { name: repartition } : repartition);
    return new KeyedStream<T, K>(shuffled, key);
  }

  /**
   * Regroups the stream by `key` (a shuffle). In one process the records pass through unchanged; in the partition
   * tasks of a scaled-out pipeline (`sluice run --group/--parallelism`) every task writes its records to the topic
   * `<pipeline>-<name>-repartition` by key and reads its own partition of it back, with exactly-once delivery and
   * event time carried across (the watermark downstream never passes any task's). Put it after withTimestamps()
   * and before the keyed operation; records must survive `format` (default JSON) unchanged.
   */
  repartition<K>(key: (value: T) => K, options: RepartitionOptions<T>): DataStream<T> {
    const node = addRepartition(this.graph, this.node, this.sideTag, key, options);
    return new DataStream<T>(this.graph, node);
  }

  sinkTo(sink: Sink<T>): void {
    this.graph.addSink(this.node, this.sideTag, sink as Sink<unknown>);
  }

  /** Names the last operator (for metrics and logs). */
  named(name: string): this {
    (this.node as { name: string }).name = this.graph.uniqueName(name);
    return this;
  }
}

export class KeyedStream<T, K> {
  readonly stream: DataStream<T>;
  readonly key: (value: T) => K;

  constructor(stream: DataStream<T>, key: (value: T) => K) {
    this.stream = stream;
    this.key = key;
  }

  window(assigner: WindowAssigner): WindowedStream<T, K> {
    return new WindowedStream(this, assigner, 0);
  }

  process<O>(fn: KeyedProcessFunction<K, T, O>): DataStream<O> {
    return attach(this.stream, 'keyed-process', new KeyedProcessOperator(this.key, fn));
  }

  /** Connects this keyed stream with another of the same key type, for a two-input keyed process function. */
  connect<U>(other: KeyedStream<U, K>): ConnectedKeyedStreams<T, U, K> {
    return new ConnectedKeyedStreams(this, other);
  }

  /** An aggregate over each key's last `count` records or last `time` of event time, emitted on every record. */
  rolling<Acc, R>(
    aggregate: Aggregate<T, Acc, R>,
    extent: { count: number } | { time: Duration },
  ): DataStream<RollingResult<K, R>> {
    const resolved = 'count' in extent ? { count: extent.count } : { timeMs: toMillis(extent.time, 'rolling time') };
    return attach(this.stream, 'rolling', new RollingOperator(this.key, aggregate, resolved));
  }

  /** Pairs each record `a` with the other stream's records `b` of the same key whose time is within
   * [a.ts + lower, a.ts + upper] (durations may be negative: `-10m`, given as numbers of ms). Records of either
   * side that arrive behind the watermark come out of `lateData()` (both sides mixed), and each side's out of
   * `leftLateData()` / `rightLateData()` too. */
  intervalJoin<U, O>(
    other: KeyedStream<U, K>,
    bounds: { lower: number | Duration; upper: number | Duration },
    combine: (left: T, right: U) => O,
  ): IntervalJoinedStream<O, T, U> {
    const ms = (d: number | Duration) => (typeof d === 'number' ? d : signedMillis(d));
    const lower = ms(bounds.lower);
    const upper = ms(bounds.upper);
    if (lower > upper) {
      throw new SluiceError('INVALID_JOIN', `an interval join needs lower <= upper (lower ${lower}, upper ${upper})`);
    }
    const joined = attachTwo<T, U, O, T | U>(
      this.stream,
      other.stream,
      'interval-join',
      new IntervalJoinOperator<T, U, K, O>(this.key, other.key, lower, upper, combine),
    );
    return new IntervalJoinedStream<O, T, U>(joined.graph, joined.node);
  }

  /** Records of both streams with the same key in the same window, paired when the window fires. Records for
   * windows that already fired come out of `lateData()`. */
  windowJoin<U, O>(
    other: KeyedStream<U, K>,
    assigner: WindowAssigner,
    combine: (left: T, right: U, window: { start: number; end: number }) => O,
  ): JoinedStream<O, T | U> {
    if (assigner.kind === 'session') {
      throw new SluiceError('INVALID_WINDOW', 'window joins take tumbling or sliding windows, not sessions');
    }
    const slide = assigner.kind === 'sliding' ? assigner.slideMs : assigner.sizeMs;
    return attachTwo(
      this.stream,
      other.stream,
      'window-join',
      new WindowJoinOperator<T, U, K, O>(this.key, other.key, assigner.sizeMs, slide, combine, assigner.offsetMs),
    );
  }

  /**
   * Joins each record with the row of a changelog table keyed the same way (a left join: `undefined` when the
   * key has no row). `time: 'processing'` (default) looks up the latest row as the record arrives;
   * `time: 'event'` joins the row valid at the record's timestamp once the watermark passes it (a temporal
   * join: deterministic whatever the interleaving of the two inputs; records behind the watermark go to
   * `lateData()`).
   */
  enrich<U, O>(
    table: KeyedStream<U, K>,
    combine: (value: T, row: U | undefined) => O,
    options: { isDelete?: (row: U) => boolean; time?: 'processing' | 'event' } = {},
  ): JoinedStream<O, T> {
    const operator =
      options.time === 'event'
        ? new TemporalJoinOperator<T, U, K, O>(this.key, table.key, combine, options.isDelete)
        : new EnrichJoinOperator<T, U, K, O>(this.key, table.key, combine, options.isDelete);
    return attachTwo(this.stream, table.stream, options.time === 'event' ? 'temporal-join' : 'enrich', operator);
  }
}

/** Two keyed streams of one key type (`a.connect(b)`), processed together with keyed state shared per key. */
export class ConnectedKeyedStreams<T1, T2, K> {
  private readonly first: KeyedStream<T1, K>;
  private readonly second: KeyedStream<T2, K>;

  constructor(first: KeyedStream<T1, K>, second: KeyedStream<T2, K>) {
    this.first = first;
    this.second = second;
  }

  /**
   * The first stream's records go to `processElement1`, the second's to `processElement2`, each with its key's
   * state and timers — the same state for a key whichever input its records come from (Flink's
   * KeyedCoProcessFunction).
   */
  process<O>(fn: KeyedCoProcessFunction<K, T1, T2, O>): DataStream<O> {
    return attachTwo(
      this.first.stream,
      this.second.stream,
      'keyed-co-process',
      new KeyedCoProcessOperator<K, T1, T2, O>(this.first.key, this.second.key, fn),
    );
  }
}

export class WindowedStream<T, K> {
  private readonly keyed: KeyedStream<T, K>;
  private readonly assigner: WindowAssigner;
  private readonly latenessMs: number;

  constructor(keyed: KeyedStream<T, K>, assigner: WindowAssigner, latenessMs: number) {
    this.keyed = keyed;
    this.assigner = assigner;
    this.latenessMs = latenessMs;
  }

  /** Keeps windows this long after they fire; each late record then emits an updated result. */
  allowedLateness(lateness: Duration): WindowedStream<T, K> {
    return new WindowedStream(this.keyed, this.assigner, toMillis(lateness, 'allowed lateness'));
  }

  aggregate<Acc, R>(aggregate: Aggregate<T, Acc, R>): WindowResultStream<T, K, R> {
    const a = this.assigner;
    const operator =
      a.kind === 'session'
        ? new SessionWindowOperator<T, K, Acc, R>({
            key: this.keyed.key,
            gapMs: a.gapMs,
            allowedLatenessMs: this.latenessMs,
            aggregate,
          })
        : new PaneWindowOperator<T, K, Acc, R>({
            key: this.keyed.key,
            sizeMs: a.sizeMs,
            slideMs: a.kind === 'sliding' ? a.slideMs : a.sizeMs,
            offsetMs: a.offsetMs,
            allowedLatenessMs: this.latenessMs,
            aggregate,
          });
    const stream = attach(this.keyed.stream, `window-${a.kind}`, operator);
    return new WindowResultStream<T, K, R>(stream.graph, stream.node);
  }
}

/** A join's output; the records that arrived too late to be joined are its `lateData()`. */
export class JoinedStream<O, L> extends DataStream<O> {
  /** Records behind the watermark when they arrived (side output `late`). */
  lateData(): DataStream<L> {
    return new DataStream<L>(this.graph, this.node, LATE_TAG);
  }
}

/**
 * An interval join's output, with its late records per side as well (Flink's `sideOutputLeftLateData` and
 * `sideOutputRightLateData`): each late record comes out of `lateData()` and out of its own side's stream.
 */
export class IntervalJoinedStream<O, L, R> extends JoinedStream<O, L | R> {
  /** The left stream's records that arrived behind the watermark (side output `late-left`). */
  leftLateData(): DataStream<L> {
    return new DataStream<L>(this.graph, this.node, LATE_LEFT_TAG);
  }

  /** The right stream's records that arrived behind the watermark (side output `late-right`). */
  rightLateData(): DataStream<R> {
    return new DataStream<R>(this.graph, this.node, LATE_RIGHT_TAG);
  }
}

export class WindowResultStream<T, K, R> extends DataStream<WindowResult<K, R>> {
  /** Records that arrived after their window's allowed lateness (the late-data side output). */
  lateData(): DataStream<T> {
    return new DataStream<T>(this.graph, this.node, LATE_TAG);
  }
}

function attach<I, O>(input: DataStream<I>, name: string, operator: Operator<I, O>): DataStream<O> {
  const node = input.graph.addNode(name, operator as Operator<never, unknown>);
  input.node.connect(node, 0, input.sideTag);
  return new DataStream<O>(input.graph, node);
}

function attachTwo<L, R, O, Late>(
  left: DataStream<L>,
  right: DataStream<R>,
  name: string,
  operator: Operator<L | R, O>,
): JoinedStream<O, Late> {
  if (left.graph !== right.graph) {
    throw new SluiceError('INVALID_JOIN', 'cannot join streams of two different pipelines');
  }
  const node = left.graph.addNode(name, operator as Operator<never, unknown>);
  left.node.connect(node, 0, left.sideTag);
  right.node.connect(node, 1, right.sideTag);
  return new JoinedStream<O, Late>(left.graph, node);
}

function signedMillis(d: Duration): number {
  if (typeof d === 'string' && d.trim().startsWith('-')) return -toMillis(d.trim().slice(1));
  return toMillis(d);
}
