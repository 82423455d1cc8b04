// The HTTP API against a real server on loopback: durable NDJSON ingest with its refusals (bad line, too large,
// too fast), the read-only SQL endpoint and its security, bearer tokens, metrics; and freshness: an event
// ingested over HTTP is queryable in window_totals as soon as its window fires, and a late event replaces the
// row instead of adding one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import windowedCounts from '../examples/windowed-counts.ts';
import { collect, fromArrays, Pipeline } from '../src/engine/index.ts';
import { startServer } from '../src/http/index.ts';
import { type Log, openLog } from '../src/log/index.ts';
import { ServingStore, serveTable } from '../src/serve/index.ts';
import { eventually } from './helpers/broker.ts';

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

async function setup(options: { authToken?: string; maxIngestBytes?: number; ingestRatePerSec?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-http-'));
  const log = await openLog({ dataDir: dir });
  const store = await ServingStore.open({ dir: path.join(dir, 'serve') });
  const server = await startServer({ log, store, port: 0, ...options });
  cleanup.push(async () => {
    await server.close();
    await store.close();
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { log, store, server, url: server.url };
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body, headers });
const sql = async (url: string, query: string, headers: Record<string, string> = {}) => {
  const response = await post(`${url}/v1/sql`, JSON.stringify({ sql: query }), headers);
  return {
    status: response.status,
    body: (await response.json()) as { rows: unknown[][]; error?: { code: string; message: string } },
  };
};

function readValues(log: Log, topic: string): string[] {
  const out: string[] = [];
  for (const p of log.describeTopic(topic).partitions) {
    for (const r of log.readRecords(topic, p.partition, p.logStartOffset).records) out.push(r.value!.toString());
  }
  return out.sort();
}

describe('HTTP ingest', () => {
  it('acknowledges NDJSON once durable, keyed by a field, and refuses bad bodies writing nothing', async () => {
    const { log, url } = await setup({ maxIngestBytes: 10_000, ingestRatePerSec: 100 });
    await log.createTopic('events', { partitions: 3 });
    const lines = ['{"key":"a","ts":1,"value":1}', '{"key":"b","ts":2,"value":2}', '', '{"key":"a","ts":3,"value":3}'];
    const ok = await post(`${url}/v1/topics/events/records?key=key&timestamp=ts`, lines.join('\n'));
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as { count: number; offsets: { partition: number; first: number; last: number }[] };
    assert.equal(body.count, 3);
    assert.deepEqual(readValues(log, 'events'), lines.filter((l) => l !== '').sort());
    const aPartition = log
      .describeTopic('events')
      .partitions.find((p) =>
        log.readRecords('events', p.partition, 0).records.some((r) => r.key?.toString() === 'a'),
      )!;
    const keys = log.readRecords('events', aPartition.partition, 0).records.map((r) => r.key?.toString());
    assert.deepEqual(keys.filter((k) => k === 'a').length, 2, 'one key, one partition');

    const bad = await post(`${url}/v1/topics/events/records`, '{"ok":1}\n{"ok":2}\n{"broken":\n');
    assert.equal(bad.status, 400);
    const error = ((await bad.json()) as { error: { code: string; message: string; details: { line: number } } }).error;
    assert.equal(error.code, 'INVALID_RECORD');
    assert.equal(error.details.line, 3);
    assert.match(error.message, /line 3 is not valid JSON.*nothing was written/);
    const notObject = await post(`${url}/v1/topics/events/records`, '{"a":1}\n[1,2]\n');
    assert.equal(((await notObject.json()) as { error: { details: { line: number } } }).error.details.line, 2);
    const noKey = await post(`${url}/v1/topics/events/records?key=missing`, '{"a":1}\n');
    assert.equal(noKey.status, 400);
    assert.equal(readValues(log, 'events').length, 3, 'nothing written by refused requests');

    const tooLarge = await post(`${url}/v1/topics/events/records`, `${'{"pad":"x"}\n'.repeat(2000)}`);
    assert.equal(tooLarge.status, 413);
    assert.equal(((await tooLarge.json()) as { error: { code: string } }).error.code, 'PAYLOAD_TOO_LARGE');

    // A streamed body without a length is cut off at the limit, answered while the client is still sending.
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 1000;
        if (sent > 100_000_000) controller.close();
        else controller.enqueue(new TextEncoder().encode(`{"pad":"${'x'.repeat(990)}"}\n`));
      },
    });
    const streamed = await fetch(`${url}/v1/topics/events/records`, {
      method: 'POST',
      body: endless,
      duplex: 'half',
    } as RequestInit);
    assert.equal(streamed.status, 413);
    assert.ok(sent < 10_000_000, `the server stopped reading early (client sent ${sent} bytes)`);
    await endless.cancel().catch(() => {});

    const unknown = await post(`${url}/v1/topics/nope/records`, '{"a":1}\n');
    assert.equal(unknown.status, 404);

    // 100 records/s with a burst of 100: 3 used above; 90 more pass, the next 20 do not.
    assert.equal((await post(`${url}/v1/topics/events/records`, '{"a":1}\n'.repeat(90))).status, 200);
    const limited = await post(`${url}/v1/topics/events/records`, '{"a":1}\n'.repeat(20));
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal(readValues(log, 'events').length, 93);
  });
});

