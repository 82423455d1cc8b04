// Hybrid (Lambda) tables: a real-time pipeline that drops events later than its allowed lateness, and a bounded
// recomputation of the same pipeline swapped in as the batch part for a time range. The table must equal a full
// recomputation, count nothing twice, and readers must see the swap atomically.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { agg, fromArrays, Pipeline, type Sink, watermarks, windows } from '../engine/index.ts';
import { replaceBatch, ServingStore, serveBatch, serveTable } from './index.ts';

interface Event {
  key: string;
  ts: number;
  value: number;
}

const stores: ServingStore[] = [];
after(async () => {
  for (const store of stores) await store.close();
});

const MINUTE = 60_000;

/** The same pipeline for both parts: per-key counts and totals in one-minute windows, 10 s of lateness. */
function totalsPipeline(events: Event[], sink: Sink<object>): Pipeline {
  const p = new Pipeline({ name: 'totals', bounded: true });
  p.source(fromArrays([events], { timestamp: (e) => e.ts, batchSize: 1 }))
    .withTimestamps((e) => e.ts, watermarks.boundedOutOfOrderness('5s'))
    .keyBy((e) => e.key)
    .window(windows.tumbling('60s'))
    .allowedLateness('10s')
    .aggregate(agg.multi({ cnt: agg.count<Event>(), total: agg.sum((e: Event) => e.value) }))
    .map((r) => ({
      window_start: r.windowStart,
      key: r.key,
      cnt: r.value.cnt,
      total: r.value.total,
      kind: r.kind === 'update' ? 'update' : 'insert',
    }))
    .sinkTo(sink);
  return p;
}

/** 12 minutes of events for three keys, in arrival order; some arrive minutes late (the real-time part drops them). */
function arrivals(): { events: Event[]; late: number } {
  const events: Event[] = [];
  for (let i = 0; i < 360; i++) events.push({ key: `k${i % 3}`, ts: i * 2000 + (i % 7), value: i % 10 });
  // Late by minutes: after the watermark passed their window's end plus the lateness.
  const late = [
    { key: 'k0', ts: 30_000, value: 100 },
    { key: 'k1', ts: 2 * MINUTE + 5000, value: 200 },
    { key: 'k2', ts: 4 * MINUTE + 1, value: 300 },
  ];
  events.splice(250, 0, ...late);
  return { events, late: late.length };
}

function reference(events: Event[]): string[] {
  const totals = new Map<string, { cnt: number; total: number }>();
  for (const e of events) {
    const id = `${Math.floor(e.ts / MINUTE) * MINUTE}|${e.key}`;
    const t = totals.get(id) ?? { cnt: 0, total: 0 };
    t.cnt++;
    t.total += e.value;
    totals.set(id, t);
  }
  return [...totals].map(([id, t]) => `${id}|${t.cnt}|${t.total}`).sort();
}

async function contents(store: ServingStore, table: string): Promise<string[]> {
  const result = await store.query(`SELECT epoch_ms(window_start), key, cnt, total FROM "${table}"`);
  return result.rows.map((r) => r.join('|')).sort();
}

async function sumCount(store: ServingStore): Promise<number> {
  return Number((await store.query('SELECT sum(cnt) FROM totals')).rows[0]![0]);
}

