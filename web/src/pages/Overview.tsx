// Overview: every pipeline of this process as its dataflow graph coloured by health, with each operator's records
// per second, watermark and lag, late records, state size and backpressure, each source partition's watermark and
// idleness, and its throughput over the last minutes. Metrics arrive once a second over the stream; the graph's
// shape is loaded once per pipeline.
import { useEffect, useMemo, useState } from 'preact/hooks';
import type {
  OperatorJson,
  PipelineDetailJson,
  PipelineJson,
  PipelinesEventJson,
  ThroughputPoint,
  TopologyJson,
} from '../../../src/http/api.ts';
import { getJson } from '../api.ts';
import { Chart } from '../components/Chart.tsx';
import { type Column, DataTable } from '../components/DataTable.tsx';
import { SourcePartitions } from '../components/SourcePartitions.tsx';
import { Stat } from '../components/Stat.tsx';
import { Topology } from '../components/Topology.tsx';
import { fmtBytes, fmtDuration, fmtLag, fmtNumber, fmtPercent, fmtRate, fmtTime, LAG_HELP } from '../format.ts';
import { HEALTH_LABELS, type Health, operatorHealth, pipelineHealth } from '../health.ts';
import { pushLimited, useStream } from '../hooks.ts';

const KEEP = 300;

export function Overview() {
  const [latest, setLatest] = useState<PipelinesEventJson | undefined>();
  const [samples, setSamples] = useState<ThroughputPoint[]>([]);
  const stream = useStream('channels=pipelines', (event, data) => {
    if (event !== 'pipelines') return;
    const sample = data as PipelinesEventJson;
    setLatest(sample);
    // The first event brings the server's last minutes; each one after adds a point.
    const point = pointOf(sample);
    if (sample.history) setSamples([...sample.history.filter((p) => p.at < point.at), point].slice(-KEEP));
    else setSamples((list) => pushLimited(list, point, KEEP));
  });
  const topologies = useTopologies(latest?.pipelines ?? []);

  if (!latest) {
    return (
      <section class="page">
        <h1>Overview</h1>
        <p class="muted">
          {stream.state === 'failed'
            ? 'The live stream was refused.'
            : stream.state === 'retrying'
              ? 'Waiting for the server…'
              : 'Connecting…'}
        </p>
      </section>
    );
  }
  const totalIn = latest.pipelines.reduce(
    (sum, p) => sum + p.operators.filter((o) => o.name.startsWith('source:')).reduce((s, o) => s + o.ratePerSec, 0),
    0,
  );
  const running = latest.pipelines.filter((p) => p.running).length;
  return (
    <section class="page">
      <h1>Overview</h1>
      <div class="stats">
        <Stat label="pipelines running" value={`${running} / ${latest.pipelines.length}`} />
        <Stat label="records in" value={fmtRate(totalIn)} hint="records per second read by all sources" />
        <Stat
          label="late records"
          value={fmtNumber(sum(latest.pipelines, (p) => sum(p.operators, (o) => o.lateRecords)))}
          hint="records behind the watermark, sent to late-data outputs"
        />
        <Stat
          label="restarts"
          value={fmtNumber(sum(latest.pipelines, (p) => p.restarts))}
          tone={latest.pipelines.some((p) => p.restarts > 0) ? 'warn' : undefined}
        />
      </div>
      {latest.pipelines.length === 0 && (
        <div class="card empty-state">
          <p>No pipeline runs in this process.</p>
          <p class="muted">
            <code>sluice dev</code> runs the demo pipelines; <code>sluice run pipeline.ts</code> runs yours. Topics and
            serving tables are still on their pages.
          </p>
        </div>
      )}
      {latest.pipelines.map((pipeline) => (
        <PipelineCard
          key={pipeline.name}
          pipeline={pipeline}
          topology={topologies.get(pipeline.name)}
          samples={samples}
          at={latest.at}
        />
      ))}
      <Legend />
    </section>
  );
}

/** Loads each pipeline's graph once, and again if its operators change (a new version after a restart). */
function useTopologies(pipelines: PipelineJson[]): Map<string, TopologyJson> {
  const [map, setMap] = useState<Map<string, { signature: string; topology: TopologyJson }>>(new Map());
  const wanted = pipelines.map((p) => ({ name: p.name, signature: p.operators.map((o) => o.name).join('\n') }));
  const key = JSON.stringify(wanted);
  useEffect(() => {
    for (const { name, signature } of wanted) {
      if (map.get(name)?.signature === signature) continue;
      getJson<PipelineDetailJson>(`/v1/pipelines/${encodeURIComponent(name)}`).then(
        (detail) => setMap((m) => new Map(m).set(name, { signature, topology: detail.topology })),
        () => {}, // the banner shows it; the next change of key retries
      );
    }
  }, [key]);
  return useMemo(() => new Map([...map].map(([name, v]) => [name, v.topology])), [map]);
}

