// A pipeline, as its user sees it: sources to start streams from, then run, stop, checkpoints, metrics and topology.
// It owns the three parts that do the work: the graph the stream API builds (graph.ts), the executor that runs it
// (executor.ts, with its checkpoint coordinator, checkpoint/coordinator.ts) and the metrics read from both
// (metrics.ts). The stream builders reach the graph directly; none of its building methods is the Pipeline's.
import type { PipelineEnvironment } from '../contracts/index.ts';
import { SluiceError } from '../errors.ts';
import { createLogger, type Logger } from '../logger.ts';
import type { CheckpointInfo, CheckpointOptions } from './checkpoint/coordinator.ts';
import type { CheckpointData } from './checkpoint/format.ts';
import type { Source } from './connector.ts';
import { Executor, type PipelineOptions, type ResolvedPipelineOptions } from './executor.ts';
import { PipelineGraph } from './graph.ts';
import { PipelineHistory } from './history.ts';
import { MetricsCollector, type PipelineMetrics, type PipelineTopology, type PipelineView } from './metrics.ts';
import { PipelineFailure } from './node.ts';
import { DataStream } from './stream.ts';
import type { DeadLetter } from './types.ts';

export type { CheckpointInfo, CheckpointOptions } from './checkpoint/coordinator.ts';
export type { PipelineOptions } from './executor.ts';
export type {
  OperatorMetrics,
  PipelineMetrics,
  PipelineTopology,
  PipelineView,
  SourceMetrics,
  SourcePartitionMetrics,
  TopologyEdge,
  TopologyNode,
} from './metrics.ts';

/** A row of a SQL query as `Pipeline.sql` returns it: an object named by the query's columns (TIMESTAMPs in epoch ms). */
export type SqlRow = Record<string, number | string | boolean | null>;

export interface PipelineSqlOptions {
  /** Where the script's tables over topics read and write (`log`) and its materialized views live (`serving`): a
   * pipeline file's environment. Needed unless every table the query reads is bound in `streams`. */
  env?: Pick<PipelineEnvironment, 'log' | 'serving'>;
  /** Tables read from these DataStreams of this pipeline instead of their topics (records with the declared
   * columns; a WATERMARK in the table's declaration assigns event time on the stream). */
  // biome-ignore lint/suspicious/noExplicitAny: a DataStream of any record type (DataStream is invariant in it)
  streams?: Record<string, DataStream<any>>;
}

/** What `Pipeline.sql` calls: the SQL layer's compiler, which registers itself when loaded (it sits above the engine). */
export type PipelineSqlCompiler = (
  pipeline: Pipeline,
  text: string,
  options: PipelineSqlOptions,
) => Promise<DataStream<SqlRow>>;

/** Stateless: a function of the SQL layer, the same for every pipeline of the process. */
let sqlCompiler: PipelineSqlCompiler | undefined;

