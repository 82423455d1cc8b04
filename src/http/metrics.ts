// Prometheus metrics for /metrics (named as Prometheus asks: units in the name, `_total` counters, histograms for
// durations; docs/serve.md lists them). HTTP and serving metrics are updated as requests run; log, consumer and
// pipeline metrics are read from the log and the pipeline views when scraped, so that nothing is sampled between
// scrapes and pipelines in worker processes (views built from their reports) show like local ones. One registry
// per server (no global default registry: several servers can run in one process); anything may add metrics to it.
import { Counter, collectDefaultMetrics, Gauge, Histogram, type LabelValues, Registry } from 'prom-client';
import type { PipelineHistorySnapshot, PipelineMetrics, PipelineView } from '../engine/index.ts';
import type { TopicInfo } from '../log/index.ts';
import type { ServerOptions } from './options.ts';
import { partitionLag } from './topics.ts';

/** What one scrape reads: every view's metrics and history, and the log's topics, each read once. */
interface Scrape {
  /** Wall-clock time of the scrape (epoch ms): watermark lag per source partition is measured against it. */
  at: number;
  pipelines: { metrics: PipelineMetrics; history: PipelineHistorySnapshot }[];
  topics: TopicInfo[];
  /** Whether this scrape's new checkpoint records were observed into the histograms already. */
  observed: boolean;
}

type Labels<T extends string> = LabelValues<T>;

