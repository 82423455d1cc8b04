// The message browser of a topic, as Redpanda Console has: a partition's latest records, or from an offset or a
// time, or those with a key; each with its offset, timestamp, key, value (JSON re-indented, text, or hex) and headers,
// and older/newer pages. What is shown is in the address (partition, offset or time, key, limit), so a link to a
// record opens on it. Records are read when asked (Show), not streamed: a page being read should not move.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { RecordBytesJson, TopicJson, TopicRecordJson, TopicRecordsJson } from '../../../src/http/api.ts';
import { ApiError, getJson } from '../api.ts';
import { fmtNumber, fmtTime, parseTimeInput } from '../format.ts';
import { showBytes } from '../records.ts';
import { setParams, useRoute } from '../router.ts';
import { type Column, DataTable } from './DataTable.tsx';

const LIMITS = ['20', '50', '100', '500'];

type Mode = 'latest' | 'offset' | 'time';

/** The browse request the address asks for; null partition: the topic's first. */
function requested(params: URLSearchParams, topic: TopicJson) {
  const partition = Number(params.get('partition') ?? topic.partitions[0]?.partition ?? 0);
  const offset = params.get('offset');
  const time = params.get('time');
  const mode: Mode = offset !== null ? 'offset' : time !== null ? 'time' : 'latest';
  const limit = LIMITS.includes(params.get('limit') ?? '') ? params.get('limit')! : '20';
  return { partition, mode, at: offset ?? time ?? '', key: params.get('key') ?? '', limit };
}

