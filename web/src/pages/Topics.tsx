// Topics: every topic's partitions, offsets, bytes and produce rate, and for the chosen topic who reads it —
// consumer groups by committed offset, pipelines by their sources' positions — with lag per partition over time.
// The server samples once a second and sends the last minutes first, so the charts start full. Under them, the
// chosen topic's messages (RecordBrowser). Long lists (topics, partitions, readers) show a page at a time.
import { useMemo, useState } from 'preact/hooks';
import type { ConsumerJson, TopicJson, TopicsHistoryPoint, TopicsJson } from '../../../src/http/api.ts';
import { Chart } from '../components/Chart.tsx';
import { type Column, DataTable } from '../components/DataTable.tsx';
import { Pager, usePage } from '../components/Pager.tsx';
import { RecordBrowser } from '../components/RecordBrowser.tsx';
import { Stat } from '../components/Stat.tsx';
import { fmtBytes, fmtDuration, fmtNumber, fmtRate } from '../format.ts';
import { pushLimited, useStream } from '../hooks.ts';
import { setParams, useRoute } from '../router.ts';

const KEEP = 300;
/** Readers shown at once: each has a table and a chart. */
const READERS_PAGE = 6;

export function Topics() {
  const route = useRoute();
  const [latest, setLatest] = useState<TopicsJson | undefined>();
  const [history, setHistory] = useState<TopicsHistoryPoint[]>([]);
  const stream = useStream('channels=topics', (event, data) => {
    if (event !== 'topics') return;
    const snapshot = data as TopicsJson;
    setLatest(snapshot);
    if (snapshot.history) setHistory(snapshot.history.slice(-KEEP));
    else setHistory((list) => pushLimited(list, pointOf(snapshot), KEEP));
  });
  const produce = useMemo(() => produceSeries(history), [history]);

  if (!latest) {
    return (
      <section class="page">
        <h1>Topics</h1>
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
  const selectedName = route.params.get('topic') ?? busiest(latest.topics)?.name;
  const selected = latest.topics.find((t) => t.name === selectedName);
  const columns: Column<TopicJson>[] = [
    { label: 'Topic', cell: (t) => <strong>{t.name}</strong> },
    { label: 'Partitions', numeric: true, cell: (t) => t.partitions.length },
    { label: 'Records', numeric: true, cell: (t) => fmtNumber(t.records), title: 'records held (end − start)' },
    { label: 'Bytes', numeric: true, cell: (t) => fmtBytes(t.bytes) },
    { label: 'Produce rate', numeric: true, cell: (t) => fmtRate(t.recordsPerSec) },
    {
      label: 'Retention',
      cell: (t) =>
        [
          t.retention.ms >= 0 ? fmtDuration(t.retention.ms) : 'forever',
          t.retention.bytes >= 0 ? fmtBytes(t.retention.bytes) : '',
        ]
          .filter(Boolean)
          .join(' / '),
    },
  ];
  return (
    <section class="page">
      <h1>Topics</h1>
      <div class="stats">
        <Stat label="topics" value={latest.topics.length} />
        <Stat label="produced" value={fmtRate(latest.topics.reduce((s, t) => s + (t.recordsPerSec ?? 0), 0))} />
        <Stat label="on disk" value={fmtBytes(latest.topics.reduce((s, t) => s + t.bytes, 0))} />
        <Stat
          label="consumer lag"
          value={fmtNumber(latest.consumers.reduce((s, c) => s + c.lag, 0))}
          hint="records not yet read, summed over consumer groups and pipelines"
        />
      </div>
      <div class="card">
        <DataTable
          columns={columns}
          rows={latest.topics}
          rowKey={(t) => t.name}
          testId="topics-table"
          caption="Select a topic for its partitions and readers"
          empty="No topics yet."
          // Another topic: the message browser starts again at its latest records.
          onRowClick={(t) =>
            setParams({
              topic: t.name,
              partition: undefined,
              offset: undefined,
              time: undefined,
              key: undefined,
            })
          }
          selected={(t) => t.name === selected?.name}
          pageSize={25}
        />
        <h3>Produce rate</h3>
        <Chart
          data={produce.data}
          series={produce.series}
          yFormat={fmtNumber}
          height={180}
          empty="Collecting samples…"
          label="records per second appended to each topic"
          testId="produce-chart"
        />
      </div>
      {selected && <TopicDetail topic={selected} consumers={latest.consumers} history={history} />}
    </section>
  );
}

function TopicDetail(props: { topic: TopicJson; consumers: ConsumerJson[]; history: TopicsHistoryPoint[] }) {
  const { topic, history } = props;
  const readers = props.consumers.filter((c) => c.topic === topic.name);
  const page = usePage(readers.length, READERS_PAGE);
  type Row = TopicJson['partitions'][number];
  const columns: Column<Row>[] = [
    { label: 'Partition', numeric: true, cell: (p) => p.partition },
    { label: 'Start offset', numeric: true, cell: (p) => fmtNumber(p.startOffset) },
    { label: 'End offset', numeric: true, cell: (p) => fmtNumber(p.endOffset) },
    { label: 'Records', numeric: true, cell: (p) => fmtNumber(p.endOffset - p.startOffset) },
    { label: 'Bytes', numeric: true, cell: (p) => fmtBytes(p.bytes) },
    { label: 'Records/s', numeric: true, cell: (p) => fmtNumber(p.recordsPerSec) },
    { label: 'Bytes/s', numeric: true, cell: (p) => fmtBytes(p.bytesPerSec) },
  ];
  return (
    <div class="card" data-testid="topic-detail">
      <h2>{topic.name}</h2>
      <DataTable
        columns={columns}
        rows={topic.partitions}
        rowKey={(p) => String(p.partition)}
        testId="partitions"
        pageSize={20}
      />
      <h3>Readers</h3>
      {readers.length === 0 && (
        <p class="muted">No consumer group has committed offsets for this topic and no pipeline here reads it.</p>
      )}
      <div class="grid-2">
        {readers.slice(page.start, page.end).map((reader) => (
          <ReaderLag key={reader.id} reader={reader} history={history} />
        ))}
      </div>
      <Pager state={page} total={readers.length} testId="readers-pager" />
      <RecordBrowser key={topic.name} topic={topic} />
    </div>
  );
}

function ReaderLag({ reader, history }: { reader: ConsumerJson; history: TopicsHistoryPoint[] }) {
  const data = useMemo(() => {
    const xs = history.map((h) => h.at);
    const ys = reader.partitions.map((p) => history.map((h) => h.lag[reader.id]?.[p.partition] ?? null));
    return [xs, ...ys];
  }, [history, reader.id, reader.partitions]);
  return (
    <div class="reader" data-testid="reader" data-reader={reader.id}>
      <h4>
        <span class="pill neutral">{reader.kind === 'group' ? 'consumer group' : 'pipeline'}</span> {reader.name}
        <span class="muted small"> · lag {fmtNumber(reader.lag)}</span>
      </h4>
      <DataTable
        columns={[
          { label: 'Partition', numeric: true, cell: (p) => p.partition },
          {
            label: reader.kind === 'group' ? 'Committed' : 'Next to read',
            numeric: true,
            cell: (p) => fmtNumber(p.offset),
          },
          { label: 'End', numeric: true, cell: (p) => fmtNumber(p.endOffset) },
          { label: 'Lag', numeric: true, cell: (p) => fmtNumber(p.lag) },
        ]}
        rows={reader.partitions}
        rowKey={(p) => String(p.partition)}
        pageSize={10}
      />
      <Chart
        data={data}
        series={reader.partitions.map((p) => ({ label: `partition ${p.partition}` }))}
        yFormat={fmtNumber}
        height={150}
        empty="Collecting samples…"
        label={`lag per partition of ${reader.name} on ${reader.topic}`}
      />
    </div>
  );
}

function pointOf(snapshot: TopicsJson): TopicsHistoryPoint {
  const point: TopicsHistoryPoint = { at: snapshot.at, produce: {}, lag: {} };
  for (const t of snapshot.topics) if (t.recordsPerSec !== null) point.produce[t.name] = t.recordsPerSec;
  for (const c of snapshot.consumers) point.lag[c.id] = c.partitions.map((p) => p.lag);
  return point;
}

function produceSeries(history: TopicsHistoryPoint[]) {
  const names = [...new Set(history.flatMap((h) => Object.keys(h.produce)))].sort().slice(0, 10);
  return {
    data: [history.map((h) => h.at), ...names.map((n) => history.map((h) => h.produce[n] ?? null))],
    series: names.map((label) => ({ label })),
  };
}

function busiest(topics: TopicJson[]): TopicJson | undefined {
  return [...topics].sort((a, b) => (b.recordsPerSec ?? 0) - (a.recordsPerSec ?? 0) || b.records - a.records)[0];
}
