// What observers see of a pipeline: per-operator metrics (records, rates, watermarks and their lag, late records,
// state size, backpressure), per-source-partition positions, watermarks and idleness, and the dataflow topology.
// Read from the graph and the run's status; nothing here changes either.
import type { CheckpointInfo } from './checkpoint/coordinator.ts';
import type { PipelineGraph } from './graph.ts';
import type { PipelineHistorySnapshot } from './history.ts';
import type { Node, NodeMetrics } from './node.ts';
import { type ChannelTime, TimestampAssigner } from './operators/timestamps.ts';

export interface OperatorMetrics extends NodeMetrics {
  /** Records in per second, over the time since the previous metrics() call (at least one second apart). */
  ratePerSec: number;
  /** Fraction of the running time this operator's output was held back by slow sinks downstream (0..1). */
  backpressure: number;
  /**
   * Event-time lag: processing time minus the operator's watermark (ms), when it has one; negative when the
   * watermark is ahead of the clock (event time from the future, e.g. demo time).
   */
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

/** Channel numbers downstream are `source index × this + the source's channel`, unique over the pipeline. */
export const CHANNELS_PER_SOURCE = 1_000_000;

/** How the run stands, as the executor and the checkpoint coordinator report it. */
export interface RunStatus {
  running: boolean;
  startedAt: number;
  deadLetters: number;
  failure: unknown;
  checkpoints: PipelineMetrics['checkpoints'];
  restarts: number;
}

export class MetricsCollector {
  private readonly graph: PipelineGraph;
  private readonly clock: () => number;
  private readonly rateSamples = new Map<Node, { at: number; recordsIn: number; rate: number }>();

  constructor(graph: PipelineGraph, clock: () => number) {
    this.graph = graph;
    this.clock = clock;
  }

  metrics(status: RunStatus): PipelineMetrics {
    const { graph } = this;
    const now = this.clock();
    const uptimeMs = status.running ? Math.max(1, now - status.startedAt) : 1;
    // Backpressure of a node: the busiest sink reachable from it (its output waits for that sink).
    const sinkBusy = new Map<Node, number>();
    for (const { operator, node } of graph.sinks) {
      const busy = operator.busyMs + (operator.pending ? performance.now() - operator.busySince : 0);
      sinkBusy.set(node, Math.min(1, busy / uptimeMs));
    }
    const { failure } = status;
    return {
      name: graph.name,
      running: status.running,
      uptimeMs,
      deadLetters: status.deadLetters,
      checkpoints: { ...status.checkpoints },
      error: failure === undefined ? null : failure instanceof Error ? failure.message : String(failure),
      restarts: status.restarts,
      operators: graph.nodes
        .filter((node) => node !== graph.deadLetterNode || node.recordsIn > 0)
        .map((node) => {
          const m = node.metrics();
          let backpressure = 0;
          for (const reached of node.reachable()) backpressure = Math.max(backpressure, sinkBusy.get(reached) ?? 0);
          return {
            ...m,
            ratePerSec: this.rate(node, now, status.startedAt),
            backpressure,
            // Signed: a watermark ahead of the clock (event time from the future, e.g. demo time) shows as such.
            watermarkLagMs: Number.isFinite(m.watermark) ? now - m.watermark : null,
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
    for (const node of this.graph.nodes) {
      if (node.operator instanceof TimestampAssigner) assigners.push(node.operator.channelTimes());
    }
    return this.graph.sources
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
    const { graph } = this;
    const sources = new Map(graph.sources.map((s) => [s.node, s.source]));
    const sinks = new Map(graph.sinks.map((s) => [s.node, s.operator.sink]));
    const nodes = graph.nodes.filter(
      (node) => node !== graph.deadLetterNode || node.recordsIn > 0 || node.outputs().length > 0,
    );
    return {
      name: graph.name,
      nodes: nodes.map((node) => {
        const source = sources.get(node);
        const sink = sinks.get(node);
        return {
          id: node.name,
          kind: source ? 'source' : sink ? 'sink' : node === graph.deadLetterNode ? 'dead-letters' : 'operator',
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
    return this.graph.sources.flatMap(({ source, node }) => {
      const positions = source.readPositions?.();
      return positions ? [{ operator: node.name, ...positions }] : [];
    });
  }

  private rate(node: Node, now: number, startedAt: number): number {
    const sample = this.rateSamples.get(node);
    if (sample === undefined) {
      const rate = (node.recordsIn * 1000) / Math.max(1, now - startedAt);
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
}
