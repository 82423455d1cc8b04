// The serving store and its table sink: appends and upserts, late updates that replace (never duplicate) a row,
// schema mismatches, retention, exactly-once recovery, and a SQL endpoint that refuses anything but reading.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ServingStore, serveTable } from './index.ts';

const dirs: string[] = [];
const stores: ServingStore[] = [];
after(async () => {
  for (const store of stores) await store.close();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function open(dir: string | ':memory:' = ':memory:'): Promise<ServingStore> {
  const store = await ServingStore.open({ dir });
  stores.push(store);
  return store;
}

const batch = <T>(values: T[]) => ({ values, timestamps: values.map(() => 0) });
const rows = async (store: ServingStore, sql: string) => (await store.query(sql)).rows;

const totals = [
  { name: 'window_start', type: 'TIMESTAMP_MS' as const },
  { name: 'key', type: 'VARCHAR' as const },
  { name: 'cnt', type: 'BIGINT' as const },
];

describe('serving tables', () => {
  it('append rows and upsert by key: a late update replaces the row, a delete removes it', async () => {
    const store = await open();
    const log = serveTable({
      store,
      name: 'events',
      columns: [
        { name: 'k', type: 'VARCHAR' },
        { name: 'v', type: 'DOUBLE' },
      ],
    });
    await log.open?.();
    await log.write(
      batch([
        { k: 'a', v: 1 },
        { k: 'a', v: 2 },
      ]),
    );
    await (log as { flush(): Promise<void> }).flush();
    assert.deepEqual(await rows(store, 'SELECT k, v FROM events ORDER BY v'), [
      ['a', 1],
      ['a', 2],
    ]);

    const sink = serveTable({ store, name: 'window_totals', columns: totals, key: ['window_start', 'key'] });
    await sink.open?.();
    await sink.write(
      batch([
        { window_start: 60_000, key: 'a', cnt: 3, kind: 'insert' },
        { window_start: 60_000, key: 'b', cnt: 1, kind: 'insert' },
      ]),
    );
    await sink.flush?.();
    await sink.write(batch([{ window_start: 60_000, key: 'a', cnt: 4, kind: 'update' }]));
    await sink.flush?.();
    assert.deepEqual(await rows(store, 'SELECT key, cnt, epoch_ms(window_start) FROM window_totals ORDER BY key'), [
      ['a', '4', '60000'],
      ['b', '1', '60000'],
    ]);
    // Several versions of one key in one flush: the last one wins.
    await sink.write(
      batch([
        { window_start: 60_000, key: 'b', cnt: 2, kind: 'update' },
        { window_start: 60_000, key: 'b', cnt: 5, kind: 'update' },
        { window_start: 60_000, key: 'a', cnt: 4, kind: 'delete' },
      ]),
    );
    await sink.flush?.();
    assert.deepEqual(await rows(store, 'SELECT key, cnt FROM window_totals ORDER BY key'), [['b', '5']]);
    const tables = await store.listTables();
    assert.deepEqual(
      tables.map((t) => [t.name, t.kind, t.rows]),
      [
        ['events', 'append', 2],
        ['window_totals', 'keyed', 1],
      ],
    );
    await log.close?.();
    await sink.close?.();
  });

  it('refuse rows and redefinitions that do not fit the schema, writing nothing of the flush', async () => {
    const store = await open();
    const sink = serveTable({ store, name: 't', columns: totals, key: ['key'] });
    await sink.open?.();
    await sink.write(
      batch([
        { window_start: 1, key: 'a', cnt: 1, kind: 'insert' },
        { window_start: 2, key: 'b', cnt: 'x' },
      ]),
    );
    await assert.rejects(sink.flush!(), {
      code: 'SCHEMA_MISMATCH',
      message: /column cnt \(BIGINT\) needs an integer, got "x"/,
    });
    assert.deepEqual(await rows(store, 'SELECT count(*) FROM t'), [['0']]);
    const other = serveTable({ store, name: 't', columns: totals.slice(0, 2), key: ['key'] });
    await assert.rejects(other.open!(), { code: 'SCHEMA_MISMATCH', message: /exists with another definition/ });
    await assert.rejects(serveTable({ store, name: 'bad name', columns: totals }).open!(), { code: 'INVALID_TABLE' });
    await sink.close?.();
  });

  it('roll back to a checkpoint exactly: later rows go, superseded versions come back', async () => {
    const store = await open();
    const sink = serveTable({ store, name: 'w', columns: totals, key: ['window_start', 'key'] });
    await sink.open?.();
    await sink.recover?.(undefined);
    await sink.write(batch([{ window_start: 0, key: 'a', cnt: 1, kind: 'insert' }]));
    const state = await sink.prepareCheckpoint!(1);
    await sink.commitCheckpoint!(1);
    await sink.write(
      batch([
        { window_start: 0, key: 'a', cnt: 2, kind: 'update' },
        { window_start: 0, key: 'b', cnt: 7, kind: 'insert' },
      ]),
    );
    await sink.flush!();
    assert.deepEqual(await rows(store, 'SELECT key, cnt FROM w ORDER BY key'), [
      ['a', '2'],
      ['b', '7'],
    ]);
    // A crash: the new sink instance recovers to the checkpoint, then the replay writes the same rows again.
    const again = serveTable({ store, name: 'w', columns: totals, key: ['window_start', 'key'] });
    await again.open?.();
    await again.recover!(structuredClone(state));
    assert.deepEqual(await rows(store, 'SELECT key, cnt FROM w ORDER BY key'), [['a', '1']]);
    await again.write(
      batch([
        { window_start: 0, key: 'a', cnt: 2, kind: 'update' },
        { window_start: 0, key: 'b', cnt: 7, kind: 'insert' },
      ]),
    );
    await again.prepareCheckpoint!(2);
    await again.commitCheckpoint!(2);
    assert.deepEqual(await rows(store, 'SELECT key, cnt FROM w ORDER BY key'), [
      ['a', '2'],
      ['b', '7'],
    ]);
    assert.deepEqual(await rows(store, 'SELECT count(*) FROM "w$rows"'), [['2']], 'superseded versions compacted');
    await sink.close?.();
    await again.close?.();
  });

  it('roll rows up at ingest by time bucket and dimensions, and compact partials without changing results', async () => {
    const store = await open();
    const sink = serveTable({
      store,
      name: 'clicks_per_minute',
      columns: [
        { name: 'ts', type: 'TIMESTAMP_MS' },
        { name: 'page', type: 'VARCHAR' },
        { name: 'clicks', type: 'BIGINT' },
        { name: 'max_ms', type: 'DOUBLE' },
      ],
      rollup: { time: 'ts', bucketMs: 60_000, metrics: { clicks: 'sum', max_ms: 'max' } },
    });
    await sink.open?.();
    await sink.recover?.(undefined);
    const raw = Array.from({ length: 1000 }, (_, i) => ({
      ts: i * 1000,
      page: `p${i % 3}`,
      clicks: 1,
      max_ms: i % 97,
    }));
    const expected = new Map<string, [number, number]>();
    for (const r of raw) {
      const k = `${Math.floor(r.ts / 60_000) * 60_000}|${r.page}`;
      const [c, m] = expected.get(k) ?? [0, 0];
      expected.set(k, [c + r.clicks, Math.max(m, r.max_ms)]);
    }
    const query = async () =>
      (await rows(store, 'SELECT epoch_ms(ts), page, clicks, max_ms FROM clicks_per_minute ORDER BY 1, 2')).map(
        (r) => `${r[0]}|${r[1]}=${r[2]},${r[3]}`,
      );
    const want = [...expected]
      .map(([k, [c, m]]) => `${k}=${c},${m}`)
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    for (let i = 0; i < raw.length; i += 100) {
      await sink.write(batch(raw.slice(i, i + 100)));
      await sink.flush!();
    }
    const before = await query();
    assert.deepEqual([...before].sort(), [...want].sort());
    const partials = Number((await rows(store, 'SELECT count(*) FROM "clicks_per_minute$rows"'))[0]![0]);
    assert.ok(partials < raw.length && partials > expected.size, `stored ${partials} partial rows for ${raw.length}`);
    await sink.prepareCheckpoint!(1);
    await sink.commitCheckpoint!(1);
    assert.deepEqual(await query(), before, 'compaction changes no result');
    assert.deepEqual(await rows(store, 'SELECT count(*) FROM "clicks_per_minute$rows"'), [[String(expected.size)]]);
    await sink.close?.();
  });

  it('retention drops whole time partitions; a keyed partitioned table updates and recovers across them', async () => {
    const store = await open();
    const day = 86_400_000;
    const now = Date.now();
    const today = now - (now % day);
    const sink = serveTable({
      store,
      name: 'clicks',
      columns: [
        { name: 'ts', type: 'TIMESTAMP_MS' },
        { name: 'page', type: 'VARCHAR' },
      ],
      retention: { column: 'ts', keepMs: 2 * day, partitionMs: day },
    });
    await sink.open?.();
    const raw = [];
    for (let d = -5; d <= 0; d++)
      for (let h = 0; h < 24; h += 6) raw.push({ ts: today + d * day + h * 3_600_000, page: `d${d}` });
    await sink.write(batch(raw));
    await sink.flush!();
    const partitions = async () =>
      (await rows(store, "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'clicks$p%' ORDER BY 1")).map(
        (r) => Number(String(r[0]).slice('clicks$p'.length)),
      );
    assert.deepEqual((await partitions()).sort(), [-5, -4, -3, -2, -1, 0].map((d) => today + d * day).sort());
    assert.deepEqual(await rows(store, 'SELECT count(*) FROM clicks'), [[String(raw.length)]]);
    // The cutoff (now - 2 days) falls inside day -2: days -5..-3 are wholly older and go; day -2 stays whole.
    assert.equal(await store.applyRetention('clicks', now), 3);
    assert.deepEqual((await partitions()).sort(), [-2, -1, 0].map((d) => today + d * day).sort());
    assert.deepEqual(await rows(store, 'SELECT DISTINCT page FROM clicks ORDER BY page'), [['d-1'], ['d-2'], ['d0']]);
    assert.equal((await store.listTables()).find((t) => t.name === 'clicks')?.partitions, 3);
    assert.equal(await store.applyRetention('clicks', now), 0);
    await sink.close?.();

    const keyed = serveTable({
      store,
      name: 'hourly',
      columns: totals,
      key: ['window_start', 'key'],
      retention: { column: 'window_start', keepMs: 7 * day, partitionMs: 3_600_000 },
    });
    await keyed.open?.();
    await keyed.recover?.(undefined);
    const hour = today - 3 * 3_600_000;
    await keyed.write(
      batch([
        { window_start: hour, key: 'a', cnt: 1, kind: 'insert' },
        { window_start: hour + 3_600_000, key: 'a', cnt: 2, kind: 'insert' },
      ]),
    );
    const state = await keyed.prepareCheckpoint!(1);
    await keyed.write(
      batch([
        { window_start: hour, key: 'a', cnt: 5, kind: 'update' },
        { window_start: hour + 2 * 3_600_000, key: 'b', cnt: 1, kind: 'insert' },
      ]),
    );
    await keyed.flush!();
    const current = () =>
      rows(store, 'SELECT epoch_ms(window_start) - $1, key, cnt FROM hourly ORDER BY 1'.replace('$1', String(hour)));
    assert.deepEqual(await current(), [
      ['0', 'a', '5'],
      ['3600000', 'a', '2'],
      ['7200000', 'b', '1'],
    ]);
    await keyed.recover!(state);
    assert.deepEqual(await current(), [
      ['0', 'a', '1'],
      ['3600000', 'a', '2'],
    ]);
    await keyed.close?.();
    await assert.rejects(
      serveTable({
        store,
        name: 'bad',
        columns: totals,
        key: ['key'],
        retention: { column: 'window_start', keepMs: day },
      }).open!(),
      { code: 'INVALID_TABLE', message: /must be part of the key/ },
    );
  });

  it('keep tables across a restart of the store', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-serve-'));
    dirs.push(dir);
    const store = await ServingStore.open({ dir });
    const sink = serveTable({ store, name: 'kept', columns: totals, key: ['key'] });
    await sink.open?.();
    await sink.write(batch([{ window_start: 5, key: 'z', cnt: 9, kind: 'insert' }]));
    await sink.close?.();
    const parted = serveTable({
      store,
      name: 'parted',
      columns: totals,
      retention: { column: 'window_start', keepMs: 1e12, partitionMs: 1000 },
    });
    await parted.open?.();
    await parted.write(batch([0, 1000, 2500].map((t) => ({ window_start: t, key: 'k', cnt: 1 }))));
    await parted.close?.();
    await store.close();
    const reopened = await open(dir);
    assert.deepEqual(await rows(reopened, 'SELECT key, cnt FROM kept'), [['z', '9']]);
    assert.equal(reopened.table('kept')?.key[0], 'key');
    assert.deepEqual(reopened.partsOf('parted'), ['parted$rows', 'parted$p0', 'parted$p1000', 'parted$p2000']);
    assert.deepEqual(await rows(reopened, 'SELECT count(*) FROM parted'), [['3']]);
  });
});

describe('the SQL endpoint', () => {
  it('refuses file and network access, writes, configuration and multiple statements', async () => {
    const store = await open();
    const sink = serveTable({ store, name: 'window_totals', columns: totals, key: ['key'] });
    await sink.open?.();
    const refused = [
      "SELECT * FROM read_csv('/etc/passwd')",
      "SELECT * FROM '/etc/passwd'",
      "COPY (SELECT 1) TO '/tmp/sluice-x.csv'",
      "ATTACH '/tmp/sluice-x.db'",
      'INSTALL httpfs',
      'LOAD httpfs',
      'CREATE TABLE t(a int)',
      'DROP TABLE "window_totals$rows"',
      'INSERT INTO "window_totals$rows" VALUES (1, 2, 3, 4, NULL, false)',
      'SELECT 1; DROP TABLE "window_totals$rows"',
      'SET enable_external_access = true',
      'PRAGMA enable_profiling',
      "SELECT * FROM read_parquet('http://example.com/x.parquet')",
      'CALL pragma_version()',
      'CHECKPOINT',
      "EXPORT DATABASE '/tmp/sluice-export'",
      'SELEC 1',
    ];
    for (const sql of refused) {
      await assert.rejects(
        store.query(sql),
        (error: { code?: string }) => {
          assert.ok(['READ_ONLY', 'INVALID_SQL'].includes(error.code ?? ''), `${sql}: ${error.code}`);
          return true;
        },
        sql,
      );
    }
    assert.ok(!fs.existsSync('/tmp/sluice-x.csv') && !fs.existsSync('/tmp/sluice-x.db'));
    assert.deepEqual((await store.query('SELECT count(*) AS n FROM window_totals')).rows, [['0']]);
    await sink.close?.();
  });

  it('cancels a runaway query at its timeout and cuts results at the row limit', async () => {
    const store = await open();
    const started = Date.now();
    await assert.rejects(store.query('SELECT count(*) FROM range(100000000000) a', { timeoutMs: 300 }), {
      code: 'QUERY_TIMEOUT',
    });
    assert.ok(Date.now() - started < 5000, 'cancelled promptly');
    const limited = await store.query('SELECT * FROM range(100)', { maxRows: 10 });
    assert.equal(limited.rows.length, 10);
    assert.equal(limited.truncated, true);
    const all = await store.query('SELECT * FROM range(10)', { maxRows: 10 });
    assert.equal(all.truncated, false);
    assert.deepEqual(all.columns, [{ name: 'range', type: 'BIGINT' }]);
  });
});