export class Pipeline implements PipelineView {
  readonly name: string;
  readonly options: ResolvedPipelineOptions;
  readonly logger: Logger;
  /** What the stream API builds; the executor runs it. */
  readonly #graph: PipelineGraph;
  readonly #executor: Executor;
  readonly #metrics: MetricsCollector;
  #history = new PipelineHistory();

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
    this.#graph = new PipelineGraph(this.name);
    this.#executor = new Executor(this.#graph, this.options, this.logger, () => this.#history);
    this.#metrics = new MetricsCollector(this.#graph, this.options.clock);
  }

  source<T>(source: Source<T>): DataStream<T> {
    return new DataStream<T>(this.#graph, this.#graph.addSource(source as Source<unknown>));
  }

  /**
   * A streaming SQL query in this pipeline, as a DataStream of its rows (docs/sql.md): `text` declares the tables it
   * reads (CREATE TABLE over topics of `options.env.log`, or bound to `options.streams`) and holds exactly one bare
   * SELECT; its INSERT INTO and CREATE MATERIALIZED VIEW statements are added to the pipeline too. Asynchronous
   * (planning uses DuckDB's parser); `R` names the row's type when the caller knows it.
   *
   *     const totals = await p.sql<{ key: string; n: number }>(`CREATE TABLE ev (…); SELECT key, count(*) AS n …`, { env });
   */
  sql<R extends object = SqlRow>(text: string, options: PipelineSqlOptions = {}): Promise<DataStream<R>> {
    if (!sqlCompiler) {
      return Promise.reject(
        new SluiceError('UNSUPPORTED', "Pipeline.sql needs the SQL layer: import the pipeline from 'sluice'"),
      );
    }
    return sqlCompiler(this, text, options) as unknown as Promise<DataStream<R>>;
  }

  /** @internal The SQL layer registers the compiler behind `sql()` when it is loaded (src/sql/index.ts). */
  static registerSqlCompiler(compiler: PipelineSqlCompiler): void {
    sqlCompiler = compiler;
  }

  /** Every record refused by any operator or source, with the error and the original record. */
  deadLetters(): DataStream<DeadLetter> {
    return new DataStream<DeadLetter>(this.#graph, this.#graph.deadLetterNode);
  }

  /**
   * Turns checkpoints on (the runner does this for pipeline files): periodic, on demand (`checkpoint()`), and on
   * request from `sluice savepoint`; run() then starts from the latest complete checkpoint.
   */
  enableCheckpoints(options: CheckpointOptions): this {
    if (this.#executor.running) throw new PipelineFailure('PIPELINE_RUNNING', 'enable checkpoints before run()');
    this.#executor.checkpoints.enable(options);
    return this;
  }

  /**
   * Throws if the graph cannot run (no sink, two operators with one uid): what run() checks first, for runners to
   * call once the pipeline is built, so that a malformed graph fails at once rather than on every restart.
   */
  validate(): void {
    this.#graph.validate();
  }

  /** Runs until stop() (or, in bounded mode, until every source is exhausted and every result is written). */
  async run(): Promise<void> {
    if (this.#executor.running) {
      throw new PipelineFailure('PIPELINE_RUNNING', `pipeline ${this.name} is already running`);
    }
    this.validate();
    await this.#executor.run();
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
    if (this.#executor.running) throw new PipelineFailure('PIPELINE_RUNNING', 'assign the task before run()');
    this.#graph.assignTask(partition);
    return this;
  }

  /**
   * The pipeline's input connectors, in the order they were added (a runner may reposition them before run());
   * repartition topics' readers are not among them.
   */
  sourceConnectors(): Source<unknown>[] {
    return this.#graph.inputs();
  }

  /**
   * Stops reading, finishes the batches in flight, flushes the sinks and, with checkpoints on, takes a last one
   * (`{ checkpoint: false }` leaves that out: a crash as far as recovery can tell).
   */
  stop(options: { checkpoint?: boolean } = {}): void {
    this.#executor.stop(options);
  }

  /** Processing-time tick (public for tests with a manual clock). */
  tick(): void {
    this.#executor.tick();
  }

  /**
   * Takes a checkpoint now (or a savepoint, kept until deleted), after any checkpoint in progress; resolves once
   * its file is durable and the sinks have committed.
   */
  checkpoint(options: { savepoint?: string } = {}): Promise<CheckpointInfo> {
    return this.#executor.checkpoints.checkpoint(options);
  }

  /**
   * The state of every operator, its event time and every source position, keyed by uid. Consistent only between
   * batches: checkpoint() takes it at an aligned barrier.
   */
  snapshot(): CheckpointData {
    return this.#executor.checkpoints.snapshot();
  }

  /** Starts the next run() from `snapshot` (as taken by snapshot() or read from a checkpoint file). */
  restore(snapshot: CheckpointData): void {
    if (this.#executor.running) throw new PipelineFailure('PIPELINE_RUNNING', 'restore() before run()');
    this.#executor.checkpoints.restoreNext(snapshot);
  }

  metrics(): PipelineMetrics {
    return this.#metrics.metrics(this.#executor.status(this.#history.restarts));
  }

  /** The dataflow graph: every operator and the edges between them (the dead-letter output only when used). */
  topology(): PipelineTopology {
    return this.#metrics.topology();
  }

  /** Where each source that reads a topic stands: the next offset per partition (its consumer lag). */
  sourcePositions(): { operator: string; topic: string; offsets: number[] }[] {
    return this.#metrics.sourcePositions();
  }

  /** The last checkpoints and restarts (shared with the instances a supervisor rebuilds after a failure). */
  get history(): PipelineHistory {
    return this.#history;
  }

  /** @internal A supervisor hands a rebuilt pipeline the history of the instances before it. */
  adoptHistory(history: PipelineHistory): void {
    if (this.#executor.running) throw new PipelineFailure('PIPELINE_RUNNING', 'adopt a history before run()');
    this.#history = history;
  }
}
