-- examples/sensor-averages.ts in SQL: 5-minute rolling averages per sensor, with late data handled.
--
--   sluice run examples/sensor-averages.sql --data-dir D --kafka-port P
--
-- reads JSON readings {"sensor": string, "ts": epoch-ms, "temperature": number} from topic `readings` (10 s of
-- disorder allowed), and for every reading emits the sensor's rolling aggregate over the 5 minutes of event time
-- before it — {sensor, ts, avg_5m, min_5m, max_5m, readings_5m} — to topic `sensor-averages` and to the serving
-- table `sensor_averages` (rows kept a day). A reading more than a minute behind the watermark goes to topic
-- `readings-late` instead. Its topics' records equal the TypeScript pipeline's (test/sql-examples.test.ts).
CREATE TABLE readings (
  sensor      VARCHAR NOT NULL,
  ts          TIMESTAMP(3),
  temperature DOUBLE NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '10' SECOND
) WITH (
  'topic' = 'readings',
  'partitions' = '3',
  'key' = 'sensor',
  'allowed.lateness' = '1 minute',  -- a reading this far behind the watermark still counts
  'late.topic' = 'readings-late'    -- later ones go here
);

CREATE MATERIALIZED VIEW sensor_averages
WITH ('topic' = 'sensor-averages', 'topic.key' = 'sensor', 'retention' = '1 day', 'retention.column' = 'ts') AS
SELECT
  sensor,
  max(ts) OVER last5m AS ts,
  round(avg(temperature) OVER last5m, 2) AS avg_5m,
  min(temperature) OVER last5m AS min_5m,
  max(temperature) OVER last5m AS max_5m,
  count(*) OVER last5m AS readings_5m
FROM readings
WINDOW last5m AS (PARTITION BY sensor ORDER BY ts RANGE BETWEEN INTERVAL '5' MINUTE PRECEDING AND CURRENT ROW);
