// The push side of the dashboard: Server-Sent Events streams, each subscribed to channels (pipeline metrics, topic
// samples, checkpoint history) and to live series over serving tables. One timer serves every stream: each tick
// takes the pipelines' metrics and a topic sample once, and runs each distinct series query once however many
// streams show it; a stream that is still writing the previous tick (a slow client) skips a tick rather than queue.
import type { Pipeline } from '../engine/index.ts';
import { isSluiceError, SluiceError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import type { ServingStore } from '../serve/index.ts';
import type { PipelineHistoryJson, PipelineJson, SeriesSpec } from './api.ts';
import { querySeries, type SeriesRow, seriesDelta, seriesKey } from './series.ts';
import type { ThroughputSampler } from './throughput.ts';
import type { TopicSampler } from './topics.ts';

export const CHANNELS = ['pipelines', 'topics', 'history'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface LiveHubOptions {
  pipelines: () => Pipeline[];
  store?: ServingStore;
  sampler: TopicSampler;
  throughput: ThroughputSampler;
  /** Period of pushes (default 1,000 ms). */
  intervalMs?: number;
  /** A series query is run again at least this often even when its table reports no new rows (default 5 s). */
  maxSeriesAgeMs?: number;
  queryTimeoutMs?: number;
  /** Streams open at once (default 64); more are refused with 503. */
  maxStreams?: number;
}

/** Where a subscription's events go (an SSE stream); `send` resolves once written. */
export interface LiveSink {
  send(event: string, data: unknown): Promise<void>;
  /** Ends the stream (the server is closing). */
  close(): void;
}

interface Subscription {
  channels: Set<Channel>;
  series: SeriesSpec[];
  sink: LiveSink;
  busy: boolean;
  /** What this stream was last sent of each series, by series id. */
  sentSeries: Map<string, SeriesRow[]>;
  sentHistory: string | undefined;
  sentTopicsHistory: boolean;
  sentThroughputHistory: boolean;
  /** Series ids whose last attempt failed (an error event was sent; a later success clears it). */
  failing: Set<string>;
}

interface SeriesCache {
  rows: SeriesRow[] | undefined;
  error: { code: string; message: string } | undefined;
  at: number;
  rowsWritten: number;
}

export class LiveHub {
  private readonly options: LiveHubOptions;
  private readonly subscriptions = new Set<Subscription>();
  private readonly seriesCache = new Map<string, SeriesCache>();
  /** Series queries running now, by key: a second stream asking for the same series waits for the same query. */
  private readonly pendingQueries = new Map<string, Promise<SeriesCache>>();
  private readonly logger = createLogger('http');
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private closed = false;

  constructor(options: LiveHubOptions) {
    this.options = options;
  }

  get streams(): number {
    return this.subscriptions.size;
  }

  /**
   * Adds a stream: it gets a first event on every channel at once, then one per tick. Returns the unsubscribe.
   * Throws TOO_MANY_STREAMS (503) past the limit.
   */
  subscribe(channels: Set<Channel>, series: SeriesSpec[], sink: LiveSink): () => void {
    if (this.closed) throw new SluiceError('STORE_CLOSED', 'the server is shutting down');
    if (this.subscriptions.size >= (this.options.maxStreams ?? 64)) {
      throw new SluiceError('TOO_MANY_STREAMS', `too many live streams open (${this.subscriptions.size}); close some`);
    }
    const subscription: Subscription = {
      channels,
      series,
      sink,
      busy: false,
      sentSeries: new Map(),
      sentHistory: undefined,
      sentTopicsHistory: false,
      sentThroughputHistory: false,
      failing: new Set(),
    };
    this.subscriptions.add(subscription);
    if (channels.has('topics')) this.options.sampler.start();
    if (channels.has('pipelines')) this.options.throughput.start();
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.options.intervalMs ?? 1000);
      this.timer.unref();
    }
    void this.push(subscription, frame(this.options.pipelines()));
    return () => {
      this.subscriptions.delete(subscription);
      if (this.subscriptions.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const subscription of this.subscriptions) subscription.sink.close();
    this.subscriptions.clear();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return; // the previous tick's queries are still running: skip rather than pile up
    this.ticking = true;
    try {
      const now = frame(this.options.pipelines());
      await Promise.all([...this.subscriptions].map((s) => this.push(s, now)));
    } finally {
      this.ticking = false;
    }
  }

  /** Sends a stream what it subscribed to; skipped while its previous push is still being written. */
  private async push(subscription: Subscription, now: Frame): Promise<void> {
    if (subscription.busy || !this.subscriptions.has(subscription)) return;
    subscription.busy = true;
    try {
      const { channels, sink } = subscription;
      if (channels.has('pipelines')) {
        if (!subscription.sentThroughputHistory) {
          subscription.sentThroughputHistory = true;
          const history = this.options.throughput.points();
          await sink.send('pipelines', { at: now.at, pipelines: now.metrics(), history });
        } else await sink.send('pipelines', { at: now.at, pipelines: now.metrics() });
      }
      if (channels.has('topics')) {
        const snapshot = this.options.sampler.current();
        if (!subscription.sentTopicsHistory) {
          subscription.sentTopicsHistory = true;
          await sink.send('topics', { ...snapshot, history: this.options.sampler.points() });
        } else await sink.send('topics', snapshot);
      }
      if (channels.has('history')) {
        const { histories, json } = now.histories();
        if (json !== subscription.sentHistory) {
          subscription.sentHistory = json;
          await sink.send('history', { pipelines: histories });
        }
      }
      for (const spec of subscription.series) {
        const cache = await this.seriesOf(spec);
        if (cache.error) {
          if (!subscription.failing.has(spec.id)) {
            subscription.failing.add(spec.id);
            await sink.send('series-error', { id: spec.id, error: cache.error });
          }
          continue;
        }
        subscription.failing.delete(spec.id);
        const delta = seriesDelta(spec.id, subscription.sentSeries.get(spec.id), cache.rows!);
        subscription.sentSeries.set(spec.id, cache.rows!);
        if (delta) await sink.send('series', delta);
      }
    } catch (error) {
      // The stream is gone (the client left): its unsubscribe runs when the response closes.
      this.logger.debug({ err: error }, 'live push failed');
    } finally {
      subscription.busy = false;
    }
  }

  /** A series' latest result: queried at most once per tick, and again only when its table changed or aged. */
  private seriesOf(spec: SeriesSpec): Promise<SeriesCache> {
    const key = seriesKey(spec);
    const store = this.options.store;
    const now = Date.now();
    const cached = this.seriesCache.get(key);
    const written = store?.rowsWritten.get(spec.table) ?? 0;
    const interval = this.options.intervalMs ?? 1000;
    if (
      cached &&
      (now - cached.at < interval * 0.9 ||
        (cached.rowsWritten === written && now - cached.at < (this.options.maxSeriesAgeMs ?? 5000)))
    ) {
      return Promise.resolve(cached);
    }
    const pending = this.pendingQueries.get(key);
    if (pending) return pending;
    const run = (async (): Promise<SeriesCache> => {
      try {
        if (!store) throw new SluiceError('NO_SERVING_STORE', 'this server has no serving store');
        const rows = await querySeries(store, spec, this.options.queryTimeoutMs ?? 10_000);
        return { rows, error: undefined, at: now, rowsWritten: written };
      } catch (error) {
        const code = isSluiceError(error) ? error.code : 'INTERNAL';
        return { rows: undefined, error: { code, message: (error as Error).message }, at: now, rowsWritten: written };
      }
    })();
    this.pendingQueries.set(key, run);
    return run.then((result) => {
      this.pendingQueries.delete(key);
      this.seriesCache.set(key, result);
      this.pruneCache();
      return result;
    });
  }

  /** Forgets results no stream shows any more. */
  private pruneCache(): void {
    const live = new Set<string>();
    for (const s of this.subscriptions) for (const spec of s.series) live.add(seriesKey(spec));
    for (const key of this.seriesCache.keys()) if (!live.has(key)) this.seriesCache.delete(key);
  }
}

/** What one tick shows every stream, computed once (lazily: only if some stream subscribed to it). */
interface Frame {
  at: number;
  metrics(): PipelineJson[];
  histories(): { histories: PipelineHistoryJson[]; json: string };
}

function frame(pipelines: Pipeline[]): Frame {
  let metrics: PipelineJson[] | undefined;
  let histories: { histories: PipelineHistoryJson[]; json: string } | undefined;
  return {
    at: Date.now(),
    metrics: () => (metrics ??= pipelines.map((p) => p.metrics())),
    histories: () => {
      if (!histories) {
        const list = pipelines.map(historyOf);
        histories = { histories: list, json: JSON.stringify(list) };
      }
      return histories;
    },
  };
}

/** A pipeline's checkpoint and restart history, with its totals. */
export function historyOf(pipeline: Pipeline): PipelineHistoryJson {
  const metrics = pipeline.metrics();
  const { checkpoints, restarts } = pipeline.history.snapshot();
  return {
    name: pipeline.name,
    running: metrics.running,
    error: metrics.error,
    checkpoints,
    restarts,
    totals: {
      completed: metrics.checkpoints.completed,
      failed: metrics.checkpoints.failed,
      restarts: metrics.restarts,
      restoredFrom: metrics.checkpoints.restoredFrom,
    },
  };
}
