// Prometheus metrics for /metrics: HTTP and serving metrics updated as requests run, and log and pipeline
// metrics read when scraped (a collect callback), so that nothing is sampled between scrapes. One registry per
// server (no global default registry: several servers can run in one process); anything may add metrics to it.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PipelineView } from '../engine/index.ts';
import type { ServerOptions } from './options.ts';

export function createMetrics(options: ServerOptions) {
  const registry = new Registry();
  /** Pipelines registered after the server started (registerPipelineMetrics), besides options.pipelines(). */
  const registered = new Set<PipelineView>();
  const requests = new Counter({
    name: 'sluice_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const requestSeconds = new Histogram({
    name: 'sluice_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const querySeconds = new Histogram({
    name: 'sluice_sql_query_duration_seconds',
    help: 'SQL query duration (serving store)',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  const ingested = new Counter({
    name: 'sluice_ingest_records_total',
    help: 'Records ingested over HTTP',
    labelNames: ['topic'] as const,
    registers: [registry],
  });
  const ingestRejected = new Counter({
    name: 'sluice_ingest_rejected_requests_total',
    help: 'Ingest requests refused, by error code',
    labelNames: ['topic', 'code'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'sluice_log_end_offset',
    help: 'Log end offset per topic partition',
    labelNames: ['topic', 'partition'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const topic of options.log.listTopics()) {
        for (const p of topic.partitions)
          this.set({ topic: topic.name, partition: String(p.partition) }, p.logEndOffset);
      }
    },
  });
  /** Every pipeline this server shows: the ones the options name and the ones registered since. */
  const instances = () => [...new Set([...(options.pipelines?.() ?? []), ...registered])];
  const pipelines = () => instances().map((p) => p.metrics());
  new Gauge({
    name: 'sluice_operator_records_in',
    help: 'Records into each operator since the pipeline started',
    labelNames: ['pipeline', 'operator'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const m of pipelines())
        for (const o of m.operators) this.set({ pipeline: m.name, operator: o.name }, o.recordsIn);
    },
  });
  new Gauge({
    name: 'sluice_operator_watermark_lag_seconds',
    help: 'Processing time minus the operator watermark',
    labelNames: ['pipeline', 'operator'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const m of pipelines()) {
        for (const o of m.operators) {
          if (o.watermarkLagMs !== null) this.set({ pipeline: m.name, operator: o.name }, o.watermarkLagMs / 1000);
        }
      }
    },
  });
  new Gauge({
    name: 'sluice_pipeline_checkpoints_completed',
    help: 'Completed checkpoints',
    labelNames: ['pipeline'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const m of pipelines()) this.set({ pipeline: m.name }, m.checkpoints.completed);
    },
  });
  new Gauge({
    name: 'sluice_serving_queries',
    help: 'SQL queries run (and failed) by the serving store',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      if (!options.store) return;
      this.set({ result: 'all' }, options.store.queries);
      this.set({ result: 'failed' }, options.store.queryErrors);
    },
  });
  new Gauge({
    name: 'sluice_serving_rows_written',
    help: 'Rows written into each serving table since the store opened',
    labelNames: ['table'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [table, n] of options.store?.rowsWritten ?? []) this.set({ table }, n);
    },
  });
  /** Adds a pipeline's metrics (operators, watermarks, checkpoints) to /metrics; returns the undo. */
  const registerPipelineMetrics = (pipeline: PipelineView): (() => void) => {
    registered.add(pipeline);
    return () => registered.delete(pipeline);
  };
  return {
    registry,
    instances,
    pipelines,
    requests,
    requestSeconds,
    querySeconds,
    ingested,
    ingestRejected,
    registerPipelineMetrics,
  };
}
