// The push side of the dashboard: Server-Sent Events streams, each subscribed to channels (pipeline metrics, topic
// samples, checkpoint history) and to live series over serving tables. Two timers serve every stream: once per
// interval, the pipelines' metrics and a topic sample are taken once for all; four times per interval, each
// distinct series is queried once however many streams show it, and only if its table got rows. A stream still
// writing an earlier push (a slow client) skips a tick rather than queue.
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { PipelineView } from '../engine/index.ts';
import { isSluiceError, SluiceError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import type { ServingStore } from '../serve/index.ts';
import type { PipelineHistoryJson, PipelineJson, SeriesSpec } from './api.ts';
import { parseSeriesSpec, querySeries, type SeriesRow, seriesDelta, seriesKey } from './series.ts';
import type { ThroughputSampler } from './throughput.ts';
import type { TopicSampler } from './topics.ts';

export const CHANNELS = ['pipelines', 'topics', 'history'] as const;
export type Channel = (typeof CHANNELS)[number];

/** Most series one stream may carry, and the longest spec of one. */
const MAX_STREAM_SERIES = 8;
const MAX_SERIES_SPEC = 2000;

export interface LiveSubscription {
  channels: Set<Channel>;
  series: SeriesSpec[];
}

/** Checks a stream's query: `channels` (comma-separated) and `series` (JSON specs); throws with a precise reason. */
export function parseSubscription(
  channelsParam: string | undefined,
  seriesParams: string[],
  store: ServingStore | undefined,
): LiveSubscription {
  const channels = new Set<Channel>();
  for (const name of (channelsParam ?? '').split(',')) {
    if (name === '') continue;
    if (!(CHANNELS as readonly string[]).includes(name)) {
      throw new SluiceError('INVALID_REQUEST', `unknown channel "${name.slice(0, 40)}": use ${CHANNELS.join(', ')}`);
    }
    channels.add(name as Channel);
  }
  if (seriesParams.length > MAX_STREAM_SERIES) {
    throw new SluiceError('INVALID_REQUEST', `at most ${MAX_STREAM_SERIES} series per stream`);
  }
  const series = seriesParams.map((text) => {
    if (text.length > MAX_SERIES_SPEC) {
      throw new SluiceError('INVALID_SERIES', `series: the spec is longer than ${MAX_SERIES_SPEC} characters`);
    }
    if (!store) throw new SluiceError('NO_SERVING_STORE', 'this server has no serving store');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new SluiceError('INVALID_SERIES', 'series: the spec is not valid JSON');
    }
    return parseSeriesSpec(parsed, store);
  });
  if (new Set(series.map((s) => s.id)).size !== series.length) {
    throw new SluiceError('INVALID_SERIES', 'series: two series have the same id');
  }
  if (channels.size === 0 && series.length === 0) {
    throw new SluiceError('INVALID_REQUEST', `subscribe to something: ?channels=${CHANNELS.join(',')} or &series=`);
  }
  return { channels, series };
}

/**
 * Answers with an SSE stream fed by the hub until the client leaves or the server closes. Subscribes before the
 * response starts, so that a refusal (too many streams) throws and becomes a plain 503; what the hub sends before
 * the stream is writable waits in `early`.
 */
export function streamLive(c: Context, hub: LiveHub, subscription: LiveSubscription, intervalMs: number): Response {
  let writable: ((event: string, data: unknown) => Promise<void>) | undefined;
  const early: [string, unknown][] = [];
  let end = () => {};
  const ended = new Promise<void>((resolve) => (end = resolve));
  const unsubscribe = hub.subscribe(subscription.channels, subscription.series, {
    send: async (event, data) => {
      if (writable) await writable(event, data);
      else early.push([event, data]);
    },
    close: () => end(),
  });
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => end());
    // A comment now and then keeps proxies and idle timeouts from closing a quiet stream.
    const ping = setInterval(() => void stream.write(': ping\n\n'), 15_000);
    ping.unref();
    const write = (event: string, data: unknown) => stream.writeSSE({ event, data: JSON.stringify(data) });
    try {
      await stream.writeSSE({ event: 'hello', data: JSON.stringify({ intervalMs }), retry: 2000 });
      // Events may arrive while these are written: drain until none is left, then write directly.
      for (let next = early.shift(); next; next = early.shift()) await write(next[0], next[1]);
      writable = write;
      await ended;
    } finally {
      clearInterval(ping);
      unsubscribe();
    }
  });
}

