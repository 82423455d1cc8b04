-- examples/windowed-counts.ts in SQL: per-key counts and totals in 60-second event-time windows.
--
--   sluice run examples/windowed-counts.sql --data-dir D --kafka-port P
--
-- reads JSON {"key": string, "ts": epoch-ms, "value": number} from topic `events` (5 s of disorder allowed), emits
-- {window_start, window_end, key, cnt, total, kind} to topic `window-totals` and to the serving table
-- `window_totals` (keyed by window_start and key) once the watermark reaches the window's end; an event up to 30 s
-- later than that updates its window (kind "update": the table's row is replaced), and events later still go to
-- topic `events-late`. Its topics' records equal the TypeScript pipeline's (test/sql-examples.test.ts); its
-- serving table has the `kind` column too.
CREATE TABLE events (
  key   VARCHAR NOT NULL,
  ts    BIGINT,
  value DOUBLE NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'topic' = 'events',
  'format' = 'json',
  'partitions' = '3',
  'key' = 'key',                   -- keys the records written to `late.topic`
  'allowed.lateness' = '30 s',     -- .allowedLateness('30s')
  'late.topic' = 'events-late'     -- .lateData().sinkTo(…)
);

CREATE MATERIALIZED VIEW window_totals WITH ('topic' = 'window-totals', 'topic.key' = 'key') AS
SELECT window_start, window_end, key, count(*) AS cnt, sum(value) AS total, window_kind AS kind
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '60' SECOND))
GROUP BY window_start, window_end, key;
