// The SQL editor's "Streaming query" mode: a streaming SQL script (CREATE TABLE over topics, CREATE MATERIALIZED VIEW
// … AS SELECT) started as a pipeline of this server (POST /v1/streaming-queries), the queries running with a Stop
// button, and the chosen view's table shown live (its rows re-read every second while the query runs).
import { useEffect, useState } from 'preact/hooks';
import type { SqlResultJson, StreamingQueriesJson, StreamingQueryJson, TableJson } from '../../../src/http/api.ts';
import { ApiError, authHeaders, errorOf, getJson, postJson } from '../api.ts';
import { DataTable } from '../components/DataTable.tsx';
import { fmtAgo, fmtCell, fmtTime } from '../format.ts';
import { useNow } from '../hooks.ts';
import { setParams } from '../router.ts';
import { isTimeType, parseTime } from '../sql-chart.ts';

const SCRIPT_KEY = 'sluice.streaming-sql';

/** A script to start from: a view over a topic of the server (events, if there is one, as in the demo). */
export const EXAMPLE_SCRIPT = `CREATE TABLE events (
  key   VARCHAR,
  ts    BIGINT,
  value DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('topic' = 'events');

CREATE MATERIALIZED VIEW events_per_minute AS
SELECT window_start, key, count(*) AS events, sum(value) AS total
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, key;`;

export function StreamingQueryEditor({ tables, onStarted }: { tables: TableJson[]; onStarted: () => void }) {
  const [sql, setSql] = useState(() => {
    try {
      return sessionStorage.getItem(SCRIPT_KEY) ?? EXAMPLE_SCRIPT;
    } catch {
      return EXAMPLE_SCRIPT;
    }
  });
  const [error, setError] = useState<string | undefined>();
  const [starting, setStarting] = useState(false);
  const [queries, setQueries] = useState<StreamingQueryJson[]>([]);
  const [shown, setShown] = useState<string | undefined>();
  const now = useNow(2000);

  useEffect(() => {
    let live = true;
    getJson<StreamingQueriesJson>('/v1/streaming-queries').then(
      (body) => live && setQueries(body.queries),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [now]);

  const start = async () => {
    setStarting(true);
    setError(undefined);
    try {
      sessionStorage.setItem(SCRIPT_KEY, sql);
    } catch {
      // storage disabled
    }
    try {
      const { query } = await postJson<{ query: StreamingQueryJson }>('/v1/streaming-queries', { sql });
      setQueries((before) => [...before.filter((q) => q.name !== query.name), query]);
      if (query.tables[0]) setShown(query.tables[0]);
      onStarted();
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : `The request failed: ${(e as Error).message}`);
    } finally {
      setStarting(false);
    }
  };
  const stop = async (name: string) => {
    // DELETE: not in api.ts's helpers (GET and POST only).
    const response = await fetch(`/v1/streaming-queries/${encodeURIComponent(name)}`, {
      method: 'DELETE',
      headers: authHeaders(),
    });
    if (!response.ok) {
      const failure = await errorOf(response);
      setError(`${failure.code}: ${failure.message}`);
      return;
    }
    setQueries((before) => before.filter((q) => q.name !== name));
  };

  return (
    <div data-testid="streaming-panel">
      <p class="muted small">
        A streaming SQL script (the dialect of docs/sql.md): CREATE TABLE over topics, then CREATE MATERIALIZED VIEW …
        AS SELECT. It runs as a pipeline of this server until stopped; its view is a table that fills as records arrive.
        Ctrl+Enter starts it.
      </p>
      <form
        class="sql-form"
        onSubmit={(event) => {
          event.preventDefault();
          void start();
        }}
      >
        <textarea
          data-testid="streaming-editor"
          aria-label="streaming SQL script"
          spellcheck={false}
          rows={12}
          value={sql}
          onInput={(event) => setSql((event.target as HTMLTextAreaElement).value)}
          onKeyDown={(event) => {
            if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
              event.preventDefault();
              void start();
            }
          }}
        />
        <div class="sql-actions">
          <button type="submit" disabled={starting} data-testid="streaming-start">
            {starting ? 'Starting…' : 'Start streaming query'}
          </button>
        </div>
      </form>
      {error && (
        <p class="error-text" role="alert" data-testid="streaming-error">
          {error}
        </p>
      )}
      {queries.length > 0 && (
        <DataTable
          testId="streaming-queries"
          caption="Streaming queries"
          columns={[
            { label: 'query', cell: (q: StreamingQueryJson) => q.name },
            { label: 'state', cell: (q: StreamingQueryJson) => (q.error ? `${q.state}: ${q.error}` : q.state) },
            { label: 'started', cell: (q: StreamingQueryJson) => fmtAgo(q.startedAt, now) },
            {
              label: 'writes',
              cell: (q: StreamingQueryJson) => (
                <>
                  {q.tables.map((t) => (
                    <button
                      key={t}
                      type="button"
                      class="link"
                      aria-pressed={shown === t}
                      onClick={() => setShown(t)}
                      title="show this table live"
                    >
                      table {t}
                    </button>
                  ))}
                  {q.topics.length > 0 && <span class="muted"> topics {q.topics.join(', ')}</span>}
                </>
              ),
            },
            {
              label: '',
              cell: (q: StreamingQueryJson) => (
                <button type="button" data-testid={`streaming-stop-${q.name}`} onClick={() => void stop(q.name)}>
                  Stop
                </button>
              ),
            },
          ]}
          rows={queries}
          rowKey={(q) => q.name}
        />
      )}
      {shown && (
        <LiveTable
          table={shown}
          info={tables.find((t) => t.name === shown)}
          running={queries.some((q) => q.tables.includes(shown))}
        />
      )}
    </div>
  );
}

