// The HTTP API: ingest, SQL, tables, pipelines, topics, checkpoints, live streams, health, metrics and the dashboard.

export type * from './api.ts';
export { type IngestResult, ingestRecords, RateLimiter } from './ingest.ts';
export { createApp, type RunningServer, type ServerLog, type ServerOptions, startServer } from './server.ts';