describe('HTTP ingest, all or nothing', () => {
  it('writes nothing when any record is refused, whatever partition the others go to', async () => {
    const { log, url } = await setup();
    // Small batches, so that one record of 600 bytes is too large while the others are fine.
    await log.createTopic('mixed', { partitions: 3, config: { maxMessageBytes: 512 } });
    const lines = Array.from({ length: 30 }, (_, i) => `{"key":"k${i}","n":${i}}`);
    lines.splice(17, 0, `{"key":"big","pad":"${'x'.repeat(600)}"}`);
    const refused = await post(`${url}/v1/topics/mixed/records?key=key`, lines.join('\n'));
    assert.equal(refused.status, 400);
    const error = ((await refused.json()) as { error: { code: string; message: string; details: { line: number } } })
      .error;
    assert.equal(error.code, 'RECORD_TOO_LARGE');
    assert.equal(error.details.line, 18);
    assert.match(error.message, /line 18 is \d+ bytes.*nothing was written/);
    assert.deepEqual(
      log.describeTopic('mixed').partitions.map((p) => p.logEndOffset),
      [0, 0, 0],
      'no partition got any record',
    );
  });

  it('takes a 16 MiB body of one key in batches that fit the topic, every record readable', async () => {
    const { log, url } = await setup({ ingestRatePerSec: 1_000_000 });
    await log.createTopic('bulk', { partitions: 2 });
    const pad = 'y'.repeat(1000);
    const count = Math.floor((16 * 1024 * 1024 - 1024) / (pad.length + 40));
    const body = Array.from({ length: count }, (_, i) => `{"key":"one","i":${i},"pad":"${pad}"}`).join('\n');
    assert.ok(body.length > 15 * 1024 * 1024 && body.length <= 16 * 1024 * 1024, `${body.length} bytes`);
    const ok = await post(`${url}/v1/topics/bulk/records?key=key`, body);
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal(((await ok.json()) as { count: number }).count, count);
    const partition = log.describeTopic('bulk').partitions.find((p) => p.logEndOffset > 0)!;
    assert.equal(partition.logEndOffset, count, 'one key, one partition, every record');
    let next = 0;
    for (let offset = 0; offset < count; ) {
      const page = log.readRecords('bulk', partition.partition, offset);
      for (const record of page.records)
        assert.equal((JSON.parse(record.value!.toString()) as { i: number }).i, next++);
      offset = page.nextOffset;
    }
    assert.equal(next, count);
  });

  it('refuses invalid UTF-8 with 400 naming the line, rather than storing replaced characters', async () => {
    const { log, url } = await setup();
    await log.createTopic('text', { partitions: 1 });
    const body = Buffer.concat([
      Buffer.from('{"a":"fine"}\n{"b":"'),
      Buffer.from([0xc3, 0x28]), // a broken two-byte sequence
      Buffer.from('"}\n'),
    ]);
    const refused = await fetch(`${url}/v1/topics/text/records`, { method: 'POST', body });
    assert.equal(refused.status, 400);
    const error = ((await refused.json()) as { error: { code: string; message: string; details: { line: number } } })
      .error;
    assert.equal(error.code, 'INVALID_RECORD');
    assert.equal(error.details.line, 2);
    assert.match(error.message, /line 2 is not valid UTF-8/);
    assert.equal(log.describeTopic('text').partitions[0]!.logEndOffset, 0);
    const accented = await post(`${url}/v1/topics/text/records`, '{"name":"Zoë Ångström"}\n');
    assert.equal(accented.status, 200);
    assert.equal(readValues(log, 'text')[0], '{"name":"Zoë Ångström"}', 'valid UTF-8 is stored as sent');
  });
});

