// The JSON shapes of the HTTP API that the dashboard reads. No imports and no code, so that web/ can type-check
// against the same declarations the server is checked against (the server assigns engine and log values to them).

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** One operator, as in Pipeline.metrics(); infinite watermarks become null in JSON. */
export interface OperatorJson {
  name: string;
  recordsIn: number;
  recordsOut: number;
  /** Event time the operator has reached (epoch ms); null before the first watermark. */
  watermark: number | null;
  idle: boolean;
  lateRecords: number;
  deadLetters: number;
  /** Entries of keyed state (windows × keys, join buffers...). */
  stateSize: number;
  ratePerSec: number;
  /** Fraction of the time its output waited for slow sinks downstream (0..1). */
  backpressure: number;
  /**
   * Wall-clock time minus the watermark (ms); null before the first watermark. Negative: the watermark is ahead of
   * the wall clock (event time from the future, e.g. demo time).
   */
  watermarkLagMs: number | null;
}

export interface CheckpointInfoJson {
  id: number;
  kind: 'checkpoint' | 'savepoint';
  file: string;
  bytes: number;
  pauseMs: number;
  durationMs: number;
}

/** A partition of a pipeline's source, as in Pipeline.metrics().sources. */
export interface SourcePartitionJson {
  partition: number;
  /** The next offset the source reads (sources that read a topic). */
  offset: number | null;
  /** The partition's own watermark: largest timestamp seen there − the bound (epoch ms); null before a record. */
  watermark: number | null;
  /** Left out of the watermark: caught up with nothing new for the idle timeout. */
  idle: boolean;
  /** When it went idle (epoch ms); null while active. */
  idleSince: number | null;
}

export interface SourceJson {
  /** The source's operator name, as in `operators`. */
  operator: string;
  topic: string | null;
  partitions: SourcePartitionJson[];
}

export interface PipelineJson {
  name: string;
  running: boolean;
  uptimeMs: number;
  operators: OperatorJson[];
  /** Each source's partitions: position, watermark and idleness. */
  sources: SourceJson[];
  deadLetters: number;
  checkpoints: { completed: number; failed: number; restoredFrom: string | null; last: CheckpointInfoJson | null };
  error: string | null;
  restarts: number;
}

export interface TopologyJson {
  name: string;
  nodes: { id: string; kind: 'source' | 'operator' | 'sink' | 'dead-letters'; description: string; uid: string }[];
  edges: { from: string; to: string; input: number; side: string | null }[];
}

export interface CheckpointRecordJson {
  id: number;
  kind: 'checkpoint' | 'savepoint';
  startedAt: number;
  status: 'completed' | 'failed';
  durationMs: number;
  pauseMs: number;
  bytes: number | null;
  error?: string;
}

export interface RestartRecordJson {
  at: number;
  code: string | null;
  message: string;
  failures: number;
  restartInMs: number | null;
}

export interface PipelineHistoryJson {
  name: string;
  running: boolean;
  error: string | null;
  checkpoints: CheckpointRecordJson[];
  restarts: RestartRecordJson[];
  /** Totals since the pipeline started (the lists keep only the latest entries). */
  totals: { completed: number; failed: number; restarts: number; restoredFrom: string | null };
}

/** GET /v1/pipelines/{name} */
export interface PipelineDetailJson {
  metrics: PipelineJson;
  topology: TopologyJson;
  history: PipelineHistoryJson;
}

/** GET /v1/pipelines */
export interface PipelinesJson {
  pipelines: PipelineJson[];
}

/** GET /v1/checkpoints */
export interface CheckpointsJson {
  pipelines: PipelineHistoryJson[];
}

export interface PartitionJson {
  partition: number;
  startOffset: number;
  endOffset: number;
  bytes: number;
  /** Records and bytes appended per second since the previous sample (null for the first sample). */
  recordsPerSec: number | null;
  bytesPerSec: number | null;
}

export interface TopicJson {
  name: string;
  partitions: PartitionJson[];
  /** Records held (end − start, summed) and bytes on disk. */
  records: number;
  bytes: number;
  recordsPerSec: number | null;
  retention: { ms: number; bytes: number };
}

/** A reader of a topic: a consumer group (committed offsets) or a running pipeline's source (its read position). */
export interface ConsumerJson {
  /** `group:<group>:<topic>` or `pipeline:<pipeline>:<operator>`. */
  id: string;
  kind: 'group' | 'pipeline';
  /** The group id, or the pipeline's name. */
  name: string;
  topic: string;
  partitions: { partition: number; offset: number | null; endOffset: number; lag: number | null }[];
  lag: number;
}

