// Topics as the dashboard sees them: partitions with offsets and bytes, produce rates, and who reads each topic
// (consumer groups by their committed offsets, running pipelines by their sources' positions) with lag per
// partition. A sampler takes one snapshot a second and keeps the last few minutes, so that rates and lag can be
// charted over time from the moment a page opens.
import type { PipelineView } from '../engine/index.ts';
import type { TopicInfo } from '../log/index.ts';
import type { ConsumerJson, TopicJson, TopicsHistoryPoint, TopicsJson } from './api.ts';
import type { ServerLog } from './options.ts';

export interface TopicSamplerOptions {
  log: ServerLog;
  pipelines: () => PipelineView[];
  /** Period between samples (default 1,000 ms). */
  intervalMs?: number;
  /** Samples kept for the history (default 300: five minutes at one a second). */
  keep?: number;
  clock?: () => number;
}

export class TopicSampler {
  readonly intervalMs: number;
  private readonly options: TopicSamplerOptions;
  private readonly keep: number;
  private readonly clock: () => number;
  private readonly history: TopicsHistoryPoint[] = [];
  private previous: { at: number; ends: Map<string, number[]>; bytes: Map<string, number[]> } | undefined;
  private latest: TopicsJson | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: TopicSamplerOptions) {
    this.options = options;
    this.intervalMs = options.intervalMs ?? 1000;
    this.keep = options.keep ?? 300;
    this.clock = options.clock ?? Date.now;
  }

  /** Starts sampling in the background (idempotent); the timer never keeps the process alive. */
  start(): void {
    if (this.timer || this.closed) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The latest snapshot, taken now if the last one is older than the interval. */
  current(): TopicsJson {
    if (!this.latest || this.clock() - this.latest.at >= this.intervalMs) return this.sample();
    return this.latest;
  }

  /** The snapshots' history, oldest first. */
  points(): TopicsHistoryPoint[] {
    return [...this.history];
  }

  /** Takes a snapshot: rates against the previous one, lag from committed offsets and pipeline positions. */
  sample(): TopicsJson {
    const at = this.clock();
    let infos: TopicInfo[];
    try {
      infos = this.options.log.listTopics();
    } catch {
      infos = []; // a closed log: nothing to show (the server is shutting down)
    }
    const previous = this.previous;
    const elapsedSec = previous ? (at - previous.at) / 1000 : 0;
    const rate = (now: number, before: number | undefined) =>
      previous && before !== undefined && elapsedSec > 0 ? Math.max(0, Math.round((now - before) / elapsedSec)) : null;
    const ends = new Map<string, number[]>();
    const bytes = new Map<string, number[]>();
    const topics: TopicJson[] = infos.map((info) => {
      ends.set(
        info.name,
        info.partitions.map((p) => p.logEndOffset),
      );
      bytes.set(
        info.name,
        info.partitions.map((p) => p.sizeBytes),
      );
      const partitions = info.partitions.map((p) => ({
        partition: p.partition,
        startOffset: p.logStartOffset,
        endOffset: p.logEndOffset,
        bytes: p.sizeBytes,
        recordsPerSec: rate(p.logEndOffset, previous?.ends.get(info.name)?.[p.partition]),
        bytesPerSec: rate(p.sizeBytes, previous?.bytes.get(info.name)?.[p.partition]),
      }));
      const rates = partitions.map((p) => p.recordsPerSec);
      return {
        name: info.name,
        partitions,
        records: partitions.reduce((sum, p) => sum + (p.endOffset - p.startOffset), 0),
        bytes: partitions.reduce((sum, p) => sum + p.bytes, 0),
        recordsPerSec: rates.some((r) => r === null) ? null : rates.reduce((a, b) => a! + b!, 0),
        retention: { ms: info.config.retentionMs, bytes: info.config.retentionBytes },
      };
    });
    const snapshot: TopicsJson = { at, topics, consumers: this.consumers(infos) };
    this.previous = { at, ends, bytes };
    this.latest = snapshot;
    const point: TopicsHistoryPoint = { at, produce: {}, lag: {} };
    for (const topic of topics) if (topic.recordsPerSec !== null) point.produce[topic.name] = topic.recordsPerSec;
    for (const consumer of snapshot.consumers) point.lag[consumer.id] = consumer.partitions.map((p) => p.lag);
    if (previous) {
      this.history.push(point);
      if (this.history.length > this.keep) this.history.shift();
    }
    return snapshot;
  }

  private consumers(infos: TopicInfo[]): ConsumerJson[] {
    const byName = new Map(infos.map((info) => [info.name, info]));
    const out: ConsumerJson[] = [];
    const { log, pipelines } = this.options;
    let groups: string[] = [];
    try {
      groups = log.groups?.listGroups() ?? [];
    } catch {
      // a closed log
    }
    for (const group of groups) {
      for (const [topic, committed] of log.groups?.fetch(group) ?? []) {
        const info = byName.get(topic);
        if (!info) continue;
        out.push(consumer(`group:${group}:${topic}`, 'group', group, info, (p) => committed.get(p)?.offset ?? null));
      }
    }
    for (const pipeline of pipelines()) {
      for (const source of pipeline.sourcePositions()) {
        const info = byName.get(source.topic);
        if (!info) continue;
        out.push(
          consumer(
            `pipeline:${pipeline.name}:${source.operator}`,
            'pipeline',
            pipeline.name,
            info,
            (p) => source.offsets[p] ?? null,
          ),
        );
      }
    }
    return out;
  }
}

function consumer(
  id: string,
  kind: ConsumerJson['kind'],
  name: string,
  info: TopicInfo,
  offsetOf: (partition: number) => number | null,
): ConsumerJson {
  const partitions = info.partitions.map((p) => {
    const offset = offsetOf(p.partition);
    return { partition: p.partition, offset, endOffset: p.logEndOffset, lag: partitionLag(offset, p) };
  });
  return { id, kind, name, topic: info.name, partitions, lag: partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0) };
}

/**
 * Records a reader at `offset` has still to read in a partition (null without an offset). Records already deleted
 * by retention cannot be read: lag counts from the log start at most. The dashboard and /metrics both use it.
 */
export function partitionLag(offset: number | null, partition: TopicInfo['partitions'][number]): number | null {
  return offset === null ? null : Math.max(0, partition.logEndOffset - Math.max(offset, partition.logStartOffset));
}
