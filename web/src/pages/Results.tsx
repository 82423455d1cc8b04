// Results: a live chart of any serving table (pick the table, time column, measure and group-by; the server pushes
// only the points that changed, within a second of new rows) and a SQL editor whose result shows as a table and
// as a chart. The chart's choices live in the address, so a reload or a shared link shows the same chart; what is
// not chosen there comes from chartDefaults (a meaningful measure, not the table's first number).
import { useEffect, useMemo, useState } from 'preact/hooks';
import {
  type ApiIndexJson,
  SERIES_MEASURES,
  type SeriesErrorJson,
  type SeriesEventJson,
  type SeriesMeasure,
  type SeriesSpec,
  type SqlResultJson,
  type TableJson,
  type TablesJson,
} from '../../../src/http/api.ts';
import { ApiError, postJson } from '../api.ts';
import { chartDefaults, isTimeColumn, measureColumns } from '../chart-defaults.ts';
import { Chart } from '../components/Chart.tsx';
import { DataTable } from '../components/DataTable.tsx';
import { fmtAgo, fmtCell, fmtDuration, fmtNumber, fmtTime } from '../format.ts';
import { useJson, useNow, useStream } from '../hooks.ts';
import { setParams, useRoute } from '../router.ts';
import { mergeSeries, pivot } from '../series.ts';
import { type ChartableResult, chartOf, isNumericType, isTimeType, parseTime } from '../sql-chart.ts';
import { StreamingQueryEditor } from './StreamingQueries.tsx';

type Row = SeriesEventJson['rows'][number];

const BUCKETS: [string, number][] = [
  ['each value', 0],
  ['1 s', 1000],
  ['10 s', 10_000],
  ['1 min', 60_000],
  ['5 min', 300_000],
  ['1 h', 3_600_000],
];

export function Results() {
  const route = useRoute();
  const [reload, setReload] = useState(0);
  const tables = useJson<TablesJson>('/v1/tables', reload);
  const list = tables.data?.tables ?? [];
  const spec = specFromParams(route.params, list);
  return (
    <section class="page">
      <h1>Results</h1>
      <div class="card">
        <h2>Live chart</h2>
        {tables.loading && !tables.data && <p class="muted">Loading tables…</p>}
        {tables.data && list.length === 0 && (
          <p class="muted">
            No serving tables yet: a pipeline creates one with <code>serveTable(...)</code>.{' '}
            <button type="button" class="link" onClick={() => setReload((n) => n + 1)}>
              Look again
            </button>
          </p>
        )}
        {list.length > 0 && <SeriesControls tables={list} spec={spec} />}
        {spec && <LiveSeries spec={spec} />}
      </div>
      <SqlEditor tables={list} defaultTable={spec?.table} onTablesChanged={() => setReload((n) => n + 1)} />
    </section>
  );
}

/** The chart's spec from the address, completed with the table's defaults (chartDefaults) for what it leaves out. */
function specFromParams(params: URLSearchParams, tables: TableJson[]): SeriesSpec | undefined {
  const table = tables.find((t) => t.name === params.get('table')) ?? tables[0];
  if (!table) return undefined;
  const defaults = chartDefaults(table);
  const timeColumns = table.columns.filter((c) => isTimeColumn(c.type));
  const time =
    timeColumns.find((c) => c.name === params.get('time')) ?? timeColumns.find((c) => c.name === defaults?.time);
  if (!time) return undefined;
  const numeric = table.columns.filter((c) => isNumericType(c.type) && c.name !== time.name);
  // The defaults were chosen for their own time column: with another one chosen, its measure may be that column.
  const usable = defaults && defaults.column !== time.name ? defaults : undefined;
  const measure = (SERIES_MEASURES as readonly string[]).includes(params.get('measure') ?? '')
    ? (params.get('measure') as SeriesMeasure)
    : (usable?.measure ?? 'count');
  const column =
    numeric.find((c) => c.name === params.get('column')) ??
    numeric.find((c) => c.name === usable?.column) ??
    measureColumns(table, time.name)[0] ??
    numeric[0];
  const groupBy = table.columns.find((c) => c.name === params.get('group') && c.name !== time.name);
  const bucketMs = Number(params.get('bucket') ?? (time.name === defaults?.time ? defaults.bucketMs : 0));
  return {
    id: 'chart',
    table: table.name,
    time: time.name,
    measure: measure === 'count' || !column ? 'count' : measure,
    ...(measure !== 'count' && column ? { column: column.name } : {}),
    ...(groupBy ? { groupBy: groupBy.name } : {}),
    ...(BUCKETS.some(([, ms]) => ms === bucketMs) && bucketMs > 0 ? { bucketMs } : {}),
    points: 120,
  };
}

