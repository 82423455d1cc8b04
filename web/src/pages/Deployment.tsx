// Deployment: what `sluice up` runs, from its control API (GET /v1/deployment, read every second) — each pipeline
// with its state and what the state means, where it runs, restarts and checkpoints; each job with its schedule, next
// run and latest runs (and a button to run it now); replays with their progress; tables with their state, rows and
// freshness. Under `sluice dev` or `sluice serve` there is no deployment, and the page says how to start one.
import { useEffect, useState } from 'preact/hooks';
import type {
  DeploymentJobJson,
  DeploymentJson,
  DeploymentPipelineJson,
  DeploymentTableJson,
  JobRunJson,
  JobRunRequestJson,
  ReplayJson,
} from '../../../src/http/api.ts';
import { ApiError, getJson, postJson } from '../api.ts';
import { DataTable } from '../components/DataTable.tsx';
import { Stat } from '../components/Stat.tsx';
import { fmtAgo, fmtDuration, fmtLag, fmtNumber, fmtPercent, fmtRate, fmtTime, LAG_HELP } from '../format.ts';
import { useNow } from '../hooks.ts';

const POLL_MS = 1000;

type Loaded =
  | { kind: 'loading' }
  | { kind: 'none' }
  | { kind: 'starting' }
  | { kind: 'failed'; error: Error }
  | { kind: 'ok'; deployment: DeploymentJson };

/** The deployment's status, read every second; `none` when this server runs no deployment. */
function useDeployment(): Loaded {
  const [loaded, setLoaded] = useState<Loaded>({ kind: 'loading' });
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const deployment = await getJson<DeploymentJson>('/v1/deployment');
        if (live) setLoaded({ kind: 'ok', deployment });
      } catch (error) {
        if (!live) return;
        if (error instanceof ApiError && error.code === 'UNKNOWN_ROUTE') setLoaded({ kind: 'none' });
        else if (error instanceof ApiError && error.code === 'DEPLOYMENT_STARTING') setLoaded({ kind: 'starting' });
        // Keep showing the last status while the server does not answer (the banner says so).
        else setLoaded((last) => (last.kind === 'ok' ? last : { kind: 'failed', error: error as Error }));
      }
      if (live) timer = setTimeout(poll, POLL_MS);
    };
    poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, []);
  return loaded;
}

export function Deployment() {
  const loaded = useDeployment();
  const now = useNow();
  if (loaded.kind !== 'ok') {
    return (
      <section class="page">
        <h1>Deployment</h1>
        <div class="card empty-state">
          {loaded.kind === 'loading' && <p class="muted">Loading…</p>}
          {loaded.kind === 'starting' && <p>The deployment is starting: its topics are being created.</p>}
          {loaded.kind === 'failed' && <p class="error-text">Could not read the deployment: {loaded.error.message}</p>}
          {loaded.kind === 'none' && (
            <p>
              This server runs no deployment. Start one with <code>sluice up &lt;spec&gt;</code> to see its pipelines,
              jobs, replays and tables here; pipelines of <code>sluice dev</code> are on the Overview.
            </p>
          )}
        </div>
      </section>
    );
  }
  const d = loaded.deployment;
  const running = d.pipelines.filter((p) => p.state === 'running').length;
  const restarts = d.pipelines.reduce((sum, p) => sum + p.restarts, 0);
  const liveTables = d.tables.filter((t) => t.state === 'live').length;
  return (
    <section class="page" data-testid="deployment-page">
      <h1>
        Deployment {d.name} <span class={`pill ${stateTone(d.state)}`}>{d.state}</span>
      </h1>
      <p class="muted small">
        Process {d.pid}, up {fmtDuration(now - d.startedAt)} (since {fmtTime(d.startedAt)}); status of{' '}
        {fmtAgo(d.updatedAt, now)}.
      </p>
      <div class="stats">
        <Stat
          label="pipelines running"
          value={`${running} / ${d.pipelines.length}`}
          tone={running < d.pipelines.length ? 'warn' : undefined}
        />
        <Stat label="restarts" value={restarts} tone={restarts > 0 ? 'warn' : undefined} />
        <Stat
          label="tables live"
          value={`${liveTables} / ${d.tables.length}`}
          hint="live: every record of its topic is loaded"
        />
        <Stat label="jobs" value={d.jobs.length} />
        <Stat label="replays running" value={d.replays.filter((r) => r.state === 'running').length} />
      </div>
      <PipelinesCard pipelines={d.pipelines} now={now} />
      <JobsCard jobs={d.jobs} now={now} />
      <ReplaysCard replays={d.replays} now={now} />
      <TablesCard tables={d.tables} now={now} />
      {d.services.length > 0 && (
        <article class="card">
          <h2>Services</h2>
          <DataTable
            testId="deployment-services"
            columns={[
              { label: 'Service', cell: (s) => s.name },
              { label: 'State', cell: (s) => <span class={`pill ${stateTone(s.state)}`}>{s.state}</span> },
              { label: 'Restarts', numeric: true, cell: (s) => s.restarts },
              { label: 'Last error', cell: (s) => s.lastError ?? '' },
            ]}
            rows={d.services}
            rowKey={(s) => s.name}
          />
        </article>
      )}
    </section>
  );
}

