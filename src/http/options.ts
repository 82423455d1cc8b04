// The HTTP server's options and handle: what it serves (a log, a serving store, pipeline views) and how (address,
// token, limits), apart from the server itself so that its parts (ingest, topics, metrics) can name them.
import type { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { PipelineLog, PipelineView } from '../engine/index.ts';
import type { GroupOffsetStore, Log, RecordReadResult } from '../log/index.ts';
import type { ServingStore } from '../serve/index.ts';

/**
 * What the HTTP API uses of a log: the embedded one, or a Kafka cluster seen through its client (`sluice run
 * --bootstrap`), which has no consumer-group offsets to show.
 */
export type ServerLog = Pick<Log, 'listTopics' | 'hasTopic' | 'createTopic' | 'describeTopic' | 'append'> & {
  readonly groups?: Pick<GroupOffsetStore, 'listGroups' | 'fetch'>;
  /** For the record browser (the embedded log reads at once, a cluster's client asynchronously). */
  readRecords?(
    topic: string,
    partition: number,
    offset: number,
    options?: { maxBytes?: number },
  ): RecordReadResult | Promise<RecordReadResult>;
  offsetForTimestamp?(topic: string, partition: number, timestamp: number): number | null | Promise<number | null>;
};

export interface ServerOptions {
  log: ServerLog;
  store?: ServingStore;
  /** The pipelines running in this process (for /v1/pipelines and /metrics). */
  pipelines?: () => PipelineView[];
  host?: string;
  port?: number;
  /** Bearer token every request must carry; required for a non-loopback host. */
  authToken?: string;
  /** Largest ingest body (default 16 MiB); other bodies are limited to 1 MiB. */
  maxIngestBytes?: number;
  /** Records per second per topic (default 200,000), with a burst of one second's worth. */
  ingestRatePerSec?: number;
  queryTimeoutMs?: number;
  maxRows?: number;
  /** More routes, by path prefix (e.g. `sluice up`'s control API at /v1/deployment); their errors map by code. */
  mount?: Record<string, Hono>;
  /** The built dashboard (default: web/dist of this package). */
  dashboardDir?: string;
  /** Period of live pushes and topic samples (default 1,000 ms). */
  liveIntervalMs?: number;
  /** Live streams open at once (default 64). */
  maxStreams?: number;
  /**
   * Start streaming SQL queries over this log into `store` (POST /v1/streaming-queries; needs `store`): where the
   * process owns a log and runs pipelines (`sluice dev`, `sluice run`). They are kept in
   * `<dataDir>/streaming-queries/` (definitions and checkpoints), and startServer resumes those kept there before it
   * resolves; close() stops them with a last checkpoint and keeps them.
   */
  streaming?: { log: PipelineLog; dataDir: string; maxQueries?: number; checkpointIntervalMs?: number };
}

export interface RunningServer {
  url: string;
  port: number;
  /** The server's Prometheus registry: register more metrics (of the log, of other parts) into it. */
  registry: Registry;
  /** Adds a pipeline's metrics to /metrics and /v1/pipelines (besides options.pipelines); returns the undo. */
  registerPipelineMetrics(pipeline: PipelineView): () => void;
  close(): Promise<void>;
}
