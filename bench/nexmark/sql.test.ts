// nexmark-flink's SQL (bench/nexmark/sql/) against the DataStream queries (bench/nexmark/queries/) over the same
// generated events: equal multisets of rows, and for q4's updating result equal final tables; q12 (processing time)
// by its bids per bidder.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collect, fromArrays, Pipeline } from '../../src/engine/index.ts';
import { planScript } from '../../src/sql/planner.ts';
import { KIND, type KindedRow } from '../../src/sql/rows.ts';
import type { Row } from '../../src/sql/types.ts';
import { BASE_TIME, NexmarkGenerator } from './generator.ts';
import { BID, type Bid, type NexmarkEvent } from './model.ts';
import { nexmarkEvents, QUERIES } from './queries.ts';
import { NEXMARK_DDL, nexmarkSql, type SqlQueryName, sqlText } from './sql-queries.ts';

// 60 s of event time: six 10 s windows, bidder sessions, auctions that close.
const N = 30_000;
const DAY_MS = 86_400_000;
const generator = new NexmarkGenerator({ interEventDelayUs: 2000 });
const events: NexmarkEvent[] = Array.from({ length: N }, (_, i) => generator.event(i));

async function viaSql(query: SqlQueryName, input = events): Promise<KindedRow[]> {
  const p = new Pipeline({ bounded: true, onError: 'fail' });
  const sink = collect<Row>();
  await nexmarkSql(p, p.source(fromArrays([input], { batchSize: 64 })), query, sink);
  await p.run();
  return sink.values;
}

async function viaDataStream<T>(query: SqlQueryName, input = events): Promise<T[]> {
  const p = new Pipeline({ bounded: true, onError: 'fail' });
  const sink = collect<T>();
  const build = QUERIES[query] as unknown as (e: unknown) => { sinkTo(s: unknown): void };
  build(nexmarkEvents(p, fromArrays([input], { batchSize: 64 }))).sinkTo(sink);
  await p.run();
  return sink.values;
}

function sameMultiset(actual: unknown[][], expected: unknown[][], what: string): void {
  const key = (rows: unknown[][]) => rows.map((r) => JSON.stringify(r)).sort();
  assert.ok(expected.length > 0, `${what}: the DataStream query gives rows`);
  assert.deepEqual(key(actual), key(expected), what);
}

/** Each query's rows as the same tuples from both sides (the DataStream rows, the SQL sink's columns). */
const TUPLES: Partial<Record<SqlQueryName, [(r: Row) => unknown[], (r: Row) => unknown[]]>> = {
  q0: [
    (r) => [r.auction, r.bidder, r.price, r.dateTime, r.extra],
    (r) => [r.auction, r.bidder, r.price, r.dateTime, r.extra],
  ],
  q1: [
    (r) => [r.auction, r.bidder, r.price, r.dateTime, r.extra],
    (r) => [r.auction, r.bidder, r.price, r.dateTime, r.extra],
  ],
  q2: [(r) => [r.auction, r.price], (r) => [r.auction, r.price]],
  q3: [(r) => [r.name, r.city, r.state, r.id], (r) => [r.name, r.city, r.state, r.id]],
  q5: [(r) => [r.auction, r.num], (r) => [r.auction, r.num]],
  // Upstream's SELECT lists B.price, B.bidder into the sink's (bidder, price) columns: written by position.
  q7: [
    (r) => [r.auction, r.price, r.bidder, r.dateTime, r.extra],
    (r) => [r.auction, r.bidder, r.price, r.dateTime, r.extra],
  ],
  q8: [(r) => [r.id, r.name, r.starttime], (r) => [r.id, r.name, r.stime]],
  q11: [(r) => [r.bidder, r.bid_count, r.starttime, r.endtime], (r) => [r.bidder, r.bid_count, r.starttime, r.endtime]],
};