function PipelinesCard({ pipelines, now }: { pipelines: DeploymentPipelineJson[]; now: number }) {
  return (
    <article class="card">
      <h2>Pipelines</h2>
      <DataTable<DeploymentPipelineJson>
        testId="deployment-pipelines"
        columns={[
          {
            label: 'Pipeline',
            cell: (p) => (
              <>
                {p.name}
                {p.dependsOn.length > 0 && <div class="muted small">reads {p.dependsOn.join(', ')}</div>}
              </>
            ),
          },
          { label: 'Version', cell: (p) => `v${p.version}` },
          {
            label: 'State',
            cell: (p) => (
              <>
                <span class={`pill ${stateTone(p.state)}`} data-testid="pipeline-state" title={p.detail}>
                  {p.state.startsWith('blocked') ? 'blocked' : p.state}
                </span>
                {p.state !== 'running' && <div class="muted small">{p.detail}</div>}
              </>
            ),
          },
          {
            label: 'Runs in',
            cell: (p) => (p.host ? `${p.host}${p.pid ? ` (pid ${p.pid})` : ''}` : '—'),
          },
          {
            label: 'Restarts',
            numeric: true,
            cell: (p) => (
              <span data-testid="pipeline-restarts" title={p.lastError ? `last failure: ${p.lastError}` : undefined}>
                {p.restarts}
              </span>
            ),
          },
          { label: 'Records in', numeric: true, cell: (p) => fmtNumber(p.recordsIn) },
          { label: 'Records out', numeric: true, cell: (p) => fmtNumber(p.recordsOut) },
          { label: 'Late', numeric: true, cell: (p) => fmtNumber(p.lateRecords) },
          {
            label: 'Checkpoints',
            numeric: true,
            title: 'completed by its current worker (a restarted pipeline counts again from its restored checkpoint)',
            cell: (p) => (
              <span data-testid="pipeline-checkpoints">
                {p.checkpoints}
                {p.checkpointFailures > 0 && <span class="error-text"> ({p.checkpointFailures} failed)</span>}
              </span>
            ),
          },
          {
            label: 'Last checkpoint',
            cell: (p) => (p.lastCheckpointAt ? fmtAgo(p.lastCheckpointAt, now) : '—'),
          },
          { label: 'Watermark', title: LAG_HELP, cell: (p) => fmtLag(p.watermarkLagMs) },
        ]}
        rows={pipelines}
        rowKey={(p) => p.name}
        empty="The spec has no pipelines."
      />
    </article>
  );
}

function JobsCard({ jobs, now }: { jobs: DeploymentJobJson[]; now: number }) {
  const [open, setOpen] = useState<string | null>(null);
  const [message, setMessage] = useState<{ job: string; text: string; error: boolean } | null>(null);
  if (jobs.length === 0) return null;
  const runNow = async (job: string) => {
    setMessage({ job, text: 'starting a run…', error: false });
    try {
      const run = await postJson<JobRunRequestJson>(`/v1/deployment/jobs/${encodeURIComponent(job)}/runs`, {});
      setMessage({ job, text: `run ${run.id} started`, error: false });
    } catch (error) {
      setMessage({ job, text: (error as Error).message, error: true });
    }
  };
  const shown = jobs.find((j) => j.name === open);
  return (
    <article class="card">
      <h2>Jobs</h2>
      <DataTable<DeploymentJobJson>
        testId="deployment-jobs"
        columns={[
          { label: 'Job', cell: (j) => j.name },
          { label: 'Schedule', cell: (j) => <code>{j.schedule}</code> },
          {
            label: 'Next run',
            cell: (j) =>
              j.running ? 'running now' : j.nextRun ? `${fmtTime(j.nextRun)} (${fmtAgo(j.nextRun, now)})` : '—',
          },
          {
            label: 'Last run',
            cell: (j) =>
              j.lastRun ? (
                <span data-testid="job-last-run">
                  <span class={`pill ${j.lastRun.status === 'succeeded' ? 'ok' : 'failed'}`}>{j.lastRun.status}</span>{' '}
                  {fmtTime(j.lastRun.startedAt)}, {j.lastRun.trigger}
                </span>
              ) : (
                '—'
              ),
          },
          { label: 'Runs shown', numeric: true, cell: (j) => j.history.length },
          {
            label: '',
            cell: (j) => (
              <button
                type="button"
                class="secondary"
                disabled={j.running}
                onClick={(event) => {
                  event.stopPropagation();
                  runNow(j.name);
                }}
              >
                Run now
              </button>
            ),
          },
        ]}
        rows={jobs}
        rowKey={(j) => j.name}
        onRowClick={(j) => setOpen(open === j.name ? null : j.name)}
        selected={(j) => j.name === open}
      />
      {message && (
        <p class={message.error ? 'error-text' : 'muted small'} data-testid="job-message">
          {message.job}: {message.text}
        </p>
      )}
      {shown ? (
        <>
          <h3>Latest runs of {shown.name}</h3>
          <DataTable<JobRunJson>
            testId="job-history"
            columns={[
              { label: 'Run', cell: (r) => r.id },
              { label: 'Trigger', cell: (r) => r.trigger },
              { label: 'Range', cell: (r) => `${fmtTime(r.range.from)} – ${fmtTime(r.range.to)}` },
              { label: 'Started', cell: (r) => fmtTime(r.startedAt) },
              { label: 'Took', numeric: true, cell: (r) => fmtDuration(r.endedAt - r.startedAt) },
              {
                label: 'Result',
                cell: (r) => (
                  <>
                    <span class={`pill ${r.status === 'succeeded' ? 'ok' : 'failed'}`}>{r.status}</span>
                    {r.attempts > 1 ? ` after ${r.attempts} attempts` : ''}
                    {r.error ? <span class="error-text"> {r.error}</span> : null}
                  </>
                ),
              },
            ]}
            rows={shown.history}
            rowKey={(r) => r.id}
            empty="No run yet."
          />
        </>
      ) : (
        <p class="muted small">Click a job to see its latest runs.</p>
      )}
    </article>
  );
}

