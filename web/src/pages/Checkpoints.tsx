// Checkpoints: per pipeline, the history of checkpoints and savepoints (when, how long, how big, how long the
// sources were paused, and why one failed), where the pipeline was restored from, and every restart with its cause.
// The server pushes the history only when it changed. Both lists show a page of PAGE rows, newest first, so the
// page stays short with a hundred checkpoints per pipeline.
import { useMemo, useState } from 'preact/hooks';
import type {
  CheckpointRecordJson,
  CheckpointsJson,
  PipelineHistoryJson,
  RestartRecordJson,
} from '../../../src/http/api.ts';
import { Chart } from '../components/Chart.tsx';
import { DataTable } from '../components/DataTable.tsx';
import { Stat } from '../components/Stat.tsx';
import { fmtAgo, fmtBytes, fmtDuration, fmtTime } from '../format.ts';
import { useNow, useStream } from '../hooks.ts';

const PAGE = 20;

export function Checkpoints() {
  const [history, setHistory] = useState<CheckpointsJson | undefined>();
  const stream = useStream('channels=history', (event, data) => {
    if (event === 'history') setHistory(data as CheckpointsJson);
  });
  return (
    <section class="page">
      <h1>Checkpoints</h1>
      {!history && (
        <p class="muted">
          {stream.state === 'failed'
            ? 'The live stream was refused.'
            : stream.state === 'retrying'
              ? 'Waiting for the server…'
              : 'Connecting…'}
        </p>
      )}
      {history && history.pipelines.length === 0 && (
        <div class="card empty-state">
          <p>No pipeline runs in this process, so there are no checkpoints to show.</p>
        </div>
      )}
      {history?.pipelines.map((p) => (
        <PipelineCheckpoints key={p.name} history={p} />
      ))}
    </section>
  );
}

function PipelineCheckpoints({ history }: { history: PipelineHistoryJson }) {
  const now = useNow();
  const { checkpoints, restarts, totals } = history;
  const last = checkpoints.at(-1);
  const lastCompleted = [...checkpoints].reverse().find((c) => c.status === 'completed');
  const chart = useMemo(() => {
    const done = checkpoints.filter((c) => c.status === 'completed');
    return {
      data: [done.map((c) => c.startedAt), done.map((c) => c.durationMs), done.map((c) => c.bytes)],
    };
  }, [checkpoints]);
  return (
    <article class="card" data-testid="checkpoints-card" data-pipeline={history.name}>
      <h2>
        <span class={`pill ${history.error ? 'failed' : history.running ? 'ok' : 'stopped'}`}>
          {history.error ? 'failed' : history.running ? 'running' : 'stopped'}
        </span>{' '}
        {history.name}
      </h2>
      {history.error && <p class="error-text">Failed: {history.error}</p>}
      <div class="stats">
        <Stat label="completed" value={totals.completed} />
        <Stat label="failed" value={totals.failed} tone={totals.failed > 0 ? 'bad' : undefined} />
        <Stat label="restarts" value={totals.restarts} tone={totals.restarts > 0 ? 'warn' : undefined} />
        <Stat
          label="last checkpoint"
          value={lastCompleted ? fmtAgo(lastCompleted.startedAt, now) : '—'}
          hint={lastCompleted ? `${fmtBytes(lastCompleted.bytes)} in ${fmtDuration(lastCompleted.durationMs)}` : ''}
        />
      </div>
      <p class="muted small">
        {totals.restoredFrom ? (
          <>
            Restored from <code>{totals.restoredFrom}</code> when it started.
          </>
        ) : (
          'Started without a checkpoint to restore.'
        )}
        {last?.status === 'failed' ? ' The latest checkpoint failed.' : ''}
      </p>
      <h3>Duration and size</h3>
      <Chart
        data={chart.data}
        series={[{ label: 'duration' }, { label: 'size', right: true, dash: true }]}
        yFormat={fmtDuration}
        rightFormat={fmtBytes}
        height={180}
        empty="No completed checkpoint yet."
        label={`duration and size of ${history.name}'s checkpoints`}
      />
      <h3>History</h3>
      <DataTable<CheckpointRecordJson>
        testId="checkpoint-history"
        columns={[
          { label: 'Id', numeric: true, cell: (c) => c.id },
          { label: 'Kind', cell: (c) => c.kind },
          { label: 'Started', cell: (c) => fmtTime(c.startedAt) },
          {
            label: 'Status',
            cell: (c) => <span class={`pill ${c.status === 'completed' ? 'ok' : 'failed'}`}>{c.status}</span>,
          },
          { label: 'Duration', numeric: true, cell: (c) => fmtDuration(c.durationMs) },
          {
            label: 'Paused',
            numeric: true,
            cell: (c) => fmtDuration(c.pauseMs),
            title: 'how long the sources were held at the barrier',
          },
          { label: 'Size', numeric: true, cell: (c) => fmtBytes(c.bytes) },
          { label: 'Error', cell: (c) => c.error ?? '' },
        ]}
        rows={[...checkpoints].reverse()}
        rowKey={(c) => `${c.kind}-${c.id}-${c.startedAt}`}
        pageSize={PAGE}
        pageLabels={['Newer', 'Older']}
        empty="No checkpoint yet (checkpoints are off, or the first one is being taken)."
      />
      <h3>Restarts</h3>
      <DataTable<RestartRecordJson>
        testId="restarts"
        columns={[
          { label: 'Failed at', cell: (r) => fmtTime(r.at) },
          { label: 'Cause', cell: (r) => (r.code ? `${r.code}: ${r.message}` : r.message) },
          { label: 'Failures in window', numeric: true, cell: (r) => r.failures },
          {
            label: 'Then',
            cell: (r) =>
              r.restartInMs === null ? 'gave up (crash loop)' : `restarted after ${fmtDuration(r.restartInMs)}`,
          },
        ]}
        rows={[...restarts].reverse()}
        rowKey={(r) => `${r.at}-${r.failures}`}
        pageSize={PAGE}
        pageLabels={['Newer', 'Older']}
        empty="No restart: the pipeline has not failed."
      />
    </article>
  );
}
