// The dataflow graph a user builds through the stream API: sources, operator nodes, edges, sinks, repartition steps
// and uids. Nothing here runs; the executor (executor.ts) drives it. The stream builders (stream.ts, repartition.ts)
// hold this object, not the Pipeline, so that building stays off the Pipeline's public surface.
import type { Sink, Source } from './connector.ts';
import { Node, PipelineFailure } from './node.ts';
import { SinkOperator } from './operators/sink.ts';
import { UnionOperator } from './operators/stateless.ts';
import type { Operator } from './types.ts';

/**
 * A step whose records cross between partition tasks (a repartition, see repartition.ts). In one process its
 * `writer` node feeds its `reader` node directly; assignTask() cuts that edge, has the writer feed a sink and the
 * reader read a source (an internal topic), both made by split() for the task's partition.
 */
export interface ShuffleStep {
  /** The internal topic (unique in a pipeline). */
  readonly topic: string;
  readonly writer: Node;
  readonly reader: Node;
  split(partition: number, inputs: readonly Source<unknown>[]): { sink: Sink<unknown>; source: Source<unknown> };
}

export interface SourceEntry {
  source: Source<unknown>;
  node: Node;
  index: number;
  /** A repartition topic's reader (assignTask adds it), not one of the pipeline's inputs. */
  internal: boolean;
}

export interface SinkEntry {
  operator: SinkOperator<unknown>;
  node: Node;
}

export class PipelineGraph {
  readonly name: string;
  readonly nodes: Node[] = [];
  readonly sources: SourceEntry[] = [];
  readonly sinks: SinkEntry[] = [];
  readonly shuffles: ShuffleStep[] = [];
  /** Where every refused record goes (a node like any other, shown only once used). */
  readonly deadLetterNode: Node;
  private readonly names = new Map<string, number>();
  /** Set for a partition task of a scaled-out pipeline (see assignTask). */
  taskPartition: number | undefined;

  constructor(name: string) {
    this.name = name;
    this.deadLetterNode = this.addNode('dead-letters', new UnionOperator());
  }

  /** A unique operator name ('map', 'map-2', ...), used in metrics and logs. */
  uniqueName(base: string): string {
    const n = (this.names.get(base) ?? 0) + 1;
    this.names.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  }

  addNode(name: string, operator: Operator<never, unknown>): Node {
    const node = new Node(this.uniqueName(name), operator as Operator<unknown, unknown>);
    this.nodes.push(node);
    return node;
  }

  addSource(source: Source<unknown>): Node {
    const node = this.addNode(`source:${source.name}`, new UnionOperator());
    this.sources.push({ source, node, index: this.sources.length, internal: false });
    return node;
  }

  addSink(upstream: Node, sideTag: string | undefined, sink: Sink<unknown>): void {
    const operator = new SinkOperator(sink);
    const node = this.addNode(`sink:${sink.name}`, operator);
    upstream.connect(node, 0, sideTag);
    this.sinks.push({ operator, node });
  }

  /** Registers a repartition step (wired for a partition task by assignTask). */
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

  /** Throws if the graph cannot run: no sink, or two operators with one uid. */
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

  /**
   * Makes the graph the task of input partition `partition`: every source reads only that partition, and each
   * repartition step's writer feeds the step's topic while its reader reads the task's partition of it.
   */
  assignTask(partition: number): void {
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
  }

  /** The pipeline's input connectors, in the order they were added (not the repartition topics' readers). */
  inputs(): Source<unknown>[] {
    return this.sources.filter((s) => !s.internal).map((s) => s.source);
  }
}