export function createMetrics(options: ServerOptions) {
  const registry = new Registry();
  // The process's CPU, memory, event-loop lag, GC and handles, under their usual names (process_cpu_seconds_total,
  // process_resident_memory_bytes, nodejs_eventloop_lag_seconds...) so that stock dashboards and alerts apply.
  collectDefaultMetrics({ register: registry });
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

  /** Every pipeline this server shows: the ones the options name and the ones registered since. */
  const instances = () => [...new Set([...(options.pipelines?.() ?? []), ...registered])];
  const pipelines = () => instances().map((p) => p.metrics());

  // prom-client asks every metric for its values in one synchronous loop (each collect() runs before the first
  // await), so a snapshot dropped at the next microtask, once that loop is done, is shared by all of one scrape's
  // collect callbacks and by no other scrape: each view's metrics() and history are read once per scrape, and all
  // series of a scrape agree with each other.
  let current: Scrape | undefined;
  const scrape = (): Scrape => {
    if (current) return current;
    const seen = new Set<string>();
    const views: Scrape['pipelines'] = [];
    for (const view of instances()) {
      const metrics = view.metrics();
      // Two views of one name would make duplicate series (and counters would add up): the first one wins.
      if (seen.has(metrics.name)) continue;
      seen.add(metrics.name);
      views.push({ metrics, history: view.history.snapshot() });
    }
    let topics: TopicInfo[] = [];
    try {
      topics = options.log.listTopics();
    } catch {
      // a closed log: nothing to show (the server is shutting down)
    }
    current = { at: Date.now(), pipelines: views, topics, observed: false };
    queueMicrotask(() => {
      current = undefined;
    });
    return current;
  };

  /** A counter whose values are read from the views at each scrape (they count since the pipeline started). */
  const counter = <T extends string>(
    name: string,
    help: string,
    labelNames: readonly T[],
    fill: (s: Scrape, put: (labels: Labels<T>, value: number) => void) => void,
  ) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill(scrape(), (labels, value) => this.inc(labels, value));
      },
    });
  /** A gauge whose values are read at each scrape; series of pipelines and topics gone since disappear. */
  const gauge = <T extends string>(
    name: string,
    help: string,
    labelNames: readonly T[],
    fill: (s: Scrape, put: (labels: Labels<T>, value: number) => void) => void,
  ) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill(scrape(), (labels, value) => this.set(labels, value));
      },
    });

  // The log: offsets and bytes per topic partition.
  const eachPartition = (
    s: Scrape,
    put: (labels: Labels<'topic' | 'partition'>, value: number) => void,
    value: (p: TopicInfo['partitions'][number]) => number,
  ) => {
    for (const topic of s.topics) {
      for (const p of topic.partitions) put({ topic: topic.name, partition: String(p.partition) }, value(p));
    }
  };
  gauge(
    'sluice_log_end_offset',
    'Log end offset (the next offset appended) per topic partition',
    ['topic', 'partition'],
    (s, put) => eachPartition(s, put, (p) => p.logEndOffset),
  );
  gauge(
    'sluice_log_start_offset',
    'First offset still stored (retention moves it forward) per topic partition',
    ['topic', 'partition'],
    (s, put) => eachPartition(s, put, (p) => p.logStartOffset),
  );
  gauge('sluice_log_size_bytes', 'Bytes on disk per topic partition', ['topic', 'partition'], (s, put) =>
    eachPartition(s, put, (p) => p.sizeBytes),
  );

  // Consumer lag: consumer groups by their committed offsets, pipelines by their sources' read positions.
  gauge(
    'sluice_consumer_lag_records',
    'Records a consumer group has still to read past its committed offset, per topic partition',
    ['group', 'topic', 'partition'],
    (s, put) => {
      const groups = options.log.groups;
      if (!groups) return; // a Kafka cluster seen through its client: its groups are the cluster's to show
      const byName = new Map(s.topics.map((t) => [t.name, t]));
      try {
        for (const group of groups.listGroups()) {
          for (const [topic, committed] of groups.fetch(group)) {
            for (const p of byName.get(topic)?.partitions ?? []) {
              // A partition the group never committed has no lag to show (not "everything").
              const lag = partitionLag(committed.get(p.partition)?.offset ?? null, p);
              if (lag !== null) put({ group, topic, partition: String(p.partition) }, lag);
            }
          }
        }
      } catch {
        // a closed log: nothing to show (the server is shutting down)
      }
    },
  );
  gauge(
    'sluice_pipeline_source_lag_records',
    "Records a pipeline's source has still to read in each topic partition it reads",
    ['pipeline', 'operator', 'topic', 'partition'],
    (s, put) => {
      const byName = new Map(s.topics.map((t) => [t.name, t]));
      for (const { metrics: m } of s.pipelines) {
        for (const source of m.sources) {
          if (source.topic === null) continue;
          const partitions = byName.get(source.topic)?.partitions ?? [];
          for (const sp of source.partitions) {
            const p = partitions.find((q) => q.partition === sp.partition);
            const lag = p ? partitionLag(sp.offset, p) : null;
            if (lag !== null) {
              put(
                { pipeline: m.name, operator: source.operator, topic: source.topic, partition: String(sp.partition) },
                lag,
              );
            }
          }
        }
      }
    },
  );

  // Operators.
  const eachOperator = (
    s: Scrape,
    put: (labels: Labels<'pipeline' | 'operator'>, value: number) => void,
    value: (o: PipelineMetrics['operators'][number]) => number | null,
  ) => {
    for (const { metrics: m } of s.pipelines) {
      for (const o of m.operators) {
        const v = value(o);
        if (v !== null) put({ pipeline: m.name, operator: o.name }, v);
      }
    }
  };
  const operatorLabels = ['pipeline', 'operator'] as const;
  counter(
    'sluice_operator_records_in_total',
    'Records into each operator since the pipeline started',
    operatorLabels,
    (s, put) => eachOperator(s, put, (o) => o.recordsIn),
  );
  counter(
    'sluice_operator_records_out_total',
    'Records out of each operator since the pipeline started',
    operatorLabels,
    (s, put) => eachOperator(s, put, (o) => o.recordsOut),
  );
  counter(
    'sluice_operator_late_records_total',
    'Records behind the watermark past the allowed lateness (sent to the late output or dropped)',
    operatorLabels,
    (s, put) => eachOperator(s, put, (o) => o.lateRecords),
  );
  gauge(
    'sluice_operator_watermark_lag_seconds',
    "Wall-clock time minus the operator's watermark; negative when the watermark is ahead of the wall clock",
    operatorLabels,
    (s, put) => eachOperator(s, put, (o) => (o.watermarkLagMs === null ? null : o.watermarkLagMs / 1000)),
  );
  gauge(
    'sluice_operator_backpressure_ratio',
    "Fraction of the run so far the operator's output waited for slow sinks downstream (0..1)",
    operatorLabels,
    (s, put) => eachOperator(s, put, (o) => o.backpressure),
  );
  // The ratio above averages over the whole run, which hides a sink that only just slowed down; as a counter of
  // seconds waited, rate() gives the share of any recent window. Each ratio is (the busiest sink reachable
  // downstream's busy time) / uptime, so ratio × uptime is that busy time: it only grows while the pipeline runs.
  const eachOperatorOfRun = (
    s: Scrape,
    put: (labels: Labels<'pipeline' | 'operator'>, value: number) => void,
    value: (o: PipelineMetrics['operators'][number], m: PipelineMetrics) => number,
  ) => {
    for (const { metrics: m } of s.pipelines) {
      if (!m.running) continue; // uptime is not kept once stopped
      for (const o of m.operators) put({ pipeline: m.name, operator: o.name }, value(o, m));
    }
  };
  counter(
    'sluice_operator_backpressure_seconds_total',
    "Time the operator's output waited for slow sinks downstream: rate() is the backpressure ratio of a window",
    operatorLabels,
    (s, put) => eachOperatorOfRun(s, put, (o, m) => (o.backpressure * m.uptimeMs) / 1000),
  );
  gauge(
    'sluice_operator_state_entries',
    'Entries of keyed state held by the operator (windows × keys, join buffers...)',
    operatorLabels,
    (s, put) => eachOperator(s, put, (o) => o.stateSize),
  );

  // Source partitions: event time and idleness per input partition.
  const sourcePartitionLabels = ['pipeline', 'operator', 'partition'] as const;
  const eachSourcePartition = (
    s: Scrape,
    put: (labels: Labels<(typeof sourcePartitionLabels)[number]>, value: number) => void,
    value: (p: PipelineMetrics['sources'][number]['partitions'][number]) => number | null,
  ) => {
    for (const { metrics: m } of s.pipelines) {
      for (const source of m.sources) {
        for (const p of source.partitions) {
          const v = value(p);
          if (v !== null) put({ pipeline: m.name, operator: source.operator, partition: String(p.partition) }, v);
        }
      }
    }
  };
  gauge(
    'sluice_source_partition_watermark_lag_seconds',
    "Wall-clock time minus a source partition's own watermark; negative when it is ahead of the wall clock",
    sourcePartitionLabels,
    (s, put) => eachSourcePartition(s, put, (p) => (p.watermark === null ? null : (s.at - p.watermark) / 1000)),
  );
  gauge(
    'sluice_source_partition_idle',
    'Whether a source partition is idle (1: left out of the watermark) or active (0)',
    sourcePartitionLabels,
    (s, put) => eachSourcePartition(s, put, (p) => (p.idle ? 1 : 0)),
  );

  // Pipelines: liveness, restarts, dead letters, checkpoints.
  const eachPipeline = (
    s: Scrape,
    put: (labels: Labels<'pipeline'>, value: number) => void,
    value: (m: PipelineMetrics, history: PipelineHistorySnapshot) => number | null,
  ) => {
    for (const { metrics: m, history } of s.pipelines) {
      const v = value(m, history);
      if (v !== null) put({ pipeline: m.name }, v);
    }
  };
  const pipelineLabels = ['pipeline'] as const;
  gauge(
    'sluice_pipeline_up',
    'Whether the pipeline is running (1) or not (0: stopped, failed, restarting)',
    pipelineLabels,
    (s, put) => eachPipeline(s, put, (m) => (m.running ? 1 : 0)),
  );
  counter(
    'sluice_pipeline_restarts_total',
    'Restarts of the pipeline by its supervisor after a failure',
    pipelineLabels,
    (s, put) => eachPipeline(s, put, (m) => m.restarts),
  );
  counter(
    'sluice_pipeline_dead_letters_total',
    'Records refused by an operator or a source and sent to the dead letters',
    pipelineLabels,
    (s, put) => eachPipeline(s, put, (m) => m.deadLetters),
  );
  counter(
    'sluice_pipeline_checkpoints_total',
    'Checkpoints (and savepoints) taken, by status (completed, failed)',
    ['pipeline', 'status'],
    (s, put) => {
      for (const { metrics: m } of s.pipelines) {
        put({ pipeline: m.name, status: 'completed' }, m.checkpoints.completed);
        put({ pipeline: m.name, status: 'failed' }, m.checkpoints.failed);
      }
    },
  );
  gauge(
    'sluice_pipeline_checkpoint_size_bytes',
    'Size of the last completed checkpoint file',
    pipelineLabels,
    (s, put) => eachPipeline(s, put, (m) => m.checkpoints.last?.bytes ?? null),
  );
  gauge(
    'sluice_pipeline_last_checkpoint_timestamp_seconds',
    'When the last completed checkpoint was durable (Unix time): alert on time() minus this',
    pipelineLabels,
    (s, put) =>
      eachPipeline(s, put, (_, history) => {
        const last = history.checkpoints.findLast((c) => c.status === 'completed');
        return last ? (last.startedAt + last.durationMs) / 1000 : null;
      }),
  );

  // Checkpoint durations are histograms observed at scrape: each completed checkpoint record is observed once, by
  // its key. The keys of the records seen at the previous scrape are kept per pipeline; a record is new when its
  // key is not among them (history keeps the last 100 records, and one never reappears once it has left).
  let seenCheckpoints = new Map<string, Set<string>>();
  const observeCheckpoints = () => {
    const s = scrape();
    if (s.observed) return;
    s.observed = true;
    const next = new Map<string, Set<string>>();
    for (const { metrics: m, history } of s.pipelines) {
      const before = seenCheckpoints.get(m.name);
      const keys = new Set<string>();
      for (const c of history.checkpoints) {
        // startedAt tells apart the ids a new worker process numbers from 1 again.
        const key = `${c.kind}:${c.id}:${c.startedAt}`;
        keys.add(key);
        if (c.status !== 'completed' || before?.has(key)) continue;
        checkpointSeconds.observe({ pipeline: m.name }, c.durationMs / 1000);
        pauseSeconds.observe({ pipeline: m.name }, c.pauseMs / 1000);
      }
      next.set(m.name, keys);
    }
    for (const name of seenCheckpoints.keys()) {
      if (next.has(name)) continue;
      checkpointSeconds.remove({ pipeline: name });
      pauseSeconds.remove({ pipeline: name });
    }
    seenCheckpoints = next;
  };
  const checkpointSeconds = new Histogram({
    name: 'sluice_pipeline_checkpoint_duration_seconds',
    help: 'Completed checkpoints: from the barrier to the file durable and the sinks committed',
    labelNames: pipelineLabels,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
    collect: observeCheckpoints,
  });
  const pauseSeconds = new Histogram({
    name: 'sluice_pipeline_checkpoint_pause_seconds',
    help: 'Completed checkpoints: how long the sources were held at the barrier',
    labelNames: pipelineLabels,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
    collect: observeCheckpoints,
  });

  // The serving store.
  counter('sluice_serving_queries_total', 'SQL queries run by the serving store', [], (_, put) => {
    if (options.store) put({}, options.store.queries);
  });
  counter('sluice_serving_query_failures_total', 'SQL queries of the serving store that failed', [], (_, put) => {
    if (options.store) put({}, options.store.queryErrors);
  });
  counter(
    'sluice_serving_rows_written_total',
    'Rows written into each serving table since the store opened',
    ['table'],
    (_, put) => {
      for (const [table, n] of options.store?.rowsWritten ?? []) put({ table }, n);
    },
  );

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