function SeriesControls({ tables, spec }: { tables: TableJson[]; spec: SeriesSpec | undefined }) {
  const table = tables.find((t) => t.name === spec?.table) ?? tables[0]!;
  const timeColumns = table.columns.filter((c) => isTimeColumn(c.type));
  const numeric = table.columns.filter((c) => isNumericType(c.type) && c.name !== spec?.time);
  const select = (label: string, name: string, value: string, options: [string, string][], disabled = false) => (
    <label class={name === 'table' ? 'field wide' : 'field'}>
      <span>{label}</span>
      <select
        name={name}
        data-testid={`chart-${name}`}
        value={value}
        disabled={disabled}
        onChange={(event) => setParams({ [name]: (event.target as HTMLSelectElement).value })}
      >
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <form class="controls" onSubmit={(e) => e.preventDefault()}>
      {select(
        'Table',
        'table',
        table.name,
        tables.map((t) => [t.name, `${t.name} (${fmtNumber(t.rows)} rows)`]),
      )}
      {timeColumns.length === 0 ? (
        <p class="muted">This table has no time column (TIMESTAMP_MS, or epoch ms as BIGINT/DOUBLE).</p>
      ) : (
        <>
          {select(
            'Time',
            'time',
            spec?.time ?? '',
            timeColumns.map((c) => [c.name, c.name]),
          )}
          {select(
            'Measure',
            'measure',
            spec?.measure ?? 'count',
            SERIES_MEASURES.map((m) => [m, m === 'count' ? 'count rows' : m]),
          )}
          {select(
            'Of',
            'column',
            spec?.column ?? '',
            numeric.map((c) => [c.name, c.name]),
            spec?.measure === 'count' || numeric.length === 0,
          )}
          {select('Group by', 'group', spec?.groupBy ?? '', [
            ['', '(none)'],
            ...table.columns.filter((c) => c.name !== spec?.time).map((c): [string, string] => [c.name, c.name]),
          ])}
          {select(
            'Bucket',
            'bucket',
            String(spec?.bucketMs ?? 0),
            BUCKETS.map(([text, ms]) => [String(ms), text]),
          )}
        </>
      )}
    </form>
  );
}

/** One stream for the chart: a full series first, then only the changed points, merged here. */
function LiveSeries({ spec }: { spec: SeriesSpec }) {
  const [rows, setRows] = useState<Row[] | undefined>();
  const [changedAt, setChangedAt] = useState<number | undefined>();
  const [error, setError] = useState<string | undefined>();
  const now = useNow();
  const query = `series=${encodeURIComponent(JSON.stringify(spec))}`;
  useEffect(() => {
    setRows(undefined);
    setError(undefined);
  }, [query]);
  const stream = useStream(query, (event, data) => {
    if (event === 'series') {
      const delta = data as SeriesEventJson;
      setRows((before) => mergeSeries(before, delta));
      setChangedAt(Date.now());
      setError(undefined);
    } else if (event === 'series-error') {
      setError((data as SeriesErrorJson).error.message);
    }
  });
  const chart = useMemo(() => pivot(rows ?? []), [rows]);
  const title = `${spec.measure}${spec.column ? `(${spec.column})` : ''} of ${spec.table} by ${spec.time}${
    spec.groupBy ? `, per ${spec.groupBy}` : ''
  }`;
  const refused = stream.state === 'failed' ? stream.error?.message : undefined;
  return (
    <div class="live-series" data-testid="live-series">
      <p class="muted small">
        {title} · {rows ? `${chart.data[0]!.length} points` : 'loading'}
        {changedAt ? ` · changed ${fmtAgo(changedAt, now)}` : ''}
        <span class={`live-dot ${stream.state}`} title={`stream ${stream.state}`} aria-hidden="true" />
      </p>
      {(error || refused) && (
        <p class="error-text" role="alert">
          {error ?? refused}
        </p>
      )}
      <Chart
        data={chart.data}
        series={chart.groups.map((g) => ({ label: g === '' ? title : g }))}
        yFormat={fmtNumber}
        height={260}
        empty={rows ? 'The table has no rows yet.' : 'Loading…'}
        label={title}
        testId="live-chart"
      />
      <details>
        <summary>Data (latest first)</summary>
        <DataTable
          columns={[
            { label: spec.time, cell: (r: Row) => fmtTime(r[0]) },
            ...(spec.groupBy ? [{ label: spec.groupBy, cell: (r: Row) => r[1] }] : []),
            { label: spec.measure, numeric: true, cell: (r: Row) => fmtNumber(r[2]) },
          ]}
          rows={[...(rows ?? [])].reverse()}
          rowKey={(r) => `${r[0]}:${r[1]}`}
          testId="live-data"
          pageSize={25}
          pageLabels={['Newer', 'Older']}
        />
      </details>
    </div>
  );
}

