-- examples/clickstream.ts in SQL, as far as the dialect goes today: the click attribution (an interval join) and the
-- views per ad in sliding windows, from which the TypeScript pipeline's `ad-ctr` rows follow.
--
--   sluice run examples/clickstream.sql --data-dir D --kafka-port P
--
-- reads JSON views {"viewId", "user", "ad", "ts"} from topic `views` and clicks of the same shape from topic `clicks`
-- (5 s of disorder allowed), and writes:
--   - `attributed-clicks`: each click that follows its view within 10 minutes (joined on viewId), as the click;
--   - `ad-views` and the serving table `ad_views`: per ad, the views in 5-minute windows sliding by a minute,
--     {ad, window_start, window_end, views}.
-- Not expressible yet (docs/sql.md, "The demo's pipelines in SQL"): the `ad-ctr` rows themselves — they count views
-- and attributed clicks in the same windows, which needs UNION ALL of the views with the join's rows (or windows over
-- an interval join's rows, and a FULL OUTER JOIN of the two window results) — and `user-sessions`, sessions over the
-- views and the clicks together (UNION ALL, or a table over two topics). test/sql-examples.test.ts rebuilds
-- clickstream.ts's `ad-ctr` records from these two outputs and finds them equal.
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

CREATE TABLE attributed_clicks (viewId VARCHAR, "user" VARCHAR, ad VARCHAR, ts BIGINT)
  WITH ('topic' = 'attributed-clicks', 'key' = 'ad');

-- A click is attributed to its view when it comes within 10 minutes after it (clickstream.ts: intervalJoin on viewId,
-- lower -10m, upper 0s).
INSERT INTO attributed_clicks
SELECT c.viewId, c."user", c.ad, c.ts
FROM clicks c JOIN views v ON c.viewId = v.viewId AND c.ts BETWEEN v.ts AND v.ts + INTERVAL '10' MINUTE;

CREATE MATERIALIZED VIEW ad_views WITH ('topic' = 'ad-views', 'topic.key' = 'ad') AS
SELECT ad, window_start, window_end, count(*) AS views
FROM TABLE(HOP(TABLE views, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '5' MINUTE))
GROUP BY window_start, window_end, ad;