export interface TopicsHistoryPoint {
  at: number;
  /** Records appended per second, per topic. */
  produce: Record<string, number>;
  /** Lag per partition, per consumer id. */
  lag: Record<string, (number | null)[]>;
}

/** GET /v1/topics, and the stream's `topics` event (with `history` in the first one). */
export interface TopicsJson {
  at: number;
  topics: TopicJson[];
  consumers: ConsumerJson[];
  history?: TopicsHistoryPoint[];
}

/**
 * Bytes of a record (key, value, a header's value) as the browser shows them: the text when they are UTF-8 without
 * control characters, else hex. At most `RECORD_BROWSE_LIMITS.shownBytes` of them; `size` is the whole length.
 */
export interface RecordBytesJson {
  encoding: 'utf8' | 'hex';
  data: string;
  size: number;
  truncated: boolean;
}

export interface TopicRecordJson {
  offset: number;
  timestamp: number;
  key: RecordBytesJson | null;
  value: RecordBytesJson | null;
  headers: { key: string; value: RecordBytesJson | null }[];
}

/** GET /v1/topics/{topic}/partitions/{partition}/records */
export interface TopicRecordsJson {
  topic: string;
  partition: number;
  /** The partition's bounds when it was read: the first offset held, and the offset the next record will get. */
  startOffset: number;
  endOffset: number;
  /** Where the read began: the offset asked for (or the first at/after the timestamp), within the bounds. */
  from: number;
  /** Records in offset order: the latest `limit` by default, else the first `limit` from `from`. */
  records: TopicRecordJson[];
  /** Read on from here for the records after these (the end offset when there are none). */
  nextOffset: number;
  /**
   * With `key`: the offsets scanned for it, [from, to), and `bounded` when the scan stopped at its bound
   * (`maxScan` records) before finding `limit` records: more may lie beyond it.
   */
  scan: { from: number; to: number; records: number; bounded: boolean } | null;
  /** Fewer records than asked, because the answer reached its size bound. */
  truncated: boolean;
}

/** The record browser's bounds: records a request, records a key search reads, bytes shown of a value. */
export const RECORD_BROWSE_LIMITS = {
  defaultLimit: 50,
  maxLimit: 500,
  maxScan: 10_000,
  maxKeyBytes: 1024,
  shownBytes: 16 * 1024,
  responseBytes: 4 * 1024 * 1024,
} as const;

export interface TableJson {
  name: string;
  kind: 'append' | 'keyed' | 'rollup';
  key: string[];
  columns: { name: string; type: string }[];
  rows: number;
}

/** GET /v1/tables */
export interface TablesJson {
  tables: TableJson[];
}

/** POST /v1/sql */
export interface SqlResultJson {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  truncated: boolean;
  elapsedMs: number;
}

export const SERIES_MEASURES = ['count', 'sum', 'avg', 'min', 'max'] as const;
export type SeriesMeasure = (typeof SERIES_MEASURES)[number];

/** A live time series over a serving table: `measure(column)` per time bucket (and per group). */
export interface SeriesSpec {
  /** The client's name for it (letters, digits, - and _), echoed in each `series` event. */
  id: string;
  table: string;
  /** A TIMESTAMP_MS column, or a BIGINT/DOUBLE one holding epoch milliseconds. */
  time: string;
  measure: SeriesMeasure;
  /** The measured column (numeric); not needed for count. */
  column?: string;
  /** One line per value of this column (the 10 most frequent). */
  groupBy?: string;
  /** Buckets of this many ms (0 or absent: each distinct time value is a point). */
  bucketMs?: number;
  /** The last this many time points (default 120, at most 2,000). */
  points?: number;
}

/**
 * The stream's `series` event: rows `[time ms, group, value]` ordered by time then group. The first event for a
 * series (reset) holds all of it; later ones replace every point at or after `from` and drop points before `start`.
 */
export interface SeriesEventJson {
  id: string;
  reset: boolean;
  start: number | null;
  from: number | null;
  rows: [number, string, number | null][];
}

/** The stream's `series-error` event: the series' query failed (the stream goes on; it is retried). */
export interface SeriesErrorJson {
  id: string;
  error: { code: string; message: string };
}

/** Records per second per operator, per pipeline, at one moment. */
export interface ThroughputPoint {
  at: number;
  rates: Record<string, Record<string, number>>;
}

/** The stream's `pipelines` event (every interval; the first one also has the last minutes of throughput). */
export interface PipelinesEventJson {
  at: number;
  pipelines: PipelineJson[];
  history?: ThroughputPoint[];
}