const SQL_KEY = 'sluice.sql';

function SqlEditor({
  tables,
  defaultTable,
  onTablesChanged,
}: {
  tables: TableJson[];
  defaultTable: string | undefined;
  onTablesChanged: () => void;
}) {
  // Where the server runs pipelines over its own log (sluice dev, sluice run), the editor also starts streaming
  // queries: scripts whose materialized views fill tables live.
  const index = useJson<ApiIndexJson>('/v1');
  const [mode, setMode] = useState<'query' | 'streaming'>('query');
  const streaming = index.data?.streamingQueries === true;
  const [sql, setSql] = useState(() => {
    try {
      return sessionStorage.getItem(SQL_KEY) ?? '';
    } catch {
      return '';
    }
  });
  const [result, setResult] = useState<SqlResultJson | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [running, setRunning] = useState(false);
  const [view, setView] = useState<'table' | 'chart'>('table');
  const example = useMemo(
    () => exampleQuery(tables.find((t) => t.name === defaultTable) ?? tables[0]),
    [tables, defaultTable],
  );
  const run = async () => {
    const text = sql.trim() || example;
    if (!sql.trim()) setSql(example);
    setRunning(true);
    setError(undefined);
    try {
      sessionStorage.setItem(SQL_KEY, text);
    } catch {
      // storage disabled
    }
    try {
      setResult(await postJson<SqlResultJson>('/v1/sql', { sql: text, maxRows: 1000 }));
    } catch (e) {
      setResult(undefined);
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : `The request failed: ${(e as Error).message}`);
    } finally {
      setRunning(false);
    }
  };
  return (
    <div class="card" data-testid="sql-panel">
      <h2>SQL</h2>
      {streaming && (
        <span class="tabs" role="tablist" aria-label="editor mode">
          <button
            type="button"
            role="tab"
            aria-selected={mode === 'query'}
            data-testid="sql-mode-query"
            onClick={() => setMode('query')}
          >
            Query
          </button>
          <button
            type="button"
            role="tab"
            aria-selected={mode === 'streaming'}
            data-testid="sql-mode-streaming"
            onClick={() => setMode('streaming')}
          >
            Start streaming query
          </button>
        </span>
      )}
      {mode === 'streaming' && streaming ? (
        <StreamingQueryEditor tables={tables} onStarted={onTablesChanged} />
      ) : (
        <QueryEditor
          sql={sql}
          setSql={setSql}
          example={example}
          run={run}
          running={running}
          result={result}
          error={error}
          view={view}
          setView={setView}
        />
      )}
    </div>
  );
}

