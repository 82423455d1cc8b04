// Clickstream analytics: ad click-through rate and user sessions.
//
//   sluice run examples/clickstream.ts --data-dir D --kafka-port P
//
// reads JSON views {"viewId", "user", "ad", "ts"} from topic `views` and clicks {"viewId", "user", "ad", "ts"}
// from topic `clicks` (any Kafka client), and writes:
//   - `ad-ctr`: per ad, in 5-minute windows sliding by a minute of event time, {ad, window_start, window_end, views,
//     clicks, ctr}, where a click counts only when it follows its view within 10 minutes (an interval join on viewId);
//   - `user-sessions`: per user, sessions of activity (views and clicks) separated by 30 s of silence,
//     {user, session_start, session_end, events, kind} (a late event merges two sessions not yet written; without
//     allowed lateness a session's state goes when it is written, so a late event after it joins only a session
//     still open, and every row is an "insert": "update" and "delete" rows take allowed lateness).
// examples/clickstream.sql is this pipeline in SQL (test/sql-examples.test.ts: equal records).
// With a serving store (`sluice dev`, `sluice run`) both also land in tables `ad_ctr` and `user_sessions`.
import {
  agg,
  definePipeline,
  ensureTopic,
  json,
  logSink,
  logSource,
  Pipeline,
  serveTable,
  watermarks,
  windows,
} from 'sluice';

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

export const AD_CTR_COLUMNS = [
  { name: 'ad', type: 'VARCHAR' },
  { name: 'window_start', type: 'TIMESTAMP_MS' },
  { name: 'window_end', type: 'TIMESTAMP_MS' },
  { name: 'views', type: 'BIGINT' },
  { name: 'clicks', type: 'BIGINT' },
  { name: 'ctr', type: 'DOUBLE' },
] as const satisfies { name: string; type: string }[];

export const USER_SESSION_COLUMNS = [
  { name: 'user', type: 'VARCHAR' },
  { name: 'session_start', type: 'TIMESTAMP_MS' },
  { name: 'session_end', type: 'TIMESTAMP_MS' },
  { name: 'events', type: 'BIGINT' },
] as const satisfies { name: string; type: string }[];

export default definePipeline(async ({ log, bounded, serving }) => {
  for (const [topic, partitions] of [
    ['views', 3],
    ['clicks', 3],
    ['ad-ctr', 1],
    ['user-sessions', 1],
  ] as const) {
    await ensureTopic(log, topic, { partitions });
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

  const ctr = views
    .map((v) => ({ ...v, kind: 'view' }))
    .union(attributed)
    .keyBy((e) => e.ad)
    .window(windows.sliding('5m', '1m'))
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
      window_end: r.windowEnd,
      views: r.value.views,
      clicks: r.value.clicks,
      ctr: r.value.views === 0 ? null : r.value.clicks / r.value.views,
      kind: r.kind,
    }));
  ctr.sinkTo(logSink({ log, topic: 'ad-ctr', format: json(), key: (r) => r.ad }));

  const sessions = views
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
    }));
  sessions.sinkTo(logSink({ log, topic: 'user-sessions', format: json(), key: (s) => s.user }));
  if (serving) {
    ctr.sinkTo(
      serveTable({ store: serving, name: 'ad_ctr', columns: [...AD_CTR_COLUMNS], key: ['ad', 'window_start'] }),
    );
    sessions.sinkTo(
      serveTable({
        store: serving,
        name: 'user_sessions',
        columns: [...USER_SESSION_COLUMNS],
        key: ['user', 'session_start'],
      }),
    );
  }
  return p;
});
