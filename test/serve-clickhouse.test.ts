// The ClickHouse sink against a real server (Debian's clickhouse-server 18.16 or newer), started for the test in
// a temp directory; skipped, saying why, when no ClickHouse binary is installed or it does not start.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { clickhouseSink } from '../src/serve/index.ts';
import { startClickHouse, type TestClickHouse } from './helpers/clickhouse.ts';

let server: TestClickHouse | { skip: string } = { skip: 'not started' };
before(async () => {
  server = await startClickHouse();
});
after(async () => {
  if (!('skip' in server)) await server.stop();
});

/** The running server, or undefined after skipping the test with the reason. */
function clickhouse(t: TestContext): TestClickHouse | undefined {
  if ('skip' in server) {
    t.skip(server.skip);
    return undefined;
  }
  return server;
}

describe('ClickHouse sink', () => {
  it('batches appends and upserts by key (a late update and a replay replace, a delete retracts)', async (t) => {
    const ch = clickhouse(t);
    if (!ch) return;
    const { rows } = ch;
    const events = clickhouseSink({
      url: ch.url,
      table: 'events',
      columns: [
        { name: 'ts', type: 'TIMESTAMP_MS' },
        { name: 'key', type: 'VARCHAR' },
        { name: 'value', type: 'DOUBLE' },
      ],
      partitionBy: 'toYYYYMMDD(ts)',
      flushMs: 60_000,
    });
    await events.open!();
    for (let i = 0; i < 2500; i += 500) {
      const values = Array.from({ length: 500 }, (_, j) => ({
        ts: 1_700_000_000_000 + (i + j) * 1000,
        key: `k${j % 5}`,
        value: 1,
      }));
      await events.write({ values, timestamps: [] });
    }
    assert.equal(events.inserts, 2, 'an insert per 1,000 rows');
    await events.close!();
    assert.equal(events.inserts, 3);
    assert.deepEqual(await rows('SELECT count() AS n, sum(value) AS s FROM events'), [{ n: '2500', s: 2500 }]);

    const totals = clickhouseSink({
      url: ch.url,
      table: 'window_totals',
      columns: [
        { name: 'window_start', type: 'TIMESTAMP_MS' },
        { name: 'key', type: 'VARCHAR' },
        { name: 'cnt', type: 'BIGINT' },
      ],
      key: ['window_start', 'key'],
    });
    await totals.open!();
    const batch = [
      { window_start: 60_000, key: 'a', cnt: 1, kind: 'insert' },
      { window_start: 60_000, key: 'b', cnt: 1, kind: 'insert' },
      { window_start: 120_000, key: 'c', cnt: 4, kind: 'insert' },
    ];
    await totals.write({ values: batch, timestamps: [] });
    await totals.prepareCheckpoint!(1);
    const later = [
      { window_start: 60_000, key: 'a', cnt: 2, kind: 'update' },
      { window_start: 120_000, key: 'c', cnt: 4, kind: 'delete' },
    ];
    await totals.write({ values: later, timestamps: [] });
    await totals.flush();
    // A crash and a replay from the checkpoint write the later rows again: still one row per key.
    await totals.write({ values: later, timestamps: [] });
    await totals.close!();
    const latest = await rows(
      'SELECT toUnixTimestamp(window_start) AS w, key, cnt FROM window_totals_latest ORDER BY key',
    );
    assert.deepEqual(latest, [
      { w: 60, key: 'a', cnt: '2' },
      { w: 60, key: 'b', cnt: '1' },
    ]);
    const argMax = await rows(
      "SELECT key, argMax(cnt, _version) AS cnt FROM window_totals WHERE key = 'a' GROUP BY key",
    );
    assert.deepEqual(argMax, [{ key: 'a', cnt: '2' }]);
  });

  it('append tables: concurrent writers each replaying after a crash, in another order, leave every row once', async (t) => {
    const ch = clickhouse(t);
    if (!ch) return;
    type Row = { writer: string; n: number };
    const sink = (writer: string) => {
      const s = clickhouseSink<Row>({
        url: ch.url,
        table: 'appended',
        columns: [
          { name: 'writer', type: 'VARCHAR' },
          { name: 'n', type: 'BIGINT' },
        ],
        flushMs: 60_000,
      });
      s.setWriter!(writer, { shared: true });
      return s;
    };
    const rowsOf = (writer: string, from: number, to: number) => ({
      values: Array.from({ length: to - from }, (_, i) => ({ writer, n: from + i })),
      timestamps: [],
    });
    const writers = ['p#0', 'p#1'];
    // Two tasks of one pipeline write concurrently; both number their rows from 0.
    const first = writers.map(sink);
    for (const s of first) {
      await s.open!();
      await s.recover!(undefined);
    }
    await ch.client.command({ query: 'SYSTEM STOP MERGES appended' }); // so that the raw count shows the replay
    await Promise.all(first.map((s, i) => s.write(rowsOf(writers[i]!, 0, 100))));
    const checkpoints = await Promise.all(first.map((s) => s.prepareCheckpoint!(1)));
    await Promise.all(first.map((s, i) => s.write(rowsOf(writers[i]!, 100, 150))));
    for (const s of first) await s.close!(); // everything flushed: then the processes die
    // One row of p#1 after the checkpoint came from a clock an hour ahead: the replay must still replace it.
    await ch.client.insert({
      table: 'appended',
      values: [
        { writer: 'p#1', n: '999', _version: (Date.now() + 3_600_000) * 1000, _writer: first[1]!.writerId, _seq: 120 },
      ],
      format: 'JSONEachRow',
    });
    // Each task restarts from its checkpoint and replays rows 100-149, in the reverse order, then goes on.
    const again = writers.map(sink);
    await Promise.all(
      again.map(async (s, i) => {
        await s.open!();
        await s.recover!(checkpoints[i]);
        const replay = rowsOf(writers[i]!, 100, 150);
        replay.values.reverse();
        await s.write(replay);
        await s.write(rowsOf(writers[i]!, 150, 200));
        await s.close!();
      }),
    );
    assert.equal(again[0]!.writerId, first[0]!.writerId, 'the replay resumes the run');
    assert.deepEqual(await ch.rows('SELECT count() AS n FROM appended'), [{ n: '501' }], 'the replay wrote again');
    const once = 'SELECT writer, count() AS rows, uniqExact(n) AS distinct, max(n) AS last FROM appended_latest';
    assert.deepEqual(await ch.rows(`${once} GROUP BY writer ORDER BY writer`), [
      { writer: 'p#0', rows: '200', distinct: '200', last: '199' },
      { writer: 'p#1', rows: '200', distinct: '200', last: '199' },
    ]);
    // A start without a checkpoint (a bounded job run again) is a new run: its rows add to the earlier ones.
    const rerun = sink('p#0');
    await rerun.open!();
    await rerun.recover!(undefined);
    await rerun.write(rowsOf('rerun', 0, 10));
    await rerun.close!();
    assert.notEqual(rerun.writerId, first[0]!.writerId);
    assert.deepEqual(await ch.rows('SELECT count() AS n FROM appended_latest'), [{ n: '410' }]);
    await ch.client.command({ query: 'SYSTEM START MERGES appended' });
  });

  it('keyed tables: a writer whose clock is behind the rows already there still replaces them', async (t) => {
    const ch = clickhouse(t);
    if (!ch) return;
    const totals = () =>
      clickhouseSink<{ key: string; cnt: number }>({
        url: ch.url,
        table: 'skewed',
        columns: [
          { name: 'key', type: 'VARCHAR' },
          { name: 'cnt', type: 'BIGINT' },
        ],
        key: ['key'],
      });
    const setup = totals();
    await setup.open!();
    await setup.close!();
    // Written by a host whose clock is an hour ahead (or before the clock was set back).
    const ahead = (Date.now() + 3_600_000) * 1000;
    await ch.client.insert({
      table: 'skewed',
      values: [{ key: 'a', cnt: '1', _version: ahead, _deleted: 0 }],
      format: 'JSONEachRow',
    });
    const sink = totals();
    await sink.open!();
    await sink.write({ values: [{ key: 'a', cnt: 2 }], timestamps: [] });
    await sink.close!();
    assert.deepEqual(await ch.rows('SELECT key, cnt FROM skewed_latest'), [{ key: 'a', cnt: '2' }]);
  });

  it('refuses a table without the columns idempotence needs (one made by an earlier version)', async (t) => {
    const ch = clickhouse(t);
    if (!ch) return;
    await ch.client.command({ query: 'CREATE TABLE old_events (key String) ENGINE = MergeTree() ORDER BY tuple()' });
    const sink = clickhouseSink({ url: ch.url, table: 'old_events', columns: [{ name: 'key', type: 'VARCHAR' }] });
    await assert.rejects(sink.open!(), { code: 'CLICKHOUSE_SCHEMA', message: /lacks columns _version, _writer, _seq/ });
    await sink.close!();
  });
});
