// Every Nexmark query's pipeline, run bounded over generated events, against the same query in DuckDB SQL over the
// same events: the same rows (or, for changelogs, the same final state). Events are 2 ms apart, so that 100,000 of
// them span 200 s of event time: several tumbling, sliding and session windows, and auctions that expire.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { NexmarkGenerator } from '../bench/nexmark/generator.ts';
import { AUCTION, BID, type Bid, type NexmarkEvent, PERSON } from '../bench/nexmark/model.ts';
import { nexmarkEvents, QUERIES, type QueryName, type QueryOptions, SIDE_INPUT } from '../bench/nexmark/queries.ts';
import { collect, type DataStream, fromArrays, Pipeline } from '../src/engine/index.ts';

const N = 100_000;
const generator = new NexmarkGenerator({ interEventDelayUs: 2000 });
const events: NexmarkEvent[] = Array.from({ length: N }, (_, i) => generator.event(i));
const seqOf = new Map<NexmarkEvent, number>(events.map((e, i) => [e, i]));

let instance: DuckDBInstance;
let db: DuckDBConnection;

async function load(): Promise<void> {
  instance = await DuckDBInstance.create(':memory:');
  db = await instance.connect();
  await db.run(`CREATE TABLE person (seq BIGINT, id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR,
    city VARCHAR, state VARCHAR, dateTime BIGINT, extra VARCHAR)`);
  await db.run(`CREATE TABLE auction (seq BIGINT, id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT,
    reserve BIGINT, dateTime BIGINT, expires BIGINT, seller BIGINT, category BIGINT, extra VARCHAR)`);
  await db.run(`CREATE TABLE bid (seq BIGINT, auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR,
    url VARCHAR, dateTime BIGINT, extra VARCHAR)`);
  const tables = {
    [PERSON]: await db.createAppender('person'),
    [AUCTION]: await db.createAppender('auction'),
    [BID]: await db.createAppender('bid'),
  };
  for (const [seq, e] of events.entries()) {
    const a = tables[e.type];
    a.appendBigInt(BigInt(seq));
    const values =
      e.type === PERSON
        ? [e.id, e.name, e.emailAddress, e.creditCard, e.city, e.state, e.dateTime, e.extra]
        : e.type === AUCTION
          ? [e.id, e.itemName, e.description, e.initialBid, e.reserve, e.dateTime, e.expires, e.seller, e.category]
          : [e.auction, e.bidder, e.price, e.channel, e.url, e.dateTime, e.extra];
    if (e.type === AUCTION) values.push(e.extra);
    for (const v of values) {
      if (typeof v === 'number') a.appendBigInt(BigInt(v));
      else a.appendVarchar(v);
    }
    a.endRow();
  }
  for (const a of Object.values(tables)) a.closeSync();
  // q13's bounded side input, the same rows the pipeline looks up.
  await db.run('CREATE TABLE side_input (key BIGINT, value VARCHAR)');
  const side = await db.createAppender('side_input');
  for (const [key, value] of SIDE_INPUT) {
    side.appendBigInt(BigInt(key));
    side.appendVarchar(value);
    side.endRow();
  }
  side.closeSync();
}

async function sql(query: string): Promise<unknown[][]> {
  const reader = await db.runAndReadAll(query);
  return reader.getRows().map((row) => row.map((v) => (typeof v === 'bigint' ? Number(v) : v)));
}

async function pipeline<R>(name: QueryName, options: QueryOptions = {}): Promise<R[]> {
  const p = new Pipeline({ bounded: true, onError: 'fail' });
  const sink = collect<R>();
  (QUERIES[name] as unknown as (events: DataStream<NexmarkEvent>, options: QueryOptions) => DataStream<R>)(
    nexmarkEvents(p, fromArrays([events], { batchSize: 500 })),
    options,
  ).sinkTo(sink);
  await p.run();
  return sink.values;
}

