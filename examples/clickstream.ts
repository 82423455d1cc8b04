// Clickstream analytics: ad click-through rate and user sessions.
//
//   sluice run examples/clickstream.ts --data-dir D --kafka-port P
//
// reads JSON views {"viewId", "user", "ad", "ts"} from topic `views` and clicks {"viewId", "user", "ad", "ts"}
// from topic `clicks` (any Kafka client), and writes:
//   - `ad-ctr`: per ad and minute of event time, {ad, window_start, views, clicks, ctr}, where a click counts
//     only when it follows its view within 10 minutes (an interval join on viewId);
//   - `user-sessions`: per user, sessions of activity (views and clicks) separated by 30 s of silence,
//     {user, session_start, session_end, events, kind} (a late event that bridges two sessions merges them:
//     the later one is retracted with kind "delete").
import { agg, definePipeline, json, logSink, logSource, Pipeline, watermarks, windows } from '../src/engine/index.ts';

export interface Interaction {
  viewId: string;
  user: string;
  ad: string;
  ts: number;
}

function asInteraction(value: unknown): Interaction {
  const e = value as Partial<Interaction> | null;
  for (const field of ['viewId', 'user', 'ad'] as const) {
    if (typeof e?.[field] !== 'string') throw new TypeError(`field "${field}" must be a string`);
  }
  if (typeof e?.ts !== 'number' || !Number.isFinite(e.ts)) throw new TypeError('field "ts" must be epoch milliseconds');
  return e as Interaction;
}

export default definePipeline(async ({ log, bounded }) => {
  for (const [topic, partitions] of [
    ['views', 3],
    ['clicks', 3],
    ['ad-ctr', 1],
    ['user-sessions', 1],
  ] as const) {
    if (!log.hasTopic(topic)) await log.createTopic(topic, { partitions });
  }
  const p = new Pipeline({ name: 'clickstream', bounded });
  const strategy = watermarks.boundedOutOfOrderness('5s');
  const views = p
    .source(logSource({ log, topic: 'views', format: json(asInteraction) }))
    .withTimestamps((v) => v.ts, strategy);
  const clicks = p
    .source(logSource({ log, topic: 'clicks', format: json(asInteraction) }))
    .withTimestamps((c) => c.ts, strategy);

  // A click is attributed to its view when it comes within 10 minutes after it.
  const attributed = clicks
    .keyBy((c) => c.viewId)
    .intervalJoin(
      views.keyBy((v) => v.viewId),
      { lower: '-10m', upper: '0s' },
      (click) => ({ ...click, kind: 'click' }),
    )
    .uid('attribute-clicks');

  views
    .map((v) => ({ ...v, kind: 'view' }))
    .union(attributed)
    .keyBy((e) => e.ad)
    .window(windows.tumbling('1m'))
    .aggregate(
      agg.multi({
        views: agg.sum((e: { kind: string }) => (e.kind === 'view' ? 1 : 0)),
        clicks: agg.sum((e: { kind: string }) => (e.kind === 'click' ? 1 : 0)),
      }),
    )
    .uid('ctr-per-minute')
    .map((r) => ({
      ad: r.key,
      window_start: r.windowStart,
      views: r.value.views,
      clicks: r.value.clicks,
      ctr: r.value.views === 0 ? null : r.value.clicks / r.value.views,
    }))
    .sinkTo(logSink({ log, topic: 'ad-ctr', format: json(), key: (r) => r.ad }));

  views
    .union(clicks)
    .keyBy((e) => e.user)
    .window(windows.session('30s'))
    .aggregate(agg.count())
    .uid('user-sessions')
    .map((r) => ({
      user: r.key,
      session_start: r.windowStart,
      session_end: r.windowEnd,
      events: r.value,
      kind: r.kind,
    }))
    .sinkTo(logSink({ log, topic: 'user-sessions', format: json(), key: (s) => s.user }));
  return p;
});
