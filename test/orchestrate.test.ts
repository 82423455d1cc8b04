// `sluice up` end to end: a spec with two dependent pipelines (windowed-counts → busy-windows) in worker processes,
// tables loaded from their topics, a batch job every 3 s. A worker is SIGKILLed mid-stream: it is restarted and
// every result is in the output topic exactly once; the scheduled batch job moves the hybrid boundary and a backfill
// reconciles with the speed layer (no differences); a replay switches readers to a new version atomically while
// queries keep answering; SIGTERM stops everything gracefully.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { openLog } from '../src/log/index.ts';
import { sluice, startSluice } from '../support/processes.ts';

const SPEC = new URL('./fixtures/deployment.ts', import.meta.url).pathname;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-up-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const value = await probe().catch((error: Error) => {
      if (error.message.startsWith('backfill failed')) throw error;
      last = error.message;
      return undefined;
    });
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Status {
  pipelines: { name: string; pid?: number; state: string; restarts: number; version: number }[];
  jobs: { name: string; lastRun?: { status: string } }[];
}
let expectedWindows = 0;
const status = () => JSON.parse(fs.readFileSync(path.join(dataDir, 'deployment', 'status.json'), 'utf8')) as Status;

it('sluice up: dependent pipelines, a killed worker, batch jobs, backfill, replay and shutdown', async () => {
  const up = startSluice([
    'up',
    SPEC,
    '--data-dir',
    dataDir,
    '--kafka-port',
    '0',
    '--http-port',
    '0',
    '--checkpoint-interval',
    '200ms',
  ]);
  try {
    const url = (await up.waitFor(/HTTP API\s+(http:\/\/\S+)/))[1]!;
    await up.waitFor(/healthy/, 60_000);
    const sql = async (query: string) => {
      const response = await fetch(`${url}/v1/sql`, { method: 'POST', body: JSON.stringify({ sql: query }) });
      const body = (await response.json()) as { rows: unknown[][]; error?: { message: string } };
      if (!response.ok) throw new Error(body.error?.message);
      return body.rows;
    };

    // Six minutes of events ending a little before now, so that the scheduled batch job finds some.
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 6 * 60_000;
    const events = Array.from({ length: 6000 }, (_, i) => ({ key: `k${i % 7}`, ts: base + i * 60, value: i % 10 }));
    const expected = new Map<string, { cnt: number; total: number }>();
    for (const e of events) {
      const id = `${e.ts - (e.ts % 60_000)}/${e.key}`;
      const w = expected.get(id) ?? { cnt: 0, total: 0 };
      w.cnt++;
      w.total += e.value;
      expected.set(id, w);
    }
    expectedWindows = expected.size;
    const ingest = async (batch: object[]) => {
      const response = await fetch(`${url}/v1/topics/events/records?key=key&timestamp=ts`, {
        method: 'POST',
        body: batch.map((e) => JSON.stringify(e)).join('\n'),
      });
      assert.equal(response.status, 200, await response.text());
    };
    for (let chunk = 0; chunk < 12; chunk++) {
      await ingest(events.slice(chunk * 500, (chunk + 1) * 500));
      if (chunk === 4) {
        // Crash the upstream pipeline's worker once it has made some progress.
        const pid = status().pipelines.find((p) => p.name === 'windowed-counts')!.pid!;
        process.kill(pid, 'SIGKILL');
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    // Events of every key far ahead move the watermark past every window above.
    await ingest(Array.from({ length: 7 }, (_, k) => ({ key: `k${k}`, ts: base + 600_000, value: 0 })));

    const restarted = await until('the killed pipeline to be restarted', async () => {
      const p = status().pipelines.find((x) => x.name === 'windowed-counts')!;
      return p.restarts >= 1 && p.state === 'running' ? p : undefined;
    });
    assert.equal(restarted.restarts, 1);
    await until('every window in window_totals', async () => {
      const rows = await sql(`SELECT count(*)::INT, sum(cnt)::INT FROM "window_totals__v1$realtime"`);
      return rows[0]![0] === expected.size && rows[0]![1] === 6000 ? true : undefined;
    });
    const rows = await sql(`SELECT epoch_ms(window_start), key, cnt::INT, total FROM "window_totals__v1$realtime"`);
    for (const [start, key, cnt, total] of rows as [number, string, number, number][]) {
      assert.deepEqual({ cnt, total }, expected.get(`${start}/${key}`), `window ${start}/${key}`);
    }
    const busy = [...expected.values()].filter((w) => w.cnt >= 3).length;
    await until('busy_windows loaded', async () => {
      const [[n]] = (await sql('SELECT count(*)::INT FROM busy_windows')) as [[number]];
      if (n !== busy) throw new Error(`${n} of ${busy} rows`);
      return true;
    });

    // The scheduled batch job (every 3 s, the minute that ended ten minutes ago) has moved the hybrid boundary.
    const tableInfo = async () => {
      const tables = (await (await fetch(`${url}/v1/tables`)).json()) as {
        tables: { name: string; hybrid?: { batch: { from: number; to: number } | null } }[];
      };
      return tables.tables.find((t) => t.name === 'window_totals');
    };
    const boundary = await until(
      'a scheduled batch run',
      async () => {
        const job = status().jobs.find((j) => j.name === 'window-batch')?.lastRun;
        const batch = (await tableInfo())?.hybrid?.batch;
        return job?.status === 'succeeded' && batch ? batch : undefined;
      },
      30_000,
    );
    assert.ok(boundary.to <= base - 3 * 60_000, JSON.stringify(boundary));

    // A backfill from the boundary up to now: the batch layer agrees with the speed layer everywhere.
    const backfill = await until('the backfill (not overlapping a scheduled run)', async () => {
      const from = (await tableInfo())!.hybrid!.batch!.to;
      const to = Math.floor(Date.now() / 60_000) * 60_000;
      // Batch jobs for every range (bounded work): on a loaded machine it can run past sluice()'s default minute.
      const result = await sluice(
        ['backfill', 'window-batch', '--from', String(from), '--to', String(to), '--json', '--data-dir', dataDir],
        undefined,
        300_000,
      );
      if (result.code !== 0 && result.stderr.includes('JOB_RUNNING')) return undefined;
      if (result.code !== 0) throw new Error(`backfill failed: ${result.stderr}${result.stdout}`);
      return JSON.parse(result.stdout.toString()) as {
        status: string;
        range: { from: number; to: number };
        result: {
          rows: number;
          reconciliation: { differing: number; speedRows: number; batchRows: number; compared: string };
        };
      }[];
    });
    assert.ok(backfill.length >= 6, JSON.stringify(backfill));
    for (const run of backfill) {
      assert.equal(run.status, 'succeeded');
      const { reconciliation } = run.result;
      assert.equal(reconciliation.differing, 0, JSON.stringify(reconciliation));
      assert.equal(reconciliation.speedRows, reconciliation.batchRows);
      if (run.range.from >= base && run.range.to <= base + 360_000)
        assert.ok(reconciliation.batchRows > 0, JSON.stringify(run));
    }
    const [[hybridCount, hybridSum]] = (await sql(
      `SELECT count(*)::INT, sum(cnt)::INT FROM window_totals WHERE window_start < epoch_ms(${base + 360_000}::BIGINT)`,
    )) as [[number, number]];
    assert.deepEqual([hybridCount, hybridSum], [expected.size, 6000]);

    // A pipeline that feeds another cannot be replayed alone.
    const refused = await sluice(['replay', 'windowed-counts', '--from', 'earliest', '--data-dir', dataDir]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /REPLAY_HAS_DEPENDENTS/);

    // Replay busy-windows while queries keep answering: each sees a whole version, never an error.
    const before = await sql('SELECT epoch_ms(window_start), key, cnt::INT FROM busy_windows ORDER BY 1, 2');
    let querying = true;
    let answered = 0;
    const queries = (async () => {
      while (querying) {
        const [[n]] = (await sql('SELECT count(*)::INT FROM busy_windows')) as [[number]];
        assert.equal(n, busy);
        answered++;
      }
    })();
    const replay = await sluice(['replay', 'busy-windows', '--from', 'earliest', '--data-dir', dataDir]);
    querying = false;
    await queries;
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout.toString(), /switched: readers see version 2/);
    assert.ok(answered > 0);
    const tables = (await (await fetch(`${url}/v1/tables`)).json()) as { tables: { name: string; version?: string }[] };
    assert.equal(tables.tables.find((t) => t.name === 'busy_windows')?.version, 'busy_windows__v2');
    assert.deepEqual(await sql('SELECT epoch_ms(window_start), key, cnt::INT FROM busy_windows ORDER BY 1, 2'), before);
    await until('v2 live', async () =>
      status().pipelines.find((p) => p.name === 'busy-windows')?.version === 2 ? true : undefined,
    );
    const drop = await sluice(['replay', 'busy-windows', '--drop-version', '1', '--data-dir', dataDir]);
    assert.equal(drop.code, 0, drop.stderr);

    const st = await sluice(['status', '--data-dir', dataDir]);
    assert.equal(st.code, 0, st.stdout.toString() + st.stderr);
    assert.match(st.stdout.toString(), /windowed-counts\s+v1\s+running\s+1/);

    assert.equal(await up.stop('SIGTERM'), 0, up.output());
    assert.match(up.output(), /sluice up: stopped/);
    assert.equal((await sluice(['status', '--data-dir', dataDir])).code, 4);
  } finally {
    await up.stop('SIGKILL');
  }
  // Exactly once in the output topic itself: one record per window and key, although a worker was killed.
  const log = await openLog({ dataDir });
  try {
    const seen = new Map<string, number>();
    for (const p of log.describeTopic('window-totals').partitions) {
      // As a read_committed consumer reads it: a killed worker's aborted transactions stay in the log, skipped.
      for (let offset = p.logStartOffset; offset < p.lastStableOffset; ) {
        const page = log.readRecords('window-totals', p.partition, offset, { isolation: 'read_committed' });
        for (const r of page.records) {
          const t = JSON.parse(r.value!.toString()) as { window_start: number; key: string };
          const id = `${t.window_start}/${t.key}`;
          seen.set(id, (seen.get(id) ?? 0) + 1);
        }
        offset = page.nextOffset;
      }
    }
    assert.equal(seen.size, expectedWindows);
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      'a window result was written twice',
    );
  } finally {
    await log.close();
  }
});
