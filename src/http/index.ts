// The HTTP API: ingest, SQL, tables, pipelines, health and metrics.

export { type IngestResult, ingestRecords, RateLimiter } from './ingest.ts';
export { createApp, type RunningServer, type ServerOptions, startServer } from './server.ts';