/** A view's table, re-read every second while its query runs: the latest 100 rows (by its time column, if any). */
function LiveTable({ table, info, running }: { table: string; info: TableJson | undefined; running: boolean }) {
  const [result, setResult] = useState<SqlResultJson | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [readAt, setReadAt] = useState<number | undefined>();
  const tick = useNow(1000);
  const time = info?.columns.find((c) => isTimeType(c.type))?.name;
  const sql = `SELECT * FROM "${table}"${time ? ` ORDER BY "${time}" DESC` : ''} LIMIT 100`;
  useEffect(() => {
    if (!running && result) return;
    let live = true;
    postJson<SqlResultJson>('/v1/sql', { sql, maxRows: 100 }).then(
      (body) => {
        if (!live) return;
        setResult(body);
        setError(undefined);
        setReadAt(Date.now());
      },
      (e: Error) => live && setError(e instanceof ApiError ? `${e.code}: ${e.message}` : e.message),
    );
    return () => {
      live = false;
    };
  }, [tick, sql]);
  return (
    <div class="live-table" data-testid="streaming-live">
      <p class="muted small">
        Table <code>{table}</code> · {result ? `${result.rows.length} rows shown` : 'loading'}
        {readAt ? ` · read ${fmtAgo(readAt, tick)}` : ''}
        {running ? ' · live' : ' · the query stopped'}{' '}
        {time && (
          <button type="button" class="link" onClick={() => setParams({ table, time, measure: undefined })}>
            Chart it above
          </button>
        )}
      </p>
      {error && <p class="error-text">{error}</p>}
      {result && (
        <DataTable
          testId="streaming-rows"
          columns={result.columns.map((c, i) => ({
            label: c.name,
            title: c.type,
            cell: c.type.startsWith('TIMESTAMP')
              ? (row: unknown[]) => {
                  const ms = parseTime(row[i]);
                  return ms === null ? fmtCell(row[i]) : fmtTime(ms, { date: 'always' });
                }
              : (row: unknown[]) => fmtCell(row[i]),
          }))}
          rows={result.rows}
          rowKey={(_, i) => String(i)}
          pageSize={25}
          empty="No rows yet: they appear as records arrive on the query's topics."
        />
      )}
    </div>
  );
}
