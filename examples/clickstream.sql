-- examples/clickstream.ts in SQL: ad click-through rate and user sessions.
--
--   sluice run examples/clickstream.sql --data-dir D --kafka-port P
--
-- reads JSON views {"viewId", "user", "ad", "ts"} from topic `views` and clicks of the same shape from topic `clicks`
-- (5 s of disorder allowed), and writes, as clickstream.ts does (test/sql-examples.test.ts finds their records equal):
--   - `ad-ctr` and the serving table `ad_ctr`: per ad, in 5-minute windows sliding by a minute of event time,
--     {ad, window_start, window_end, views, clicks, ctr, kind}, where a click counts only when it follows its view
--     within 10 minutes (an interval join on viewId);
--   - `user-sessions` and the serving table `user_sessions`: per user, sessions of activity (views and clicks)
--     separated by 30 s of silence, {user, session_start, session_end, events, kind}.
-- The serving tables have the `kind` column too (clickstream.ts's do not).
CREATE TABLE views (
  viewId VARCHAR NOT NULL,
  "user" VARCHAR NOT NULL,
  ad     VARCHAR NOT NULL,
  ts     BIGINT NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('topic' = 'views', 'partitions' = '3');

CREATE TABLE clicks (
  viewId VARCHAR NOT NULL,
  "user" VARCHAR NOT NULL,
  ad     VARCHAR NOT NULL,
  ts     BIGINT NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('topic' = 'clicks', 'partitions' = '3');

-- The views, and each click that comes within 10 minutes after its view (clickstream.ts: intervalJoin on viewId,
-- lower -10m, upper 0s). The join's row has the click's time (the later side's), so `c.ts` stays the event time and
-- the union's `ts` is one in both SELECTs.
CREATE VIEW ad_events AS
SELECT ad, ts, 1 AS is_view, 0 AS is_click FROM views
UNION ALL
SELECT c.ad, c.ts, 0, 1
FROM clicks c JOIN views v ON c.viewId = v.viewId AND c.ts BETWEEN v.ts AND v.ts + INTERVAL '10' MINUTE;

-- `/ 0` is NULL: the ratio of a window with clicks and no views.
CREATE MATERIALIZED VIEW ad_ctr WITH ('topic' = 'ad-ctr', 'topic.key' = 'ad', 'partitions' = '1') AS
SELECT ad, window_start, window_end, sum(is_view) AS views, sum(is_click) AS clicks,
       CAST(sum(is_click) AS DOUBLE) / sum(is_view) AS ctr, window_kind AS kind
FROM TABLE(HOP(TABLE ad_events, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '5' MINUTE))
GROUP BY window_start, window_end, ad;

CREATE VIEW interactions AS
SELECT "user", ts FROM views
UNION ALL
SELECT "user", ts FROM clicks;

CREATE MATERIALIZED VIEW user_sessions WITH ('topic' = 'user-sessions', 'topic.key' = 'user', 'partitions' = '1') AS
SELECT "user", window_start AS session_start, window_end AS session_end, count(*) AS events, window_kind AS kind
FROM TABLE(SESSION(TABLE interactions PARTITION BY "user", DESCRIPTOR(ts), INTERVAL '30' SECOND))
GROUP BY window_start, window_end, "user";
