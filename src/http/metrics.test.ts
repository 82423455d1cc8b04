// /metrics of a server with a real running, checkpointed pipeline: records in and out per operator, signed
// watermark lag, each checkpoint observed once into the duration histograms however often it is scraped, consumer
// lag per group and partition, pipeline source lag, log offsets, process metrics. And the Grafana dashboard and the
// alert rules in docs/ name only metrics the server exposes, so that the examples cannot rot.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { eventually } from '../../test/helpers/broker.ts';
import { tempDir } from '../../test/helpers/dashboard.ts';
import { collect, fromArrays, json, logSource, Pipeline, type PipelineView, watermarks } from '../engine/index.ts';
import { openLog } from '../log/index.ts';
import { createApp } from './index.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (our label values hold no quotes, commas or braces). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of match[2] ? match[2].split(',') : []) {
      const [key, value] = pair.split('=') as [string, string];
      labels[key] = JSON.parse(value) as string;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The samples named `name` whose labels include `labels`. */
function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one sample named `name` with `labels`; fails when there is none or several. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = find(samples, name, labels);
  assert.equal(found.length, 1, `one ${name} ${JSON.stringify(labels)}, found ${JSON.stringify(found)}`);
  return found[0]!.value;
}

const HOUR = 3_600_000;

describe('/metrics', () => {
  it('reads a running pipeline, its checkpoints, consumer groups, the log and the process', async () => {
    const log = await openLog({ dataDir: tempDir('sluice-metrics-log-') });
    await log.createTopic('readings', { partitions: 2 });
    // Event time an hour ahead of the wall clock: the watermark passes the clock, and its lag is negative.
    const future = Date.now() + HOUR;
    const record = (n: number) => ({ key: null, value: Buffer.from(JSON.stringify({ n, ts: future + n })) });
    await log.append('readings', 0, [record(1), record(2), record(3)]);
    await log.append('readings', 1, [record(4)]);
    await log.groups.commit('reporting', [{ topic: 'readings', partition: 0, offset: 1 }]);

    const pipeline = new Pipeline({ name: 'future', tickMs: 20 });
    const seen: number[] = [];
    pipeline
      .source(logSource({ log, topic: 'readings', format: json<{ n: number; ts: number }>() }))
      .withTimestamps((r) => r.ts, watermarks.boundedOutOfOrderness(0))
      .map((r) => r.n)
      .sinkTo({
        name: 'seen',
        write(batch) {
          seen.push(...batch.values);
        },
      });
    pipeline.enableCheckpoints({ dir: tempDir('sluice-metrics-ckpt-'), intervalMs: 0 });
    let views: PipelineView[] = [pipeline];
    const app = createApp({ log, pipelines: () => views });
    const scrape = async () => {
      const response = await app.request('/metrics');
      assert.equal(response.status, 200);
      return parse(await response.text());
    };

    let taken = 0;
    const running = pipeline.run();
    try {
      await eventually(() => seen.length === 4, 'the pipeline to read the four records');
      await eventually(
        () => pipeline.metrics().operators.some((o) => o.watermarkLagMs !== null && o.watermarkLagMs < 0),
        'the watermark to pass the wall clock',
      );
      await pipeline.checkpoint();
      await pipeline.checkpoint();
      // The two just taken, and any the pipeline took on its own (a first one as it starts).
      taken = pipeline.metrics().checkpoints.completed;
      assert.ok(taken >= 2);

      const first = await scrape();
      const out = find(first, 'sluice_operator_records_out_total', { pipeline: 'future' });
      assert.ok(out.length >= 3, 'source, withTimestamps, map and sink each have a series');
      assert.ok(
        out.some((s) => s.value === 4),
        'the source handed on the four records',
      );
      assert.ok(find(first, 'sluice_operator_records_in_total', { pipeline: 'future' }).some((s) => s.value === 4));
      const waited = find(first, 'sluice_operator_backpressure_seconds_total', { pipeline: 'future' });
      assert.equal(waited.length, out.length, 'every operator of the running pipeline');
      assert.ok(waited.every((s) => s.value >= 0 && s.value <= pipeline.metrics().uptimeMs / 1000));
      const lags = find(first, 'sluice_operator_watermark_lag_seconds', { pipeline: 'future' });
      assert.ok(lags.length > 0);
      assert.ok(
        lags.some((s) => s.value < -HOUR / 1000 + 600),
        `an hour ahead, give or take: ${JSON.stringify(lags)}`,
      );
      for (const partition of ['0', '1']) {
        const lag = value(first, 'sluice_source_partition_watermark_lag_seconds', { pipeline: 'future', partition });
        assert.ok(lag < -HOUR / 1000 + 600, `partition ${partition} watermark ahead of the clock: ${lag}`);
        assert.equal(value(first, 'sluice_source_partition_idle', { pipeline: 'future', partition }), 0);
        assert.equal(
          value(first, 'sluice_pipeline_source_lag_records', { pipeline: 'future', topic: 'readings', partition }),
          0,
          'the pipeline read everything',
        );
      }
      assert.equal(value(first, 'sluice_pipeline_up', { pipeline: 'future' }), 1);
      assert.equal(value(first, 'sluice_pipeline_restarts_total', { pipeline: 'future' }), 0);
      assert.equal(value(first, 'sluice_pipeline_dead_letters_total', { pipeline: 'future' }), 0);
      assert.equal(
        value(first, 'sluice_pipeline_checkpoints_total', { pipeline: 'future', status: 'completed' }),
        taken,
      );
      assert.equal(value(first, 'sluice_pipeline_checkpoints_total', { pipeline: 'future', status: 'failed' }), 0);
      assert.equal(value(first, 'sluice_pipeline_checkpoint_duration_seconds_count', { pipeline: 'future' }), taken);
      assert.equal(value(first, 'sluice_pipeline_checkpoint_pause_seconds_count', { pipeline: 'future' }), taken);
      assert.equal(
        value(first, 'sluice_pipeline_checkpoint_duration_seconds_bucket', { pipeline: 'future', le: '+Inf' }),
        taken,
      );
      assert.equal(
        value(first, 'sluice_pipeline_checkpoint_size_bytes', { pipeline: 'future' }),
        pipeline.metrics().checkpoints.last!.bytes,
      );
      const lastAt = value(first, 'sluice_pipeline_last_checkpoint_timestamp_seconds', { pipeline: 'future' });
      assert.ok(Math.abs(lastAt - Date.now() / 1000) < 60, `a recent Unix time in seconds: ${lastAt}`);

      // The group committed offset 1 of partition 0 (of 3 records), and nothing of partition 1.
      assert.equal(value(first, 'sluice_consumer_lag_records', { group: 'reporting', partition: '0' }), 2);
      assert.equal(find(first, 'sluice_consumer_lag_records', { group: 'reporting', partition: '1' }).length, 0);
      assert.equal(value(first, 'sluice_log_end_offset', { topic: 'readings', partition: '0' }), 3);
      assert.equal(value(first, 'sluice_log_start_offset', { topic: 'readings', partition: '0' }), 0);
      assert.ok(value(first, 'sluice_log_size_bytes', { topic: 'readings', partition: '1' }) > 0);
      assert.ok(value(first, 'process_cpu_seconds_total') > 0);
      assert.ok(value(first, 'process_resident_memory_bytes') > 0);

      // Scraped again, the same checkpoints are not observed again; a new one is, once.
      const again = await scrape();
      assert.equal(value(again, 'sluice_pipeline_checkpoint_duration_seconds_count', { pipeline: 'future' }), taken);
      await pipeline.checkpoint();
      await log.append('readings', 1, [record(5)]);
      await log.groups.commit('reporting', [{ topic: 'readings', partition: 1, offset: 0 }]);
      const third = await scrape();
      assert.equal(
        value(third, 'sluice_pipeline_checkpoints_total', { pipeline: 'future', status: 'completed' }),
        taken + 1,
      );
      assert.equal(
        value(third, 'sluice_pipeline_checkpoint_duration_seconds_count', { pipeline: 'future' }),
        taken + 1,
      );
      assert.equal(value(third, 'sluice_pipeline_checkpoint_pause_seconds_count', { pipeline: 'future' }), taken + 1);
      assert.equal(value(third, 'sluice_consumer_lag_records', { group: 'reporting', partition: '1' }), 2);
    } finally {
      pipeline.stop();
      await running;
    }

    // Stopped: down, and its last checkpoint (taken on stop) counted once like the others.
    const stopped = await scrape();
    assert.equal(value(stopped, 'sluice_pipeline_up', { pipeline: 'future' }), 0);
    const completed = pipeline.metrics().checkpoints.completed;
    assert.ok(completed >= taken + 2, 'stop() took a last checkpoint');
    assert.equal(
      value(stopped, 'sluice_pipeline_checkpoint_duration_seconds_count', { pipeline: 'future' }),
      completed,
    );

    // A pipeline no longer shown leaves no series behind, its histograms included.
    views = [];
    const gone = await scrape();
    assert.deepEqual(
      gone.filter((s) => s.labels.pipeline === 'future'),
      [],
    );
    await log.close();
  });

  it('reads each view once per scrape, however many series come from it', async () => {
    const log = await openLog({ dataDir: tempDir('sluice-metrics-once-') });
    const pipeline = new Pipeline({ name: 'once', bounded: true });
    pipeline.source(fromArrays([[1, 2, 3]])).sinkTo(collect());
    await pipeline.run();
    let reads = 0;
    const view: PipelineView = {
      name: pipeline.name,
      metrics: () => {
        reads++;
        return pipeline.metrics();
      },
      topology: () => pipeline.topology(),
      sourcePositions: () => pipeline.sourcePositions(),
      history: pipeline.history,
    };
    const app = createApp({ log, pipelines: () => [view] });
    const text = await (await app.request('/metrics')).text();
    assert.match(text, /sluice_operator_records_in_total\{pipeline="once",operator="[^"]+"\} 3/);
    assert.equal(reads, 1);
    await app.request('/metrics');
    assert.equal(reads, 2, 'a second scrape reads the view afresh');
    await log.close();
  });
});

describe('the monitoring examples in docs/', () => {
  const root = path.resolve(import.meta.dirname, '../..');

  /** Every metric name the server exposes (histograms with their _bucket, _count and _sum series). */
  async function exposed(): Promise<Set<string>> {
    const log = await openLog({ dataDir: tempDir('sluice-metrics-names-') });
    try {
      const text = await (await createApp({ log }).request('/metrics')).text();
      const names = new Set<string>();
      for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        names.add(match[1]!);
        if (match[2] === 'histogram') for (const suffix of ['_bucket', '_count', '_sum']) names.add(match[1]! + suffix);
      }
      return names;
    } finally {
      await log.close();
    }
  }

  /** Metric names in a PromQL expression: ours, and the process's default ones. */
  const metricNames = (expr: string) =>
    [...expr.matchAll(/\b(?:sluice|process|nodejs)_[a-z0-9_]+\b/g)].map((m) => m[0]);

  it('the Grafana dashboard queries only metrics /metrics exposes', async () => {
    const names = await exposed();
    const dashboard = JSON.parse(fs.readFileSync(path.join(root, 'docs/grafana/sluice.json'), 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
      templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
    };
    const exprs: string[] = [];
    for (const panel of dashboard.panels) for (const target of panel.targets ?? []) exprs.push(target.expr);
    for (const variable of dashboard.templating.list) {
      if (variable.type !== 'query') continue; // the data source picker names no metric
      const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
      if (query) exprs.push(query);
    }
    assert.ok(exprs.length >= 10, `the dashboard's queries: ${exprs.length}`);
    for (const expr of exprs) {
      const used = metricNames(expr);
      assert.ok(used.length > 0, `a query names a metric: ${expr}`);
      for (const name of used) assert.ok(names.has(name), `${name} (in ${expr}) is not exposed`);
    }
  });

  it('the Prometheus alert rules use only metrics /metrics exposes', async () => {
    const names = await exposed();
    // No YAML parser among the dependencies: each `expr:` is one line, or a block scalar (`expr: |`) of the lines
    // indented deeper than the key.
    const lines = fs.readFileSync(path.join(root, 'docs/prometheus/alerts.yml'), 'utf8').split('\n');
    const exprs: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const match = /^(\s*)(?:- )?expr:\s*(.*)$/.exec(lines[i]!);
      if (!match) continue;
      if (!/^[|>]/.test(match[2]!)) {
        exprs.push(match[2]!);
        continue;
      }
      const block: string[] = [];
      while (
        i + 1 < lines.length &&
        (lines[i + 1]!.trim() === '' || /^\s*/.exec(lines[i + 1]!)![0].length > match[1]!.length)
      ) {
        block.push(lines[++i]!.trim());
      }
      exprs.push(block.join(' '));
    }
    assert.ok(exprs.length >= 7, `an alert for each of the seven conditions: ${exprs.length}`);
    for (const expr of exprs) {
      const used = metricNames(expr);
      assert.ok(used.length > 0, `a rule names a metric: ${expr}`);
      for (const name of used) assert.ok(names.has(name), `${name} (in ${expr}) is not exposed`);
    }
  });
});