function ReplaysCard({ replays, now }: { replays: ReplayJson[]; now: number }) {
  return (
    <article class="card">
      <h2>Replays</h2>
      <DataTable<ReplayJson>
        testId="deployment-replays"
        columns={[
          { label: 'Replay', cell: (r) => r.id },
          { label: 'Pipeline', cell: (r) => `${r.pipeline} → v${r.version}` },
          { label: 'State', cell: (r) => <span class={`pill ${stateTone(r.state)}`}>{r.state}</span> },
          {
            label: 'Progress',
            cell: (r) => {
              const fraction = r.total > 0 ? Math.min(1, r.processed / r.total) : r.state === 'switched' ? 1 : 0;
              return (
                <span
                  class="bar"
                  role="progressbar"
                  aria-valuemin={0}
                  aria-valuemax={r.total}
                  aria-valuenow={r.processed}
                  data-testid="replay-progress"
                >
                  <span class="bar-fill" style={{ width: `${fraction * 100}%` }} />
                  <span class="bar-text">{fmtPercent(fraction)}</span>
                </span>
              );
            },
          },
          {
            label: 'Records',
            numeric: true,
            cell: (r) => `${fmtNumber(r.processed)} / ${fmtNumber(r.total)}`,
          },
          { label: 'Rate', numeric: true, cell: (r) => (r.state === 'running' ? fmtRate(r.ratePerSec) : '—') },
          {
            label: 'ETA',
            cell: (r) =>
              r.state === 'running' ? (r.etaSec === null ? '—' : fmtDuration(r.etaSec * 1000)) : (r.error ?? ''),
          },
          { label: 'Started', cell: (r) => fmtAgo(r.startedAt, now) },
          { label: 'Switched', cell: (r) => (r.switchedAt ? fmtTime(r.switchedAt) : '—') },
        ]}
        rows={[...replays].reverse()}
        rowKey={(r) => r.id}
        empty="No replay yet: sluice replay <pipeline> --from earliest reprocesses history into a new version."
      />
    </article>
  );
}

function TablesCard({ tables, now }: { tables: DeploymentTableJson[]; now: number }) {
  return (
    <article class="card">
      <h2>Tables</h2>
      <DataTable<DeploymentTableJson>
        testId="deployment-tables"
        columns={[
          { label: 'Table', cell: (t) => t.name },
          {
            label: 'Version',
            cell: (t) => (
              <>
                {t.version}
                {!t.serving && <span class="muted small"> (not served)</span>}
              </>
            ),
          },
          { label: 'From topic', cell: (t) => t.topic },
          {
            label: 'State',
            cell: (t) => (
              <>
                <span class={`pill ${stateTone(t.state)}`} title={t.detail}>
                  {t.state}
                </span>
                {t.state !== 'live' && <div class="muted small">{t.detail}</div>}
              </>
            ),
          },
          { label: 'Lag', numeric: true, title: 'records of its topic not loaded yet', cell: (t) => fmtNumber(t.lag) },
          { label: 'Rows', numeric: true, cell: (t) => fmtNumber(t.rows) },
          {
            label: 'Loaded',
            title: 'when its loader last loaded records: the freshness of what readers see',
            cell: (t) => (t.loadedAt ? fmtAgo(t.loadedAt, now) : '—'),
          },
        ]}
        rows={tables}
        rowKey={(t) => t.version}
        empty="The spec has no tables."
      />
    </article>
  );
}

/** The pill colour of a state: ok when it does its work, busy while it gets there, failed, or neutral. */
function stateTone(state: string): 'ok' | 'busy' | 'failed' | 'neutral' {
  if (['running', 'live', 'switched', 'succeeded'].includes(state)) return 'ok';
  if (state === 'failed' || state.startsWith('blocked')) return 'failed';
  if (['starting', 'restarting', 'recovering', 'catching-up', 'waiting', 'stopping'].includes(state)) return 'busy';
  return 'neutral';
}