describe('Nexmark in SQL equals the DataStream queries', () => {
  for (const [query, [fromDataStream, fromSql]] of Object.entries(TUPLES) as [
    SqlQueryName,
    [(r: Row) => unknown[], (r: Row) => unknown[]],
  ][]) {
    it(`${query}`, async () => {
      const expected = (await viaDataStream<Row>(query)).map(fromDataStream);
      const actual = (await viaSql(query)).map(fromSql);
      sameMultiset(actual, expected, query);
    });
  }

  it('q4: the final average per category (an updating result over an updating GROUP BY)', async () => {
    const expected = new Map<number, number>();
    for (const r of await viaDataStream<{ category: number; avg: number }>('q4')) expected.set(r.category, r.avg);
    const table = new Map<number, number>();
    for (const r of await viaSql('q4')) {
      if (r[KIND] === 'delete') table.delete(r.id as number);
      else table.set(r.id as number, r.final as number);
    }
    assert.ok(expected.size > 0);
    assert.deepEqual(
      [...table].sort((a, b) => a[0] - b[0]),
      [...expected].sort((a, b) => a[0] - b[0]),
    );
  });

  // q15-q17: one-day tumbling windows in the DataStream queries (a final row per day), a regular GROUP BY by
  // DATE_FORMAT(dateTime, 'yyyy-MM-dd') in SQL (an updating result): the SQL's last row per key equals the window's
  // row. Over the events above (one day) and over 60 s of events around midnight (two days).
  const aroundMidnight = new NexmarkGenerator({ interEventDelayUs: 2000, baseTime: BASE_TIME + DAY_MS - 30_000 });
  const midnight: NexmarkEvent[] = Array.from({ length: N }, (_, i) => aroundMidnight.event(i));
  const DAILY: [SqlQueryName, string[]][] = [
    ['q15', ['day']],
    ['q16', ['channel', 'day']],
    ['q17', ['auction', 'day']],
  ];
  for (const [query, keys] of DAILY) {
    it(`${query}: the last row per ${keys.join(' and ')} equals the day's window (one day, and across midnight)`, async () => {
      const { columns } = (await planScript(`${NEXMARK_DDL}\n${sqlText(query)}`)).inserts[0]!.sink;
      const names = columns.map((c) => c.name);
      for (const [input, days] of [
        [events, 1],
        [midnight, 2],
      ] as const) {
        const expected = await viaDataStream<Row>(query, input);
        const final = new Map<string, Row>();
        for (const r of await viaSql(query, input)) {
          const key = JSON.stringify(keys.map((k) => r[k]));
          if (r[KIND] === 'delete') final.delete(key);
          else final.set(key, r);
        }
        const tuples = (rows: Iterable<Row>) => [...rows].map((r) => JSON.stringify(names.map((n) => r[n]))).sort();
        assert.equal(new Set(expected.map((r) => r.day)).size, days, `${query}: days`);
        assert.ok(expected.length > 0);
        assert.deepEqual(tuples(final.values()), tuples(expected), query);
      }
    });
  }

  it("q7 at a window's edge: a bid at its first instant matches the window before's maximum too", async () => {
    const bid = (auction: number, price: number, dateTime: number): Bid => ({
      type: BID,
      auction,
      bidder: auction,
      price,
      channel: '',
      url: '',
      dateTime,
      extra: '',
    });
    const edge = [bid(1, 100, 5000), bid(2, 100, 10_000), bid(3, 50, 15_000), bid(4, 1, 30_000)];
    const expected = [1, 2, 2, 4]; // bid 2 is the maximum of [10 s, 20 s) and, at 10 s, equals that of [0, 10 s)
    const fromDataStream = (await viaDataStream<Row>('q7', edge)).map((r) => r.auction).sort();
    const fromSql = (await viaSql('q7', edge)).map((r) => r.auction).sort();
    assert.deepEqual(fromDataStream, expected);
    assert.deepEqual(fromSql, expected);
  });

  it('q5 and q7 prune the side joined with its own window maximum', async () => {
    for (const [query, column] of [
      ['q5', 'num'],
      ['q7', 'price'],
    ] as const) {
      const plan = await planScript(`${NEXMARK_DDL}\n${sqlText(query)}`);
      const prune = plan.inserts[0]!.query.join?.prune;
      assert.deepEqual([prune?.side, prune?.fn, prune?.column], ['l', 'max', column], query);
    }
  });

  it('q12: bids per bidder over processing-time windows', async () => {
    const perBidder = (rows: Row[]) => {
      const m = new Map<number, number>();
      for (const r of rows) m.set(r.bidder as number, (m.get(r.bidder as number) ?? 0) + (r.bid_count as number));
      return [...m].sort((a, b) => a[0] - b[0]);
    };
    assert.deepEqual(perBidder(await viaSql('q12')), perBidder(await viaDataStream<Row>('q12')));
  });
});