describe('HTTP SQL', () => {
  it('answers SELECTs and refuses everything else with 400, a runaway query with 408', async () => {
    const { url } = await setup();
    const ok = await sql(url, 'SELECT 40 + 2 AS answer');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.rows, [[42]]);
    for (const attack of [
      "SELECT * FROM read_csv('/etc/passwd')",
      "COPY (SELECT 1) TO '/tmp/sluice-http.csv'",
      "ATTACH '/tmp/sluice-http.db'",
      'INSTALL httpfs',
      'LOAD httpfs',
      'CREATE TABLE t (a INT)',
      'SELECT 1; SELECT 2',
      'SELECT 1; DROP TABLE window_totals',
      'SET enable_external_access = true',
      'PRAGMA enable_profiling',
      "SELECT * FROM read_parquet('http://example.com/x.parquet')",
      "SELECT * FROM read_text('/etc/hostname')",
    ]) {
      const refused = await sql(url, attack);
      assert.equal(refused.status, 400, attack);
      assert.ok(['READ_ONLY', 'INVALID_SQL'].includes(refused.body.error!.code), attack);
    }
    const runaway = await post(
      `${url}/v1/sql`,
      JSON.stringify({ sql: 'SELECT count(*) FROM range(100000000000)', timeoutMs: 200 }),
    );
    assert.equal(runaway.status, 408);
    const notJson = await post(`${url}/v1/sql`, 'SELECT 1');
    assert.equal(notJson.status, 400);
  });

  it('requires the bearer token when one is set, and refuses a public address without one', async () => {
    const { url } = await setup({ authToken: 's3cret' });
    assert.equal((await fetch(`${url}/health`)).status, 401);
    assert.equal((await sql(url, 'SELECT 1')).status, 401);
    assert.equal((await sql(url, 'SELECT 1', { authorization: 'Bearer s3cret' })).status, 200);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-http-'));
    const log = await openLog({ dataDir: dir });
    await assert.rejects(startServer({ log, host: '0.0.0.0', port: 0 }), { code: 'INSECURE_BIND' });
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('exposes Prometheus metrics for ingest, queries, the log, serving tables and registered pipelines', async () => {
    const { log, url, server, store } = await setup();
    const pipeline = new Pipeline({ name: 'registered' });
    pipeline.source(fromArrays([[1, 2, 3]])).sinkTo(collect());
    await pipeline.run();
    const undo = server.registerPipelineMetrics(pipeline);
    const sink = serveTable({ store, name: 'm_rows', columns: [{ name: 'x', type: 'BIGINT' }] });
    await sink.open?.();
    await sink.write({ values: [{ x: 1 }, { x: 2 }], timestamps: [0, 0] });
    await sink.close?.();
    await log.createTopic('m', { partitions: 1 });
    await post(`${url}/v1/topics/m/records`, '{"a":1}\n{"a":2}\n');
    await sql(url, 'SELECT 1');
    const text = await (await fetch(`${url}/metrics`)).text();
    assert.match(text, /sluice_ingest_records_total\{topic="m"\} 2/);
    assert.match(text, /sluice_log_end_offset\{topic="m",partition="0"\} 2/);
    assert.match(text, /sluice_sql_query_duration_seconds_count 1/);
    assert.match(text, /sluice_serving_rows_written_total\{table="m_rows"\} 2/);
    assert.match(text, /sluice_operator_records_in_total\{pipeline="registered",operator="[^"]+"\} 3/);
    assert.match(text, /# TYPE sluice_http_requests_total counter/);
    const pipelines = (await (await fetch(`${url}/v1/pipelines`)).json()) as { pipelines: { name: string }[] };
    assert.deepEqual(
      pipelines.pipelines.map((p) => p.name),
      ['registered'],
    );
    undo();
    assert.doesNotMatch(await (await fetch(`${url}/metrics`)).text(), /pipeline="registered"/);
  });

  it('answers /health', async () => {
    const { url } = await setup();
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const missing = await fetch(`${url}/v1/nothing`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'UNKNOWN_ROUTE');
  });
});

describe('freshness', () => {
  it('shows an event ingested over HTTP in window_totals once its window fires; a late event replaces the row', async () => {
    const { log, store, url } = await setup();
    const pipeline = await windowedCounts({ log, bounded: false, dataDir: log.dataDir, serving: store });
    const running = pipeline.run();
    cleanup.push(async () => {
      pipeline.stop();
      await running;
    });
    const ingest = (events: object[]) =>
      post(`${url}/v1/topics/events/records?key=key&timestamp=ts`, events.map((e) => JSON.stringify(e)).join('\n'));
    const rowsOf = async () =>
      (await sql(url, 'SELECT key, cnt, total, epoch_ms(window_start) FROM window_totals ORDER BY key')).body.rows ??
      [];
    assert.equal(
      (
        await ingest([
          { key: 'a', ts: 1000, value: 2 },
          { key: 'a', ts: 2000, value: 3 },
        ])
      ).status,
      200,
    );
    // Every partition must pass 65 s for the first window to fire (the watermark is their minimum).
    const advance = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'].map((key) => ({ key, ts: 70_000, value: 0 }));
    await ingest(advance);
    await eventually(async () => (await rowsOf()).some((r) => r[0] === 'a'), 'window 0 of key a', 10_000);
    assert.deepEqual(
      (await rowsOf()).filter((r) => r[0] === 'a'),
      [['a', '2', 5, '0']],
    );
    // 5 s late: within the 30 s of allowed lateness, so the row is updated, not duplicated.
    await ingest([{ key: 'a', ts: 3000, value: 10 }]);
    await eventually(async () => (await rowsOf()).some((r) => r[0] === 'a' && r[1] === '3'), 'the update', 10_000);
    assert.deepEqual(
      (await rowsOf()).filter((r) => r[0] === 'a'),
      [['a', '3', 15, '0']],
    );
    const total = await sql(url, "SELECT count(*) FROM window_totals WHERE key = 'a'");
    assert.deepEqual(total.body.rows, [['1']]);
  });
});