export function RecordBrowser({ topic }: { topic: TopicJson }) {
  const route = useRoute();
  const asked = requested(route.params, topic);
  // The form, edited freely; Show puts it in the address, which is what is read.
  const [form, setForm] = useState(asked);
  const [result, setResult] = useState<TopicRecordsJson | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [loading, setLoading] = useState(false);
  const [reload, setReload] = useState(0);
  const askedKey = JSON.stringify(asked);

  useEffect(() => {
    setForm(asked);
  }, [askedKey]);

  useEffect(() => {
    const query = new URLSearchParams({ limit: asked.limit });
    if (asked.mode === 'offset') query.set('offset', asked.at);
    if (asked.mode === 'time') {
      const ms = parseTimeInput(asked.at);
      if (ms === null) {
        setError(`"${asked.at}" is not a time: write it as 2026-12-04 15:04:05 (your time zone) or epoch ms`);
        setResult(undefined);
        return;
      }
      query.set('timestamp', String(ms));
    }
    if (asked.key !== '') query.set('key', asked.key);
    let current = true;
    setLoading(true);
    const path = `/v1/topics/${encodeURIComponent(topic.name)}/partitions/${asked.partition}/records?${query}`;
    getJson<TopicRecordsJson>(path).then(
      (body) => {
        if (!current) return;
        setResult(body);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (!current) return;
        setResult(undefined);
        setError(e instanceof ApiError ? `${e.code}: ${e.message}` : `The request failed: ${(e as Error).message}`);
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [topic.name, askedKey, reload]);

  const show = (next: typeof form) => {
    setParams({
      partition: String(next.partition),
      offset: next.mode === 'offset' ? next.at.trim() || '0' : undefined,
      time: next.mode === 'time' ? next.at.trim() : undefined,
      key: next.key === '' ? undefined : next.key,
      limit: next.limit,
    });
    setReload((n) => n + 1);
  };
  const goTo = (offset: number | null) =>
    show({ ...asked, mode: offset === null ? 'latest' : 'offset', at: String(offset ?? '') });

  const first = result?.records[0];
  const last = result?.records.at(-1);
  const limit = Number(asked.limit);
  const byKey = asked.key !== '';
  const columns: Column<TopicRecordJson>[] = [
    { label: 'Offset', numeric: true, cell: (r) => <span data-offset={r.offset}>{r.offset}</span> },
    { label: 'Timestamp', cell: (r) => fmtTime(r.timestamp, { date: 'always', millis: true }) },
    { label: 'Key', cell: (r) => <Bytes bytes={r.key} testId="record-key" /> },
    { label: 'Value', cell: (r) => <Bytes bytes={r.value} testId="record-value" /> },
    {
      label: 'Headers',
      cell: (r) =>
        r.headers.length === 0 ? (
          <span class="muted">—</span>
        ) : (
          r.headers.map((h, i) => (
            <div key={i}>
              <code>{h.key}</code>: {showBytes(h.value).preview}
            </div>
          ))
        ),
    },
  ];
  // Each control has the id its label names (one browser a page).
  const field = (label: string, id: string, children: ComponentChildren) => (
    <div class="field">
      <label htmlFor={id}>{label}</label>
      {children}
    </div>
  );
  return (
    <div class="record-browser" data-testid="record-browser">
      <h3>Messages</h3>
      <form
        class="controls"
        onSubmit={(event) => {
          event.preventDefault();
          show(form);
        }}
      >
        {field(
          'Partition',
          'records-partition',
          <select
            id="records-partition"
            data-testid="records-partition"
            value={String(form.partition)}
            onChange={(e) => show({ ...form, partition: Number((e.target as HTMLSelectElement).value) })}
          >
            {topic.partitions.map((p) => (
              <option key={p.partition} value={String(p.partition)}>
                {p.partition} ({fmtNumber(p.endOffset - p.startOffset)} records)
              </option>
            ))}
          </select>,
        )}
        {field(
          'From',
          'records-mode',
          <select
            id="records-mode"
            data-testid="records-mode"
            value={form.mode}
            onChange={(e) => setForm({ ...form, mode: (e.target as HTMLSelectElement).value as Mode, at: '' })}
          >
            <option value="latest">the latest records</option>
            <option value="offset">an offset</option>
            <option value="time">a time</option>
          </select>,
        )}
        {form.mode !== 'latest' &&
          field(
            form.mode === 'offset' ? 'Offset' : 'Time',
            'records-at',
            <input
              id="records-at"
              data-testid="records-at"
              value={form.at}
              inputMode={form.mode === 'offset' ? 'numeric' : undefined}
              placeholder={
                form.mode === 'offset' ? String(result?.startOffset ?? 0) : '2026-12-04 15:04:05 or epoch ms'
              }
              onInput={(e) => setForm({ ...form, at: (e.target as HTMLInputElement).value })}
            />,
          )}
        {field(
          'Key',
          'records-key',
          <input
            id="records-key"
            data-testid="records-key"
            value={form.key}
            placeholder="any key"
            onInput={(e) => setForm({ ...form, key: (e.target as HTMLInputElement).value })}
          />,
        )}
        {field(
          'Show',
          'records-limit',
          <select
            id="records-limit"
            data-testid="records-limit"
            value={form.limit}
            onChange={(e) => show({ ...form, limit: (e.target as HTMLSelectElement).value })}
          >
            {LIMITS.map((n) => (
              <option key={n} value={n}>
                {n} records
              </option>
            ))}
          </select>,
        )}
        <div class="field">
          <span>&nbsp;</span>
          <button type="submit" data-testid="records-show" disabled={loading}>
            {loading ? 'Reading…' : 'Show'}
          </button>
        </div>
      </form>
      {error && (
        <p class="error-text" role="alert" data-testid="records-error">
          {error}
        </p>
      )}
      {result && (
        <>
          <p class="muted small" data-testid="records-summary">
            {summary(result, byKey)}
          </p>
          <DataTable
            columns={columns}
            rows={result.records}
            rowKey={(r) => String(r.offset)}
            testId="records-table"
            empty={byKey ? 'No record with that key where it looked.' : 'No records there.'}
          />
          <nav class="pager" aria-label="records">
            <button
              type="button"
              class="secondary"
              data-testid="records-older"
              disabled={byKey || !first || first.offset <= result.startOffset}
              onClick={() => first && goTo(Math.max(result.startOffset, first.offset - limit))}
            >
              ← Older
            </button>
            <button
              type="button"
              class="secondary"
              data-testid="records-newer"
              disabled={result.nextOffset >= result.endOffset}
              onClick={() => goTo(result.nextOffset)}
            >
              {byKey ? 'Search on' : 'Newer'} →
            </button>
            <button
              type="button"
              class="secondary"
              data-testid="records-latest"
              onClick={() => goTo(null)}
              disabled={asked.mode === 'latest' && !!last && last.offset + 1 >= result.endOffset}
            >
              Latest
            </button>
          </nav>
        </>
      )}
    </div>
  );
}

function summary(result: TopicRecordsJson, byKey: boolean): string {
  const { records, startOffset, endOffset, scan } = result;
  const held = `partition holds offsets ${fmtNumber(startOffset)}–${fmtNumber(Math.max(startOffset, endOffset - 1))}`;
  const shown =
    records.length === 0
      ? 'no records'
      : `${records.length} record${records.length === 1 ? '' : 's'}, offsets ${records[0]!.offset}–${records.at(-1)!.offset}`;
  const parts = [shown, held];
  if (byKey && scan) {
    parts.push(
      `searched ${fmtNumber(scan.records)} records (offsets ${scan.from}–${Math.max(scan.from, scan.to - 1)})${
        scan.bounded ? ', the most one search reads: give an offset or a time to search elsewhere' : ''
      }`,
    );
  }
  if (result.truncated) parts.push('fewer than asked: the answer reached its size limit');
  return parts.join(' · ');
}

/** Key or value: a one-line preview that opens to the whole of it. */
function Bytes({ bytes, testId }: { bytes: RecordBytesJson | null; testId: string }) {
  const shown = showBytes(bytes);
  if (shown.kind === 'null')
    return (
      <span class="muted" data-testid={testId} data-kind="null">
        null
      </span>
    );
  const label = shown.kind === 'hex' ? 'binary (hex)' : shown.kind === 'json' ? 'JSON' : 'text';
  // Short single-line text needs no opening.
  if (shown.kind === 'text' && shown.full === shown.preview && !shown.note) {
    return (
      <code data-testid={testId} data-kind="text" class="record-value">
        {shown.full}
      </code>
    );
  }
  return (
    <details class="record-value" data-testid={testId} data-kind={shown.kind}>
      <summary title={label}>{shown.preview}</summary>
      <pre>{shown.full}</pre>
      <span class="muted small">
        {label}
        {shown.note ? ` · ${shown.note}` : ''}
      </span>
    </details>
  );
}