describe('hybrid tables', () => {
  it('batch + real-time equals a full recomputation, counts nothing twice, and swaps atomically', async () => {
    const store = await ServingStore.open({ dir: ':memory:' });
    stores.push(store);
    const { events, late } = arrivals();
    const want = reference(events);

    const realtime = serveTable({
      store,
      name: 'totals',
      columns: [
        { name: 'window_start', type: 'TIMESTAMP_MS' },
        { name: 'key', type: 'VARCHAR' },
        { name: 'cnt', type: 'BIGINT' },
        { name: 'total', type: 'DOUBLE' },
      ],
      key: ['window_start', 'key'],
      hybrid: { time: 'window_start' },
    });
    await totalsPipeline(events, realtime).run();
    const streamed = await contents(store, 'totals');
    assert.notDeepEqual(streamed, want, 'the real-time part misses the events beyond its lateness');
    assert.equal(await sumCount(store), events.length - late);

    // The nightly run recomputes the first six minutes from the log (here: all events, in time order).
    const sorted = [...events].sort((a, b) => a.ts - b.ts);
    const batch = serveBatch({ store, name: 'totals', range: { from: 0, to: 6 * MINUTE } });
    await totalsPipeline(sorted, batch).run();
    const before = await sumCount(store);
    // Readers during the swap see the table before or after it, never a mix (nor both parts).
    const reads = Array.from({ length: 20 }, () => sumCount(store));
    assert.deepEqual(await batch.commit(), { from: 0, to: 6 * MINUTE });
    const after = await sumCount(store);
    for (const seen of await Promise.all(reads)) assert.ok(seen === before || seen === after, `read ${seen}`);

    assert.deepEqual(await contents(store, 'totals'), want, 'batch rows up to the boundary, real-time rows after');
    assert.equal(after, events.length, 'every event counted exactly once');
    const realtimeLeft = await store.query('SELECT min(epoch_ms(window_start)) FROM "totals$realtime"');
    assert.equal(Number(realtimeLeft.rows[0]![0]), 6 * MINUTE, 'real-time rows inside the batch range are gone');

    // A late real-time update inside the batch range cannot double count: the batch part owns that time.
    await realtime.open?.();
    await realtime.write({
      values: [{ window_start: MINUTE, key: 'k0', cnt: 999, total: 0, kind: 'update' }],
      timestamps: [0],
    });
    await realtime.flush?.();
    assert.equal(await sumCount(store), events.length);
    await realtime.close?.();

    // The next run moves the boundary on; a range that would leave a gap is refused.
    const next = sorted.filter((e) => e.ts >= 6 * MINUTE);
    const rows: object[] = [];
    await totalsPipeline(next, {
      name: 'rows',
      write: (b) => {
        rows.push(...b.values);
      },
    }).run();
    assert.deepEqual(await replaceBatch(store, 'totals', { from: 6 * MINUTE, to: 12 * MINUTE }, rows as never), {
      from: 0,
      to: 12 * MINUTE,
    });
    assert.deepEqual(await contents(store, 'totals'), want);
    assert.deepEqual(store.batchRange('totals'), { from: 0, to: 12 * MINUTE });
    await assert.rejects(replaceBatch(store, 'totals', { from: 20 * MINUTE, to: 30 * MINUTE }, []), {
      code: 'HYBRID_GAP',
    });
    const info = (await store.listTables()).find((t) => t.name === 'totals')!;
    assert.deepEqual(info.hybrid, { time: 'window_start', batch: { from: 0, to: 12 * MINUTE } });
  });

  it('keeps the batch range across a restart and refuses a table that is not hybrid', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-hybrid-'));
    try {
      const columns = [
        { name: 't', type: 'BIGINT' as const },
        { name: 'n', type: 'BIGINT' as const },
      ];
      let store = await ServingStore.open({ dir });
      const sink = serveTable({ store, name: 'h', columns, hybrid: { time: 't' } });
      await sink.open?.();
      await sink.write({
        values: [
          { t: 5, n: 1 },
          { t: 15, n: 2 },
        ],
        timestamps: [0, 0],
      });
      await sink.close?.();
      await replaceBatch(store, 'h', { from: 0, to: 10 }, [
        { t: 5, n: 10 },
        { t: 12, n: 99 },
      ]);
      await store.close();
      store = await ServingStore.open({ dir });
      stores.push(store);
      assert.deepEqual(store.batchRange('h'), { from: 0, to: 10 });
      assert.deepEqual((await store.query('SELECT t, n FROM h ORDER BY t')).rows, [
        ['5', '10'],
        ['15', '2'],
      ]);

      const plain = serveTable({ store, name: 'plain', columns });
      await plain.open?.();
      await assert.rejects(serveBatch({ store, name: 'plain', range: { from: 0, to: 1 } }).open!(), {
        code: 'NOT_HYBRID',
      });
      await assert.rejects(serveBatch({ store, name: 'missing', range: { from: 0, to: 1 } }).open!(), {
        code: 'UNKNOWN_TABLE',
      });
      assert.throws(() => serveBatch({ store, name: 'plain', range: { from: 5, to: 5 } }), { code: 'INVALID_RANGE' });
      await plain.close?.();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