/** Compares two bags of rows (order-insensitive). */
function sameRows(actual: unknown[][], expected: unknown[][], what: string): void {
  const key = (rows: unknown[][]) => rows.map((r) => JSON.stringify(r)).sort();
  assert.ok(expected.length > 0, `${what}: the SQL found nothing, which tests nothing`);
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} rows, SQL has ${expected.length}`);
  assert.deepEqual(key(actual), key(expected), what);
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

describe('Nexmark queries agree with DuckDB SQL over the same events', () => {
  before(load);
  after(() => {
    db?.closeSync();
    instance?.closeSync();
  });

  it('q0 pass-through', async () => {
    const rows = await pipeline<{ auction: number; bidder: number; price: number; dateTime: number; extra: string }>(
      'q0',
    );
    sameRows(
      rows.map((r) => [r.auction, r.bidder, r.price, r.dateTime, r.extra]),
      await sql('SELECT auction, bidder, price, dateTime, extra FROM bid'),
      'q0',
    );
  });

  it('q1 currency conversion', async () => {
    const rows = await pipeline<{ auction: number; price: number; dateTime: number }>('q1');
    sameRows(
      rows.map((r) => [r.auction, Math.round(r.price * 1000), r.dateTime]),
      await sql('SELECT auction, CAST(0.908 * price * 1000 AS BIGINT), dateTime FROM bid'),
      'q1',
    );
  });

  it('q2 selection', async () => {
    const rows = await pipeline<{ auction: number; price: number }>('q2');
    sameRows(
      rows.map((r) => [r.auction, r.price]),
      await sql('SELECT auction, price FROM bid WHERE auction % 123 = 0'),
      'q2',
    );
  });

  it('q3 local item suggestion (a join)', async () => {
    const rows = await pipeline<{ name: string; city: string; state: string; id: number }>('q3');
    sameRows(
      rows.map((r) => [r.name, r.city, r.state, r.id]),
      await sql(`SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
        WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')`),
      'q3',
    );
  });

  it('q4 average closing price per category (final state of the changelog)', async () => {
    const rows = await pipeline<{ category: number; avg: number }>('q4');
    const last = new Map<number, number>();
    for (const r of rows) last.set(r.category, r.avg);
    const expected = await sql(`SELECT Q.category, AVG(Q.final) FROM (
        SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
        WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires GROUP BY A.id, A.category) Q
      GROUP BY Q.category`);
    assert.ok(expected.length > 0);
    assert.equal(last.size, expected.length);
    for (const [category, avg] of expected as [number, number][]) {
      assert.ok(close(last.get(category)!, avg), `q4 category ${category}: ${last.get(category)} vs ${avg}`);
    }
  });

  it('q5 hot items (10 s windows sliding by 2 s)', async () => {
    const rows = await pipeline<{ auction: number; num: number; starttime: number; endtime: number }>('q5');
    const hop = `SELECT auction, count(*) AS num, ws AS starttime, ws + 10000 AS endtime
      FROM (SELECT auction, unnest(range(dateTime - dateTime % 2000 - 8000, dateTime + 1, 2000)) AS ws FROM bid)
      GROUP BY auction, ws`;
    sameRows(
      rows.map((r) => [r.auction, r.num, r.starttime, r.endtime]),
      await sql(`SELECT AuctionBids.auction, AuctionBids.num, AuctionBids.starttime, AuctionBids.endtime
        FROM (${hop}) AS AuctionBids JOIN (
          SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime FROM (${hop}) AS CountBids
          GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
        ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
          AND AuctionBids.num >= MaxBids.maxn`),
      'q5',
    );
  });

  it("q6 average selling price of each seller's last 10 closed auctions", async () => {
    const rows = await pipeline<{ seller: number; avg: number }>('q6');
    const expected = await sql(`SELECT seller, AVG(final) OVER (PARTITION BY seller ORDER BY expires, id
        ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) FROM (SELECT A.id, A.seller, A.expires, MAX(B.price) AS final FROM auction A, bid B
        WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires GROUP BY A.id, A.seller, A.expires)`);
    sameRows(
      rows.map((r) => [r.seller, Math.round(r.avg * 1000)]),
      (expected as [number, number][]).map(([seller, avg]) => [seller, Math.round(avg * 1000)]),
      'q6',
    );
    // Sellers with more than 10 closed auctions: the window slides (the oldest leave the average).
    const perSeller = new Map<number, number>();
    for (const r of rows) perSeller.set(r.seller, (perSeller.get(r.seller) ?? 0) + 1);
    assert.ok(
      [...perSeller.values()].some((n) => n > 10),
      'some seller closed more than 10 auctions',
    );
  });

  it('q7 highest bid (10 s tumbling windows)', async () => {
    const rows = await pipeline<{ auction: number; price: number; bidder: number; dateTime: number }>('q7');
    sameRows(
      rows.map((r) => [r.auction, r.price, r.bidder, r.dateTime]),
      await sql(`SELECT B.auction, B.price, B.bidder, B.dateTime FROM bid B JOIN (
          SELECT MAX(price) AS maxprice, dateTime - dateTime % 10000 + 10000 AS window_end FROM bid
          GROUP BY dateTime - dateTime % 10000) B1
        ON B.price = B1.maxprice WHERE B.dateTime BETWEEN B1.window_end - 10000 AND B1.window_end`),
      'q7',
    );
  });

  it('q8 monitor new users (a window join)', async () => {
    const rows = await pipeline<{ id: number; name: string; starttime: number }>('q8');
    sameRows(
      rows.map((r) => [r.id, r.name, r.starttime]),
      await sql(`SELECT P.id, P.name, P.starttime FROM (
          SELECT id, name, dateTime - dateTime % 10000 AS starttime FROM person GROUP BY id, name, starttime) P
        JOIN (SELECT seller, dateTime - dateTime % 10000 AS starttime FROM auction GROUP BY seller, starttime) A
        ON P.id = A.seller AND P.starttime = A.starttime`),
      'q8',
    );
  });

  it('q9 winning bids (highest price, then earliest)', async () => {
    const rows = await pipeline<Record<string, number>>('q9');
    sameRows(
      rows.map((r) => [r.id, r.seller, r.expires, r.auction, r.bidder, r.price, r.bid_dateTime]),
      await sql(`SELECT id, seller, expires, auction, bidder, price, bid_dateTime FROM (
          SELECT A.id, A.seller, A.expires, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime,
            ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC, B.seq ASC) AS rownum
          FROM auction A, bid B WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires)
        WHERE rownum <= 1`),
      'q9',
    );
  });

  it('q10 bids logged to files partitioned by minute, each partition committed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-q10-'));
    try {
      const rows = await pipeline<{ auction: number }>('q10', { outputDir: dir });
      const partitions = fs.readdirSync(dir).flatMap((dt) => fs.readdirSync(path.join(dir, dt)).map((hm) => [dt, hm]));
      // 200 s of event time from 00:00:00: minutes 00:00 to 00:03.
      assert.deepEqual(
        partitions.map(([dt, hm]) => `${dt}/${hm}`),
        ['dt=2015-07-15/hm=00:00', 'dt=2015-07-15/hm=00:01', 'dt=2015-07-15/hm=00:02', 'dt=2015-07-15/hm=00:03'],
      );
      for (const [dt, hm] of partitions) {
        assert.deepEqual(fs.readdirSync(path.join(dir, dt!, hm!)).sort(), ['_SUCCESS', 'part-0.csv'], `${dt}/${hm}`);
      }
      const written = await sql(`SELECT auction, bidder, price, CAST(dateTime AS VARCHAR), extra, dt, hm
        FROM read_csv('${dir}/*/*/part-0.csv', header = false, hive_partitioning = true, hive_types_autocast = false,
          columns = {'auction': 'BIGINT', 'bidder': 'BIGINT', 'price': 'BIGINT', 'dateTime': 'VARCHAR',
            'extra': 'VARCHAR'})`);
      sameRows(
        written,
        await sql(`SELECT auction, bidder, price, strftime(epoch_ms(dateTime), '%Y-%m-%d %H:%M:%S.%g'), extra,
            strftime(epoch_ms(dateTime), '%Y-%m-%d'), strftime(epoch_ms(dateTime), '%H:%M') FROM bid`),
        'q10 files',
      );
      assert.equal(rows.length, written.length, 'the result stream carries the rows written');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('q11 user sessions (10 s gap)', async () => {
    const rows = await pipeline<{ bidder: number; bid_count: number; starttime: number; endtime: number }>('q11');
    sameRows(
      rows.map((r) => [r.bidder, r.bid_count, r.starttime, r.endtime]),
      await sql(`SELECT bidder, count(*), min(dateTime), max(dateTime) + 10000 FROM (
          SELECT bidder, dateTime, sum(new_session) OVER (PARTITION BY bidder ORDER BY dateTime
            ROWS UNBOUNDED PRECEDING) AS session FROM (
            SELECT bidder, dateTime, CASE WHEN dateTime - lag(dateTime) OVER (PARTITION BY bidder ORDER BY dateTime)
              < 10000 THEN 0 ELSE 1 END AS new_session FROM bid))
        GROUP BY bidder, session`),
      'q11',
    );
  });

  it('q12 processing-time windows: every bid counted once per bidder', async () => {
    const rows = await pipeline<{ bidder: number; bid_count: number }>('q12');
    const perBidder = new Map<number, number>();
    for (const r of rows) perBidder.set(r.bidder, (perBidder.get(r.bidder) ?? 0) + r.bid_count);
    sameRows([...perBidder], await sql('SELECT bidder, count(*) FROM bid GROUP BY bidder'), 'q12');
  });

  it('q13 bids joined with a bounded side input', async () => {
    const rows = await pipeline<{ auction: number; bidder: number; price: number; dateTime: number; value: string }>(
      'q13',
    );
    sameRows(
      rows.map((r) => [r.auction, r.bidder, r.price, r.dateTime, r.value]),
      await sql(`SELECT B.auction, B.bidder, B.price, B.dateTime, S.value FROM bid B
        JOIN side_input S ON B.auction % 10000 = S.key`),
      'q13',
    );
  });

  it('q14 a calculation with a user function', async () => {
    const rows = await pipeline<{ auction: number; price: number; bidTimeType: string; c_counts: number }>('q14');
    sameRows(
      rows.map((r) => [r.auction, Math.round(r.price * 1000), r.bidTimeType, r.c_counts]),
      await sql(`SELECT auction, CAST(0.908 * price * 1000 AS BIGINT),
          CASE WHEN hour(epoch_ms(dateTime)) >= 8 AND hour(epoch_ms(dateTime)) <= 18 THEN 'dayTime'
               WHEN hour(epoch_ms(dateTime)) <= 6 OR hour(epoch_ms(dateTime)) >= 20 THEN 'nightTime'
               ELSE 'otherTime' END,
          length(extra) - length(replace(extra, 'c', ''))
        FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000`),
      'q14',
    );
  });

  const dayStats = `count(*),
      count(*) FILTER (WHERE price < 10000), count(*) FILTER (WHERE price >= 10000 AND price < 1000000),
      count(*) FILTER (WHERE price >= 1000000),
      count(DISTINCT bidder), count(DISTINCT bidder) FILTER (WHERE price < 10000),
      count(DISTINCT bidder) FILTER (WHERE price >= 10000 AND price < 1000000),
      count(DISTINCT bidder) FILTER (WHERE price >= 1000000),
      count(DISTINCT auction), count(DISTINCT auction) FILTER (WHERE price < 10000),
      count(DISTINCT auction) FILTER (WHERE price >= 10000 AND price < 1000000),
      count(DISTINCT auction) FILTER (WHERE price >= 1000000)`;
  const day = "strftime(epoch_ms(dateTime), '%Y-%m-%d')";

  it('q15 bidding statistics per day', async () => {
    const rows = await pipeline<Record<string, unknown>>('q15');
    sameRows(
      rows.map((r) => Object.values(r)),
      await sql(`SELECT ${day} AS day, ${dayStats} FROM bid GROUP BY day`),
      'q15',
    );
  });

  it('q16 channel statistics per day', async () => {
    const rows = await pipeline<Record<string, unknown>>('q16');
    sameRows(
      rows.map(({ channel, minute, ...rest }) => [channel, minute, ...Object.values(rest)]),
      await sql(`SELECT channel, max(strftime(epoch_ms(dateTime), '%H:%M')), ${day} AS day, ${dayStats}
        FROM bid GROUP BY channel, day`),
      'q16',
    );
  });

  it('q17 auction statistics per day', async () => {
    const rows = await pipeline<Record<string, number>>('q17');
    sameRows(
      rows.map((r) => [
        r.auction,
        r.day,
        r.total_bids,
        r.rank1_bids,
        r.rank2_bids,
        r.rank3_bids,
        r.min_price,
        r.max_price,
        r.sum_price,
      ]),
      await sql(`SELECT auction, ${day} AS day, count(*), count(*) FILTER (WHERE price < 10000),
          count(*) FILTER (WHERE price >= 10000 AND price < 1000000), count(*) FILTER (WHERE price >= 1000000),
          min(price), max(price), sum(price) FROM bid GROUP BY auction, day`),
      'q17',
    );
    for (const r of rows) assert.ok(close(r.avg_price!, r.sum_price! / r.total_bids!));
  });

  it('q18 last bid of each bidder on each auction (final state of the changelog)', async () => {
    const rows = await pipeline<Bid>('q18');
    const last = new Map<string, Bid>();
    for (const b of rows) last.set(`${b.bidder}/${b.auction}`, b);
    sameRows(
      [...last.values()].map((b) => [seqOf.get(b)]),
      await sql(`SELECT seq FROM (SELECT seq, ROW_NUMBER() OVER (PARTITION BY bidder, auction
          ORDER BY dateTime DESC, seq DESC) AS rank_number FROM bid) WHERE rank_number <= 1`),
      'q18',
    );
  });

  it('q19 ten highest bids of each auction (final state of the changelog)', async () => {
    const changes = await pipeline<{ kind: 'insert' | 'delete'; bid: Bid }>('q19');
    const top = new Set<Bid>();
    for (const c of changes) {
      if (c.kind === 'insert') top.add(c.bid);
      else assert.ok(top.delete(c.bid), 'q19 deletes a row it inserted');
    }
    sameRows(
      [...top].map((b) => [seqOf.get(b)]),
      await sql(`SELECT seq FROM (SELECT seq, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC, seq)
          AS rank_number FROM bid) WHERE rank_number <= 10`),
      'q19',
    );
  });

  it('q20 bids expanded with their auction (a join)', async () => {
    const rows = await pipeline<Record<string, number | string>>('q20');
    sameRows(
      rows.map((r) => [
        r.auction,
        r.bidder,
        r.price,
        r.bidDateTime,
        r.auctionDateTime,
        r.expires,
        r.seller,
        r.category,
      ]),
      await sql(`SELECT B.auction, B.bidder, B.price, B.dateTime, A.dateTime, A.expires, A.seller, A.category
        FROM bid AS B INNER JOIN auction AS A ON B.auction = A.id WHERE A.category = 10`),
      'q20',
    );
  });

  it('q21 channel ids (regular expressions)', async () => {
    const rows = await pipeline<{ auction: number; bidder: number; channel: string; channel_id: string }>('q21');
    const extract =
      "CASE WHEN regexp_matches(url, '(&|^)channel_id=([^&]*)') THEN regexp_extract(url, '(&|^)channel_id=([^&]*)', 2) END";
    sameRows(
      rows.map((r) => [r.auction, r.bidder, r.channel, r.channel_id]),
      await sql(`SELECT auction, bidder, channel, CASE WHEN lower(channel) = 'apple' THEN '0'
          WHEN lower(channel) = 'google' THEN '1' WHEN lower(channel) = 'facebook' THEN '2'
          WHEN lower(channel) = 'baidu' THEN '3' ELSE ${extract} END
        FROM bid WHERE ${extract} IS NOT NULL OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')`),
      'q21',
    );
  });

  it('q22 url directories', async () => {
    const rows = await pipeline<{ auction: number; bidder: number; dir1: string; dir2: string; dir3: string }>('q22');
    sameRows(
      rows.map((r) => [r.auction, r.bidder, r.dir1, r.dir2, r.dir3]),
      await sql(`SELECT auction, bidder, split_part(url, '/', 4), split_part(url, '/', 5), split_part(url, '/', 6)
        FROM bid`),
      'q22',
    );
  });
});