function QueryEditor(props: {
  sql: string;
  setSql: (sql: string) => void;
  example: string;
  run: () => Promise<void>;
  running: boolean;
  result: SqlResultJson | undefined;
  error: string | undefined;
  view: 'table' | 'chart';
  setView: (view: 'table' | 'chart') => void;
}) {
  const { sql, setSql, example, run, running, result, error, view, setView } = props;
  return (
    <>
      <p class="muted small">
        Read-only SELECTs over the serving tables (DuckDB SQL). Ctrl+Enter runs the query. At most 1,000 rows are shown.
      </p>
      <form
        class="sql-form"
        onSubmit={(event) => {
          event.preventDefault();
          void run();
        }}
      >
        <textarea
          data-testid="sql-editor"
          aria-label="SQL query"
          spellcheck={false}
          rows={5}
          placeholder={example}
          value={sql}
          onInput={(event) => setSql((event.target as HTMLTextAreaElement).value)}
          onKeyDown={(event) => {
            if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
              event.preventDefault();
              void run();
            }
          }}
        />
        <div class="sql-actions">
          <button type="submit" disabled={running} data-testid="sql-run">
            {running ? 'Running…' : 'Run'}
          </button>
          {result && (
            <span class="muted small" data-testid="sql-summary">
              {result.rows.length} row{result.rows.length === 1 ? '' : 's'}
              {result.truncated ? ' (cut at the row limit)' : ''} in {fmtDuration(result.elapsedMs)}
            </span>
          )}
          {result && (
            <span class="tabs" role="tablist">
              <button type="button" role="tab" aria-selected={view === 'table'} onClick={() => setView('table')}>
                Table
              </button>
              <button type="button" role="tab" aria-selected={view === 'chart'} onClick={() => setView('chart')}>
                Chart
              </button>
            </span>
          )}
        </div>
      </form>
      {error && (
        <p class="error-text" role="alert" data-testid="sql-error">
          {error}
        </p>
      )}
      {result && view === 'table' && <ResultTable result={result} />}
      {result && view === 'chart' && <ResultChart result={result} />}
    </>
  );
}

function exampleQuery(table: TableJson | undefined): string {
  if (!table) return 'SELECT 42 AS answer';
  const time = table.columns.find((c) => isTimeType(c.type));
  return `SELECT * FROM ${table.name}${time ? ` ORDER BY ${time.name} DESC` : ''} LIMIT 100`;
}

function ResultTable({ result }: { result: SqlResultJson }) {
  return (
    <DataTable
      testId="sql-results"
      columns={result.columns.map((c, i) => ({
        label: c.name,
        title: c.type,
        numeric: isNumericType(c.type),
        // DuckDB sends timestamps as UTC text: shown in the one time format, in the browser's zone like every other
        // time (a DATE is a day, not an instant: as it is).
        cell: c.type.startsWith('TIMESTAMP')
          ? (row: unknown[]) => {
              const ms = parseTime(row[i]);
              return ms === null ? fmtCell(row[i]) : fmtTime(ms, { date: 'always', millis: true });
            }
          : (row: unknown[]) => fmtCell(row[i]),
      }))}
      rows={result.rows}
      rowKey={(_, i) => String(i)}
      pageSize={50}
      empty="The query returned no rows."
    />
  );
}

function ResultChart({ result }: { result: SqlResultJson }) {
  const candidates = result.columns.map((c) => c.name);
  const numeric = result.columns.filter((c) => isNumericType(c.type)).map((c) => c.name);
  const texts = result.columns.filter((c) => !isNumericType(c.type) && !isTimeType(c.type)).map((c) => c.name);
  const defaultX = result.columns.find((c) => isTimeType(c.type))?.name ?? candidates[0] ?? '';
  const [x, setX] = useState(defaultX);
  const [y, setY] = useState(numeric.find((n) => n !== defaultX) ?? '');
  const [split, setSplit] = useState('');
  const spec: ChartableResult = { x, y, split };
  const chart = useMemo(() => chartOf(result, spec), [result, x, y, split]);
  const field = (label: string, value: string, set: (v: string) => void, options: string[], none?: string) => (
    <label class="field">
      <span>{label}</span>
      <select value={value} onChange={(event) => set((event.target as HTMLSelectElement).value)}>
        {none !== undefined && <option value="">{none}</option>}
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <div data-testid="sql-chart">
      <div class="controls">
        {field('X', x, setX, candidates)}
        {field(
          'Y',
          y,
          setY,
          numeric.filter((n) => n !== x),
          '(all numeric)',
        )}
        {field(
          'Split by',
          split,
          setSplit,
          texts.filter((t) => t !== x),
          '(none)',
        )}
      </div>
      {chart.problem ? (
        <p class="muted">{chart.problem}</p>
      ) : (
        <Chart
          data={chart.data}
          series={chart.series.map((label) => ({ label }))}
          x={chart.x}
          xLabel={x}
          categories={chart.categories}
          bars={chart.x === 'category'}
          height={260}
          label={`chart of the query result: ${chart.series.join(', ')} by ${x}`}
        />
      )}
    </div>
  );
}