/** GET /v1: the route prefixes mounted beside the API every server has (`/v1/deployment` under `sluice up`). */
export interface ApiIndexJson {
  mounts: string[];
  /** Whether this server starts streaming SQL queries (POST /v1/streaming-queries): `sluice dev`, `sluice run`. */
  streamingQueries?: boolean;
}

/**
 * A streaming SQL query started over HTTP (POST /v1/streaming-queries), running as a pipeline of that name. It is
 * kept in the data directory and resumed from its latest checkpoint when the server starts again, until DELETE.
 */
export interface StreamingQueryJson {
  name: string;
  /** The script as it was posted ('' when its kept definition cannot be read). */
  sql: string;
  /**
   * The supervisor's state: starting, running, restarting, failed (for good: see `error`), stopped (DELETE's
   * answer). A query that could not be resumed after a restart is `failed` too.
   */
  state: string;
  /** When it was first started (epoch ms), kept across restarts. */
  startedAt: number;
  /** Restarts after failures in this process (from its latest checkpoint). */
  restarts: number;
  /** The last failure's message. */
  error: string | null;
  /** The last failure's stable code (INVALID_SQL, CORRUPT_CHECKPOINT, …), when it had one. */
  errorCode: string | null;
  /** How many times a server starting on this data directory has resumed it. */
  resumes: number;
  /** When this server resumed it (epoch ms); null when it was started in this server. */
  resumedAt: number | null;
  /** The checkpoint file it resumed from, if any. */
  restoredFrom: string | null;
  /** The serving tables its materialized views fill. */
  tables: string[];
  /** The topics it writes. */
  topics: string[];
}

export interface StreamingQueriesJson {
  queries: StreamingQueryJson[];
}

/** A job run, as the deployment records it. */
export interface JobRunJson {
  job: string;
  id: string;
  trigger: 'schedule' | 'manual' | 'backfill';
  range: { from: number; to: number };
  startedAt: number;
  endedAt: number;
  status: 'succeeded' | 'failed';
  attempts: number;
  error?: string;
  result?: unknown;
}

/** A pipeline of a `sluice up` deployment: its state (and what it means now), where it runs, and its progress. */
export interface DeploymentPipelineJson {
  name: string;
  version: number;
  /** starting, running, restarting, recovering, stopping, stopped, finished, failed, waiting or `blocked: …`. */
  state: string;
  /** What the state means now, in a sentence. */
  detail: string;
  host?: string;
  pid?: number;
  restarts: number;
  lastError?: string;
  dependsOn: string[];
  recordsIn: number;
  recordsOut: number;
  lateRecords: number;
  checkpoints: number;
  checkpointFailures: number;
  lastCheckpointAt?: number;
  /** Signed: negative when the watermark is ahead of the wall clock. */
  watermarkLagMs: number | null;
}

export interface DeploymentTableJson {
  name: string;
  version: string;
  /** Whether readers see this version now. */
  serving: boolean;
  topic: string;
  state: 'waiting' | 'starting' | 'catching-up' | 'live' | 'restarting' | 'failed' | 'stopped';
  detail: string;
  lag: number;
  rows: number | null;
  /** When records were last loaded (epoch ms): the table's freshness. */
  loadedAt: number | null;
}

export interface DeploymentJobJson {
  name: string;
  schedule: string;
  nextRun: number | null;
  running: boolean;
  lastRun?: JobRunJson;
  /** The latest runs, newest first. */
  history: JobRunJson[];
}

export interface ReplayJson {
  id: string;
  pipeline: string;
  version: number;
  state: 'running' | 'switched' | 'failed' | 'cancelled';
  processed: number;
  total: number;
  ratePerSec: number;
  etaSec: number | null;
  startedAt: number;
  switchedAt?: number;
  error?: string;
}

/** GET /v1/deployment (under `sluice up`), and `sluice status --json`. */
export interface DeploymentJson {
  name: string;
  pid: number;
  startedAt: number;
  updatedAt: number;
  url?: string;
  state: 'starting' | 'running' | 'stopping' | 'stopped';
  pipelines: DeploymentPipelineJson[];
  tables: DeploymentTableJson[];
  jobs: DeploymentJobJson[];
  replays: ReplayJson[];
  services: { name: string; state: string; restarts: number; lastError?: string }[];
}

/** POST /v1/deployment/jobs/{name}/runs, and GET …/runs/{id}. */
export interface JobRunRequestJson {
  id: string;
  job: string;
  state: 'running' | 'succeeded' | 'failed';
  records: JobRunJson[];
  error?: string;
}