export interface LiveHubOptions {
  pipelines: () => PipelineView[];
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
  /** A push of that kind is being written to this stream. */
  busy: { channels: boolean; series: boolean };
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
  private timers: NodeJS.Timeout[] = [];
  private ticking = { channels: false, series: false };
  private closed = false;

  constructor(options: LiveHubOptions) {
    this.options = options;
  }

  get streams(): number {
    return this.subscriptions.size;
  }

  /**
   * Adds a stream: it gets a first event on every channel and series at once, then channels once per interval
   * and series as soon as they change (checked four times per interval). Returns the unsubscribe. Throws
   * TOO_MANY_STREAMS (503) past the limit.
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
      busy: { channels: false, series: false },
      sentSeries: new Map(),
      sentHistory: undefined,
      sentTopicsHistory: false,
      sentThroughputHistory: false,
      failing: new Set(),
    };
    this.subscriptions.add(subscription);
    if (channels.has('topics')) this.options.sampler.start();
    if (channels.has('pipelines')) this.options.throughput.start();
    if (this.timers.length === 0) {
      const interval = this.options.intervalMs ?? 1000;
      this.timers = [
        setInterval(() => void this.tick('channels'), interval),
        setInterval(() => void this.tick('series'), this.seriesIntervalMs),
      ];
      for (const timer of this.timers) timer.unref();
    }
    void this.pushChannels(subscription, frame(this.options.pipelines()));
    void this.pushSeries(subscription);
    return () => {
      this.subscriptions.delete(subscription);
      if (this.subscriptions.size === 0) this.stopTimers();
    };
  }

  close(): void {
    this.closed = true;
    this.stopTimers();
    for (const subscription of this.subscriptions) subscription.sink.close();
    this.subscriptions.clear();
  }

  /** Series are checked this often: a new row shows within this plus the query's time, well within a second. */
  private get seriesIntervalMs(): number {
    return Math.max(10, Math.round((this.options.intervalMs ?? 1000) / 4));
  }

  private stopTimers(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  private async tick(kind: 'channels' | 'series'): Promise<void> {
    if (this.ticking[kind]) return; // the previous tick is still running: skip rather than pile up
    this.ticking[kind] = true;
    try {
      const subscriptions = [...this.subscriptions];
      if (kind === 'channels') {
        const now = frame(this.options.pipelines());
        await Promise.all(subscriptions.map((s) => this.pushChannels(s, now)));
      } else {
        await Promise.all(subscriptions.map((s) => this.pushSeries(s)));
      }
    } finally {
      this.ticking[kind] = false;
    }
  }

  /** Sends a stream its channels; skipped while its previous push is still being written (a slow client). */
  private async pushChannels(subscription: Subscription, now: Frame): Promise<void> {
    const { channels, sink } = subscription;
    if (channels.size === 0 || subscription.busy.channels || !this.subscriptions.has(subscription)) return;
    subscription.busy.channels = true;
    try {
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
    } catch (error) {
      // The stream is gone (the client left): its unsubscribe runs when the response closes.
      this.logger.debug({ err: error }, 'live push failed');
    } finally {
      subscription.busy.channels = false;
    }
  }

  /** Sends a stream what changed in its series since it was last sent them. */
  private async pushSeries(subscription: Subscription): Promise<void> {
    const { series, sink } = subscription;
    if (series.length === 0 || subscription.busy.series || !this.subscriptions.has(subscription)) return;
    subscription.busy.series = true;
    try {
      for (const spec of series) {
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
      this.logger.debug({ err: error }, 'live push failed');
    } finally {
      subscription.busy.series = false;
    }
  }

  /**
   * A series' latest result: queried again only when its table has new rows (or the result is a few seconds old,
   * for changes that write no rows, such as retention dropping a partition), and at most once per series tick.
   */
  private seriesOf(spec: SeriesSpec): Promise<SeriesCache> {
    const key = seriesKey(spec);
    const store = this.options.store;
    const now = Date.now();
    const cached = this.seriesCache.get(key);
    const written = store?.rowsWritten.get(spec.table) ?? 0;
    const age = cached ? now - cached.at : Number.POSITIVE_INFINITY;
    // A failed query is tried again after an interval, whether or not rows came.
    const maxAge = cached?.error ? (this.options.intervalMs ?? 1000) : (this.options.maxSeriesAgeMs ?? 5000);
    if (cached && (age < this.seriesIntervalMs * 0.9 || (cached.rowsWritten === written && age < maxAge))) {
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

function frame(pipelines: PipelineView[]): Frame {
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
export function historyOf(pipeline: PipelineView): PipelineHistoryJson {
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