function PipelineCard(props: {
  pipeline: PipelineJson;
  topology: TopologyJson | undefined;
  samples: ThroughputPoint[];
  /** When the metrics were taken (server time). */
  at: number;
}) {
  const { pipeline, topology, samples } = props;
  const health = pipelineHealth(pipeline);
  const last = pipeline.checkpoints.last;
  const columns: Column<OperatorJson>[] = [
    {
      label: 'Operator',
      cell: (o) => (
        <span class="op-name">
          <span class={`dot ${operatorHealth(pipeline, o)}`} aria-hidden="true" />
          {o.name}
        </span>
      ),
    },
    { label: 'Records/s', numeric: true, cell: (o) => fmtNumber(o.ratePerSec) },
    { label: 'In', numeric: true, cell: (o) => fmtNumber(o.recordsIn) },
    { label: 'Out', numeric: true, cell: (o) => fmtNumber(o.recordsOut) },
    { label: 'Watermark', cell: (o) => fmtTime(o.watermark), title: 'event time this operator has reached' },
    {
      label: 'Lag',
      numeric: true,
      // Signed: a watermark ahead of the clock (demo or replayed time) reads "ahead by …", never as 0.
      cell: (o) => (
        <span data-testid="watermark-lag" data-lag-ms={o.watermarkLagMs ?? ''} title={LAG_HELP}>
          {fmtLag(o.watermarkLagMs)}
        </span>
      ),
      title: LAG_HELP,
    },
    { label: 'Late', numeric: true, cell: (o) => fmtNumber(o.lateRecords) },
    { label: 'State', numeric: true, cell: (o) => fmtNumber(o.stateSize), title: 'entries of keyed state' },
    {
      label: 'Backpressure',
      numeric: true,
      cell: (o) => (
        <span class="bar" title={`${fmtPercent(o.backpressure)} of the time waiting for slow sinks`}>
          <span
            class={`bar-fill ${operatorHealth(pipeline, o)}`}
            style={{ width: `${Math.round(o.backpressure * 100)}%` }}
          />
          <span class="bar-text">{fmtPercent(o.backpressure)}</span>
        </span>
      ),
    },
  ];
  const throughput = useMemo(() => throughputSeries(pipeline.name, samples), [pipeline.name, samples]);
  return (
    <article class="card pipeline" data-testid="pipeline-card" data-pipeline={pipeline.name}>
      <header class="card-header">
        <h2>
          <span class={`pill ${health}`} data-testid="pipeline-health">
            {HEALTH_LABELS[health]}
          </span>{' '}
          {pipeline.name}
        </h2>
        <p class="muted small">
          {pipeline.running ? `running for ${fmtDuration(pipeline.uptimeMs)}` : 'not running'}
          {' · '}
          {pipeline.restarts} restart{pipeline.restarts === 1 ? '' : 's'}
          {' · '}
          checkpoints {pipeline.checkpoints.completed} ok
          {pipeline.checkpoints.failed > 0 ? `, ${pipeline.checkpoints.failed} failed` : ''}
          {last ? ` · last ${fmtBytes(last.bytes)} in ${fmtDuration(last.durationMs)}` : ''}
          {pipeline.deadLetters > 0 ? ` · ${fmtNumber(pipeline.deadLetters)} dead letters` : ''}
        </p>
        {pipeline.error && <p class="error-text">Failed: {pipeline.error}</p>}
      </header>
      {topology ? <Topology topology={topology} pipeline={pipeline} /> : <p class="muted">Loading the graph…</p>}
      <DataTable
        columns={columns}
        rows={pipeline.operators}
        rowKey={(o) => o.name}
        testId="operators"
        caption={`Operators of ${pipeline.name}`}
      />
      <SourcePartitions sources={pipeline.sources} at={props.at} pipeline={pipeline.name} />
      <h3>Throughput</h3>
      <Chart
        data={throughput.data}
        series={throughput.series}
        yFormat={fmtNumber}
        height={180}
        empty="Collecting a few seconds of history…"
        label={`records per second of ${pipeline.name}'s sources and sinks`}
      />
    </article>
  );
}

function pointOf(sample: PipelinesEventJson): ThroughputPoint {
  const rates: ThroughputPoint['rates'] = {};
  for (const p of sample.pipelines) rates[p.name] = Object.fromEntries(p.operators.map((o) => [o.name, o.ratePerSec]));
  return { at: sample.at, rates };
}

/** Records/s of the pipeline's sources and sinks over the samples kept. */
function throughputSeries(name: string, samples: ThroughputPoint[]) {
  const names: string[] = [];
  const rows = samples.map((s) => s.rates[name]);
  for (const rates of rows) {
    for (const operator of Object.keys(rates ?? {})) {
      const edge = operator.startsWith('source:') || operator.startsWith('sink:');
      if (edge && !names.includes(operator) && names.length < 8) names.push(operator);
    }
  }
  const xs = samples.map((s) => s.at);
  const ys = names.map((n) => rows.map((rates) => rates?.[n] ?? null));
  return {
    data: [xs, ...ys],
    series: names.map((n) => ({ label: n, dash: n.startsWith('sink:') })),
  };
}

function Legend() {
  const shown: Health[] = ['ok', 'busy', 'congested', 'idle', 'stopped', 'failed'];
  return (
    <ul class="legend" aria-label="colours">
      {shown.map((h) => (
        <li key={h}>
          <span class={`dot ${h}`} aria-hidden="true" /> {HEALTH_LABELS[h]}
        </li>
      ))}
    </ul>
  );
}

function sum<T>(list: T[], of: (item: T) => number): number {
  return list.reduce((total, item) => total + of(item), 0);
}
