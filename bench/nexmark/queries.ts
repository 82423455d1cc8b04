// The Nexmark queries as Sluice pipelines, each the counterpart of nexmark-flink's SQL (quoted in docs/benchmarks.md
// and checked against DuckDB in test/nexmark-duckdb.test.ts). A query takes the stream of events with event time
// assigned (dateTime, 4 s out of orderness, as nexmark-flink's DDL) and returns its result stream.
import {
  type Aggregate,
  agg,
  type DataStream,
  type Pipeline,
  type Source,
  type ValueState,
  type WindowResult,
  watermarks,
  windows,
} from '../../src/engine/index.ts';
import { csvField, partitionedCsvSink } from './files.ts';
import { type Auction, type Bid, isAuction, isBid, isPerson, type NexmarkEvent, type Person } from './model.ts';

/** The events of a source with Nexmark's event time: `dateTime`, watermark 4 s behind (nexmark-flink's DDL). */
export function nexmarkEvents(pipeline: Pipeline, source: Source<NexmarkEvent>): DataStream<NexmarkEvent> {
  return pipeline.source(source).withTimestamps((e) => e.dateTime, watermarks.boundedOutOfOrderness('4s'));
}

const DAY_MS = 86_400_000;
const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
/** DATE_FORMAT(ts, 'yyyy-MM-dd') in UTC. */
export const formatDay = (ts: number) => new Date(ts).toISOString().slice(0, 10);
/** DATE_FORMAT(ts, 'HH:mm') in UTC. */
export const formatMinute = (ts: number) => {
  const ms = ((ts % DAY_MS) + DAY_MS) % DAY_MS;
  return `${pad2(Math.floor(ms / 3_600_000))}:${pad2(Math.floor(ms / 60_000) % 60)}`;
};

// q0: SELECT auction, bidder, price, dateTime, extra FROM bid
export interface Q0Row {
  auction: number;
  bidder: number;
  price: number;
  dateTime: number;
  extra: string;
}
export function q0(events: DataStream<NexmarkEvent>): DataStream<Q0Row> {
  return events
    .filter(isBid)
    .map((b) => ({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, extra: b.extra }));
}

// q1: SELECT auction, bidder, 0.908 * price as price, dateTime, extra FROM bid
export function q1(events: DataStream<NexmarkEvent>): DataStream<Q0Row> {
  return events.filter(isBid).map((b) => ({
    auction: b.auction,
    bidder: b.bidder,
    price: 0.908 * b.price,
    dateTime: b.dateTime,
    extra: b.extra,
  }));
}

// q2: SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
export interface Q2Row {
  auction: number;
  price: number;
}
export function q2(events: DataStream<NexmarkEvent>): DataStream<Q2Row> {
  return events
    .filter((e): e is Bid => isBid(e) && e.auction % 123 === 0)
    .map((b) => ({ auction: b.auction, price: b.price }));
}

// q3: SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P on A.seller = P.id
//     WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')
// A regular (unwindowed) join: each side waits in keyed state for the other.
export interface Q3Row {
  name: string;
  city: string;
  state: string;
  id: number;
}
interface Q3State {
  person: Person | undefined;
  auctions: number[];
}
export function q3(events: DataStream<NexmarkEvent>): DataStream<Q3Row> {
  let handle: ValueState<Q3State> | undefined;
  return events
    .filter(
      (e): e is Person | Auction =>
        (isPerson(e) && (e.state === 'OR' || e.state === 'ID' || e.state === 'CA')) ||
        (isAuction(e) && e.category === 10),
    )
    .keyBy((e) => (isPerson(e) ? e.id : e.seller))
    .process<Q3Row>({
      processElement(e, ctx) {
        handle ??= ctx.state.value<Q3State>('q3');
        let s = handle.get();
        if (!s) handle.set((s = { person: undefined, auctions: [] }));
        if (isPerson(e)) {
          s.person = e;
          for (const id of s.auctions) ctx.emit({ name: e.name, city: e.city, state: e.state, id });
          s.auctions = [];
        } else if (s.person) {
          const p = s.person;
          ctx.emit({ name: p.name, city: p.city, state: p.state, id: e.id });
        } else s.auctions.push(e.id);
      },
    });
}

// q4: SELECT Q.category, AVG(Q.final) FROM (
//       SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
//       WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires GROUP BY A.id, A.category) Q
//     GROUP BY Q.category
// Each auction closes when the watermark passes its expiry (its winning price is then final); the average per
// category is a changelog, updated with every closed auction.
export interface Q4Row {
  category: number;
  avg: number;
}
interface OpenAuction {
  auction: Auction | undefined;
  max: number;
  /** Bids that came before their auction: [dateTime, price], kept until the watermark passes them. */
  early: number[];
}
export function q4(events: DataStream<NexmarkEvent>): DataStream<Q4Row> {
  let open: ValueState<OpenAuction> | undefined;
  let totals: ValueState<{ sum: number; count: number }> | undefined;
  const closed = events
    .filter((e): e is Auction | Bid => isAuction(e) || isBid(e))
    .keyBy((e) => (isAuction(e) ? e.id : e.auction))
    .process<{ category: number; final: number }>({
      processElement(e, ctx) {
        open ??= ctx.state.value<OpenAuction>('open');
        let s = open.get();
        if (isAuction(e)) {
          if (!s) open.set((s = { auction: e, max: -1, early: [] }));
          s.auction = e;
          for (let i = 0; i < s.early.length; i += 2) {
            const t = s.early[i]!;
            if (t >= e.dateTime && t <= e.expires && s.early[i + 1]! > s.max) s.max = s.early[i + 1]!;
          }
          s.early = [];
          ctx.timers.registerEventTimeTimer(e.expires + 1);
          return;
        }
        if (s?.auction) {
          const a = s.auction;
          if (e.dateTime >= a.dateTime && e.dateTime <= a.expires && e.price > s.max) s.max = e.price;
          return;
        }
        // No auction yet: it may still come (with a time at or before this bid's) until the watermark passes it.
        if (!s) open.set((s = { auction: undefined, max: -1, early: [] }));
        s.early.push(e.dateTime, e.price);
        ctx.timers.registerEventTimeTimer(e.dateTime + 1);
      },
      onTimer(timestamp, ctx) {
        const s = open!.get();
        if (!s) return;
        if (s.auction) {
          if (timestamp !== s.auction.expires + 1) return;
          if (s.max >= 0) ctx.emit({ category: s.auction.category, final: s.max });
          open!.clear();
        } else {
          s.early = s.early.filter((_, i) => s.early[i - (i % 2)]! >= timestamp);
          if (s.early.length === 0) open!.clear();
        }
      },
    });
  return closed
    .keyBy((c) => c.category)
    .process<Q4Row>({
      processElement(c, ctx) {
        totals ??= ctx.state.value<{ sum: number; count: number }>('totals');
        let t = totals.get();
        if (!t) totals.set((t = { sum: 0, count: 0 }));
        t.sum += c.final;
        t.count++;
        ctx.emit({ category: c.category, avg: t.sum / t.count });
      },
    });
}

/** The maximum of a count and every key that reached it. */
function maxWithTies<T>(
  value: (x: T) => number,
): Aggregate<T, { max: number; items: T[] }, { max: number; items: T[] }> {
  return {
    create: () => ({ max: Number.NEGATIVE_INFINITY, items: [] }),
    add(acc, x) {
      const v = value(x);
      if (v > acc.max) {
        acc.max = v;
        acc.items = [x];
      } else if (v === acc.max) acc.items.push(x);
      return acc;
    },
    merge(a, b) {
      if (b.max > a.max) return { max: b.max, items: [...b.items] };
      if (b.max === a.max) a.items.push(...b.items);
      return a;
    },
    result: (acc) => acc,
  };
}

// q5: the auctions with the most bids in each 10 s window sliding by 2 s (HOP), ties included:
//   SELECT AuctionBids.auction, AuctionBids.num FROM (SELECT auction, count(*) AS num, window_start, window_end
//     FROM HOP(bid, dateTime, 2 s, 10 s) GROUP BY ...) AuctionBids JOIN (SELECT max(num) AS maxn, window_start,
//     window_end FROM (the same) GROUP BY window_start, window_end) MaxBids ON (same window) AND num >= maxn
export interface Q5Row {
  auction: number;
  num: number;
  starttime: number;
  endtime: number;
}
export function q5(events: DataStream<NexmarkEvent>): DataStream<Q5Row> {
  return events
    .filter(isBid)
    .keyBy((b) => b.auction)
    .window(windows.sliding('10s', '2s'))
    .aggregate(agg.count())
    .keyBy((r) => r.windowStart) // every count of a window carries its end - 1 as time: one 2 s pane
    .window(windows.tumbling('2s'))
    .aggregate(maxWithTies((r: WindowResult<number, number>) => r.value))
    .flatMap((w) =>
      w.value.items.map((r) => ({ auction: r.key, num: r.value, starttime: r.windowStart, endtime: r.windowEnd })),
    );
}

/** An auction's winning bid: its highest bid within its lifetime, the earliest of equal prices (then the first). */
const beats = (b: Bid, best: Bid | undefined) =>
  best === undefined || b.price > best.price || (b.price === best.price && b.dateTime < best.dateTime);

export interface WinningBid {
  auction: Auction;
  bid: Bid;
}
interface AuctionBids {
  auction: Auction | undefined;
  best: Bid | undefined;
  /** Bids that came before their auction, kept until the watermark passes them. */
  early: Bid[];
}
/**
 * Each auction's winning bid, emitted when the auction closes (the watermark passes its expiry, when no bid within
 * its lifetime can still come): q4's first stage keeping the bid rather than its price. Auctions without a bid in
 * their lifetime have no row.
 */
export function winningBids(events: DataStream<NexmarkEvent>): DataStream<WinningBid> {
  let open: ValueState<AuctionBids> | undefined;
  return events
    .filter((e): e is Auction | Bid => isAuction(e) || isBid(e))
    .keyBy((e) => (isAuction(e) ? e.id : e.auction))
    .process<WinningBid>({
      processElement(e, ctx) {
        open ??= ctx.state.value<AuctionBids>('bids');
        let s = open.get();
        if (isAuction(e)) {
          if (!s) open.set((s = { auction: e, best: undefined, early: [] }));
          s.auction = e;
          for (const b of s.early)
            if (b.dateTime >= e.dateTime && b.dateTime <= e.expires && beats(b, s.best)) s.best = b;
          s.early = [];
          ctx.timers.registerEventTimeTimer(e.expires + 1);
          return;
        }
        if (s?.auction) {
          const a = s.auction;
          if (e.dateTime >= a.dateTime && e.dateTime <= a.expires && beats(e, s.best)) s.best = e;
          return;
        }
        // No auction yet: it may still come (with a time at or before this bid's) until the watermark passes it.
        if (!s) open.set((s = { auction: undefined, best: undefined, early: [] }));
        s.early.push(e);
        ctx.timers.registerEventTimeTimer(e.dateTime + 1);
      },
      onTimer(timestamp, ctx) {
        const s = open!.get();
        if (!s) return;
        if (s.auction) {
          if (timestamp !== s.auction.expires + 1) return;
          if (s.best) ctx.emit({ auction: s.auction, bid: s.best });
          open!.clear();
        } else {
          s.early = s.early.filter((b) => b.dateTime >= timestamp);
          if (s.early.length === 0) open!.clear();
        }
      },
    });
}

// q6: the average selling price of each seller's last 10 closed auctions, updated as each closes (not run by
//     nexmark-flink; its SQL, with the window of Beam's Query6 — 10 auctions — and "last" meaning last to close):
//   SELECT Q.seller, AVG(Q.final) OVER (PARTITION BY Q.seller ORDER BY Q.expires, Q.id
//     ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) FROM (SELECT MAX(B.price) AS final, A.seller, A.expires, A.id
//     FROM auction AS A, bid AS B WHERE A.id = B.auction and B.dateTime between A.dateTime and A.expires
//     GROUP BY A.id, A.seller, A.expires) AS Q
export interface Q6Row {
  seller: number;
  avg: number;
}
/** A closed auction of a seller: [expires, id, final price]. */
type Closed = [number, number, number];
const byClosing = (a: Closed, b: Closed) => a[0] - b[0] || a[1] - b[1];
export function q6(events: DataStream<NexmarkEvent>): DataStream<Q6Row> {
  let state: ValueState<{ last: Closed[]; closing: Closed[] }> | undefined;
  return winningBids(events)
    .keyBy((w) => w.auction.seller)
    .process<Q6Row>({
      processElement(w, ctx) {
        state ??= ctx.state.value('q6');
        let s = state.get();
        if (!s) state.set((s = { last: [], closing: [] }));
        // Auctions of one seller expiring at the same time close at the same watermark, in whatever order their
        // timers fire: gathered until it reaches this stage too, then taken in id order.
        s.closing.push([w.auction.expires, w.auction.id, w.bid.price]);
        ctx.timers.registerEventTimeTimer(ctx.timestamp);
      },
      onTimer(timestamp, ctx) {
        const s = state!.get()!;
        const due = s.closing.filter((c) => c[0] + 1 <= timestamp).sort(byClosing);
        s.closing = s.closing.filter((c) => c[0] + 1 > timestamp);
        for (const c of due) {
          s.last.push(c);
          if (s.last.length > 10) s.last.shift();
          let sum = 0;
          for (const x of s.last) sum += x[2];
          ctx.emit({ seller: ctx.key as number, avg: sum / s.last.length });
        }
      },
    });
}

// q7: the highest bids of each 10 s tumbling window:
//   SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra FROM bid B JOIN (SELECT MAX(price) AS maxprice,
//   window_end as dateTime FROM TUMBLE(bid, dateTime, 10 s) GROUP BY window_start, window_end) B1
//   ON B.price = B1.maxprice WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime
export interface Q7Row {
  auction: number;
  price: number;
  bidder: number;
  dateTime: number;
  extra: string;
}
export function q7(events: DataStream<NexmarkEvent>): DataStream<Q7Row> {
  return events
    .filter(isBid)
    .keyBy(() => 0)
    .window(windows.tumbling('10s'))
    .aggregate(maxWithTies((b: Bid) => b.price))
    .flatMap((w) =>
      w.value.items.map((b) => ({
        auction: b.auction,
        price: b.price,
        bidder: b.bidder,
        dateTime: b.dateTime,
        extra: b.extra,
      })),
    );
}

// q8: people who opened an account and created an auction in the same 10 s tumbling window:
//   SELECT P.id, P.name, P.starttime FROM (SELECT id, name, window_start AS starttime ... FROM TUMBLE(person)
//   GROUP BY id, name, window) P JOIN (SELECT seller, window_start AS starttime ... FROM TUMBLE(auction) GROUP BY
//   seller, window) A ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime
export interface Q8Row {
  id: number;
  name: string;
  starttime: number;
}
export function q8(events: DataStream<NexmarkEvent>): DataStream<Q8Row> {
  const sellers = events
    .filter(isAuction)
    .keyBy((a) => a.seller)
    .window(windows.tumbling('10s'))
    .aggregate(agg.count());
  return events
    .filter(isPerson)
    .keyBy((p) => p.id)
    .windowJoin(
      sellers.keyBy((s) => s.key),
      windows.tumbling('10s'),
      (p, _seller, window) => ({ id: p.id, name: p.name, starttime: window.start }),
    );
}

// q9: the winning bid of each auction (not in the original suite):
//   SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra, auction,
//     bidder, price, bid_dateTime, bid_extra FROM (SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS
//     bid_dateTime, B.extra AS bid_extra, ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime
//     ASC) AS rownum FROM auction A, bid B WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires)
//   WHERE rownum <= 1
export interface Q9Row {
  id: number;
  itemName: string;
  description: string;
  initialBid: number;
  reserve: number;
  dateTime: number;
  expires: number;
  seller: number;
  category: number;
  extra: string;
  auction: number;
  bidder: number;
  price: number;
  bid_dateTime: number;
  bid_extra: string;
}
/** A q9 result: the auction with its winning bid (shared with the hand-written loop). */
export function q9Row(a: Auction, b: Bid): Q9Row {
  return {
    id: a.id,
    itemName: a.itemName,
    description: a.description,
    initialBid: a.initialBid,
    reserve: a.reserve,
    dateTime: a.dateTime,
    expires: a.expires,
    seller: a.seller,
    category: a.category,
    extra: a.extra,
    auction: b.auction,
    bidder: b.bidder,
    price: b.price,
    bid_dateTime: b.dateTime,
    bid_extra: b.extra,
  };
}

export function q9(events: DataStream<NexmarkEvent>): DataStream<Q9Row> {
  return winningBids(events).map(({ auction: a, bid: b }) => q9Row(a, b));
}

// q10: every bid logged to files partitioned by time (not in the original suite):
//   INSERT INTO fs_sink SELECT auction, bidder, price, dateTime, extra, DATE_FORMAT(dateTime, 'yyyy-MM-dd'),
//     DATE_FORMAT(dateTime, 'HH:mm') FROM bid
//   with fs_sink PARTITIONED BY (dt, hm), csv, committed with a success file once the watermark is a minute past
//   the partition's end. The rows go to the files (bench/nexmark/files.ts) and on as the query's result stream.
export interface Q10Row {
  auction: number;
  bidder: number;
  price: number;
  /** yyyy-MM-dd HH:mm:ss.SSS (UTC), as Flink writes a TIMESTAMP(3). */
  dateTime: string;
  extra: string;
  dt: string;
  hm: string;
}
export function q10(events: DataStream<NexmarkEvent>, options: QueryOptions = {}): DataStream<Q10Row> {
  const rows = events.filter(isBid).map((b) => {
    const iso = new Date(b.dateTime).toISOString();
    return {
      auction: b.auction,
      bidder: b.bidder,
      price: b.price,
      dateTime: `${iso.slice(0, 10)} ${iso.slice(11, 23)}`,
      extra: b.extra,
      dt: iso.slice(0, 10),
      hm: iso.slice(11, 16),
    };
  });
  if (options.outputDir === undefined) throw new Error('q10 writes files: give it an outputDir');
  rows.sinkTo(partitionedCsvSink(options.outputDir, q10Line));
  return rows;
}
/** A row of q10's files: the partition columns are in the path, as Flink's filesystem sink writes them. */
export const q10Line = (r: Q10Row) => `${r.auction},${r.bidder},${r.price},${r.dateTime},${csvField(r.extra)}\n`;

// q11: SELECT B.bidder, count(*) as bid_count, SESSION_START(B.dateTime, INTERVAL '10' SECOND) as starttime,
//      SESSION_END(B.dateTime, INTERVAL '10' SECOND) as endtime FROM bid B
//      GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND)
export interface Q11Row {
  bidder: number;
  bid_count: number;
  starttime: number;
  endtime: number;
}
export function q11(events: DataStream<NexmarkEvent>): DataStream<Q11Row> {
  return events
    .filter(isBid)
    .keyBy((b) => b.bidder)
    .window(windows.session('10s'))
    .aggregate(agg.count())
    .map((r) => ({ bidder: r.key, bid_count: r.value, starttime: r.windowStart, endtime: r.windowEnd }));
}

// q12: bids per bidder in 10 s windows of processing time:
//   SELECT B.bidder, count(*) as bid_count, TUMBLE_START(B.p_time, 10 s), TUMBLE_END(B.p_time, 10 s)
//   FROM (SELECT *, PROCTIME() as p_time FROM bid) B GROUP BY B.bidder, TUMBLE(B.p_time, INTERVAL '10' SECOND)
export function q12(events: DataStream<NexmarkEvent>): DataStream<Q11Row> {
  return events
    .filter(isBid)
    .withProcessingTime()
    .keyBy((b) => b.bidder)
    .window(windows.tumbling('10s'))
    .aggregate(agg.count())
    .map((r) => ({ bidder: r.key, bid_count: r.value, starttime: r.windowStart, endtime: r.windowEnd }));
}

// q13: bids joined with a bounded side input (not in the original suite):
//   SELECT B.auction, B.bidder, B.price, B.dateTime, S.value FROM (SELECT *, PROCTIME() as p_time FROM bid) B
//   JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S ON mod(B.auction, 10000) = S.key
// The side input is a table read whole before the stream starts (as Flink's lookup join caches a file table):
// SIDE_INPUT, 10,000 rows parsed from CSV text.
export interface Q13Row {
  auction: number;
  bidder: number;
  price: number;
  dateTime: number;
  value: string;
}
export const SIDE_INPUT_CSV = Array.from({ length: 10_000 }, (_, key) => `${key},side-${(key * 7919) % 10_000}\n`).join(
  '',
);
export const SIDE_INPUT: ReadonlyMap<number, string> = new Map(
  SIDE_INPUT_CSV.trimEnd()
    .split('\n')
    .map((line) => {
      const comma = line.indexOf(',');
      return [Number(line.slice(0, comma)), line.slice(comma + 1)];
    }),
);
export function q13(events: DataStream<NexmarkEvent>): DataStream<Q13Row> {
  return events.filter(isBid).flatMap((b) => {
    const value = SIDE_INPUT.get(b.auction % 10_000);
    // An inner join: a bid whose key the side input lacks has no row.
    if (value === undefined) return [];
    return [{ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, value }];
  });
}

// q14: SELECT auction, bidder, 0.908 * price as price, CASE WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18
//      THEN 'dayTime' WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime' ELSE 'otherTime' END AS
//      bidTimeType, dateTime, extra, count_char(extra, 'c') AS c_counts FROM bid
//      WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000
export interface Q14Row {
  auction: number;
  bidder: number;
  price: number;
  bidTimeType: string;
  dateTime: number;
  extra: string;
  c_counts: number;
}
export function countChar(s: string, c: number): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === c) n++;
  return n;
}
export function bidTimeType(ts: number): string {
  const hour = Math.floor((((ts % DAY_MS) + DAY_MS) % DAY_MS) / 3_600_000);
  if (hour >= 8 && hour <= 18) return 'dayTime';
  if (hour <= 6 || hour >= 20) return 'nightTime';
  return 'otherTime';
}
export function q14(events: DataStream<NexmarkEvent>): DataStream<Q14Row> {
  return events
    .filter((e): e is Bid => isBid(e) && 0.908 * e.price > 1_000_000 && 0.908 * e.price < 50_000_000)
    .map((b) => ({
      auction: b.auction,
      bidder: b.bidder,
      price: 0.908 * b.price,
      bidTimeType: bidTimeType(b.dateTime),
      dateTime: b.dateTime,
      extra: b.extra,
      c_counts: countChar(b.extra, 99),
    }));
}

/** Price ranks of q15-q17: < 10,000, < 1,000,000, and above. */
const rank = (price: number) => (price < 10_000 ? 1 : price < 1_000_000 ? 2 : 3);

interface DayStats {
  bids: number[];
  bidders: Set<number>[];
  auctions: Set<number>[];
  maxTime: number;
}
/** count(*), count(distinct bidder) and count(distinct auction), in total and per price rank (index 0: total). */
const dayStats: Aggregate<Bid, DayStats, DayStats> = {
  create: () => ({
    bids: [0, 0, 0, 0],
    bidders: [new Set(), new Set(), new Set(), new Set()],
    auctions: [new Set(), new Set(), new Set(), new Set()],
    maxTime: Number.NEGATIVE_INFINITY,
  }),
  add(acc, b) {
    const r = rank(b.price);
    acc.bids[0]!++;
    acc.bids[r]!++;
    acc.bidders[0]!.add(b.bidder);
    acc.bidders[r]!.add(b.bidder);
    acc.auctions[0]!.add(b.auction);
    acc.auctions[r]!.add(b.auction);
    if (b.dateTime > acc.maxTime) acc.maxTime = b.dateTime;
    return acc;
  },
  merge(a, b) {
    for (let i = 0; i < 4; i++) {
      a.bids[i]! += b.bids[i]!;
      for (const x of b.bidders[i]!) a.bidders[i]!.add(x);
      for (const x of b.auctions[i]!) a.auctions[i]!.add(x);
    }
    a.maxTime = Math.max(a.maxTime, b.maxTime);
    return a;
  },
  result: (acc) => acc,
};

export interface Q15Row {
  day: string;
  total_bids: number;
  rank1_bids: number;
  rank2_bids: number;
  rank3_bids: number;
  total_bidders: number;
  rank1_bidders: number;
  rank2_bidders: number;
  rank3_bidders: number;
  total_auctions: number;
  rank1_auctions: number;
  rank2_auctions: number;
  rank3_auctions: number;
}
function dayRow(day: string, s: DayStats): Q15Row {
  return {
    day,
    total_bids: s.bids[0]!,
    rank1_bids: s.bids[1]!,
    rank2_bids: s.bids[2]!,
    rank3_bids: s.bids[3]!,
    total_bidders: s.bidders[0]!.size,
    rank1_bidders: s.bidders[1]!.size,
    rank2_bidders: s.bidders[2]!.size,
    rank3_bidders: s.bidders[3]!.size,
    total_auctions: s.auctions[0]!.size,
    rank1_auctions: s.auctions[1]!.size,
    rank2_auctions: s.auctions[2]!.size,
    rank3_auctions: s.auctions[3]!.size,
  };
}

// q15: bidding statistics per day: SELECT DATE_FORMAT(dateTime, 'yyyy-MM-dd') as day, count(*) AS total_bids,
//      count(*) filter (where price < 10000) AS rank1_bids, ... count(distinct bidder) ..., count(distinct auction)
//      ... FROM bid GROUP BY DATE_FORMAT(dateTime, 'yyyy-MM-dd'). A day's row is emitted when the day closes.
export function q15(events: DataStream<NexmarkEvent>): DataStream<Q15Row> {
  return events
    .filter(isBid)
    .keyBy(() => 0)
    .window(windows.tumbling('1d'))
    .aggregate(dayStats)
    .map((r) => dayRow(formatDay(r.windowStart), r.value));
}

// q16: the same per channel and day, with the latest minute: SELECT channel, DATE_FORMAT(dateTime, 'yyyy-MM-dd') as
//      day, max(DATE_FORMAT(dateTime, 'HH:mm')) as minute, count(*) ... FROM bid GROUP BY channel, day
export interface Q16Row extends Q15Row {
  channel: string;
  minute: string;
}
export function q16(events: DataStream<NexmarkEvent>): DataStream<Q16Row> {
  return events
    .filter(isBid)
    .keyBy((b) => b.channel)
    .window(windows.tumbling('1d'))
    .aggregate(dayStats)
    .map((r) => ({
      channel: r.key,
      minute: formatMinute(r.value.maxTime),
      ...dayRow(formatDay(r.windowStart), r.value),
    }));
}

// q17: per auction and day: SELECT auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd') as day, count(*) AS total_bids,
//      count(*) filter (where price < 10000) AS rank1_bids, ..., min(price), max(price), avg(price), sum(price)
//      FROM bid GROUP BY auction, day
export interface Q17Row {
  auction: number;
  day: string;
  total_bids: number;
  rank1_bids: number;
  rank2_bids: number;
  rank3_bids: number;
  min_price: number;
  max_price: number;
  avg_price: number;
  sum_price: number;
}
interface AuctionDay {
  bids: number[];
  min: number;
  max: number;
  sum: number;
}
const auctionDay: Aggregate<Bid, AuctionDay, AuctionDay> = {
  create: () => ({ bids: [0, 0, 0, 0], min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY, sum: 0 }),
  add(acc, b) {
    acc.bids[0]!++;
    acc.bids[rank(b.price)]!++;
    if (b.price < acc.min) acc.min = b.price;
    if (b.price > acc.max) acc.max = b.price;
    acc.sum += b.price;
    return acc;
  },
  merge(a, b) {
    for (let i = 0; i < 4; i++) a.bids[i]! += b.bids[i]!;
    a.min = Math.min(a.min, b.min);
    a.max = Math.max(a.max, b.max);
    a.sum += b.sum;
    return a;
  },
  result: (acc) => acc,
};
export function q17(events: DataStream<NexmarkEvent>): DataStream<Q17Row> {
  return events
    .filter(isBid)
    .keyBy((b) => b.auction)
    .window(windows.tumbling('1d'))
    .aggregate(auctionDay)
    .map((r) => ({
      auction: r.key,
      day: formatDay(r.windowStart),
      total_bids: r.value.bids[0]!,
      rank1_bids: r.value.bids[1]!,
      rank2_bids: r.value.bids[2]!,
      rank3_bids: r.value.bids[3]!,
      min_price: r.value.min,
      max_price: r.value.max,
      avg_price: r.value.sum / r.value.bids[0]!,
      sum_price: r.value.sum,
    }));
}

// q18: the last bid of each bidder on each auction (a changelog: a row whenever a later bid replaces it):
//      SELECT auction, bidder, price, channel, url, dateTime, extra FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY
//      bidder, auction ORDER BY dateTime DESC) AS rank_number FROM bid) WHERE rank_number <= 1
export function q18(events: DataStream<NexmarkEvent>): DataStream<Bid> {
  let last: ValueState<number> | undefined;
  return events
    .filter(isBid)
    .keyBy((b) => b.bidder * 134_217_728 + b.auction) // bidder * 2^27 + auction: unique while auction < 2^27
    .process<Bid>({
      processElement(b, ctx) {
        last ??= ctx.state.value<number>('last');
        const t = last.get();
        // Equal times: the later arrival wins, as Flink's deduplication on rowtime keeps the last row.
        if (t === undefined || b.dateTime >= t) {
          last.set(b.dateTime);
          ctx.emit(b);
        }
      },
    });
}

// q19: the ten highest bids of each auction (a changelog of inserted and evicted rows):
//      SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number
//      FROM bid) WHERE rank_number <= 10
export interface Q19Change {
  kind: 'insert' | 'delete';
  bid: Bid;
}
export function q19(events: DataStream<NexmarkEvent>): DataStream<Q19Change> {
  let top: ValueState<Bid[]> | undefined;
  return events
    .filter(isBid)
    .keyBy((b) => b.auction)
    .process<Q19Change>({
      processElement(b, ctx) {
        top ??= ctx.state.value<Bid[]>('top');
        let list = top.get();
        if (!list) top.set((list = []));
        // Sorted by price, highest first; an equal price ranks after the bids already there.
        if (list.length === 10 && b.price <= list[9]!.price) return;
        let at = list.length;
        while (at > 0 && list[at - 1]!.price < b.price) at--;
        list.splice(at, 0, b);
        ctx.emit({ kind: 'insert', bid: b });
        if (list.length > 10) ctx.emit({ kind: 'delete', bid: list.pop()! });
      },
    });
}

// q20: bids expanded with their auction, for auctions of category 10 (a regular join):
//      SELECT auction, bidder, price, channel, url, B.dateTime, B.extra, itemName, description, initialBid, reserve,
//      A.dateTime, expires, seller, category, A.extra FROM bid AS B INNER JOIN auction AS A on B.auction = A.id
//      WHERE A.category = 10
export interface Q20Row {
  auction: number;
  bidder: number;
  price: number;
  channel: string;
  url: string;
  bidDateTime: number;
  bidExtra: string;
  itemName: string;
  description: string;
  initialBid: number;
  reserve: number;
  auctionDateTime: number;
  expires: number;
  seller: number;
  category: number;
  auctionExtra: string;
}
function q20Row(b: Bid, a: Auction): Q20Row {
  return {
    auction: b.auction,
    bidder: b.bidder,
    price: b.price,
    channel: b.channel,
    url: b.url,
    bidDateTime: b.dateTime,
    bidExtra: b.extra,
    itemName: a.itemName,
    description: a.description,
    initialBid: a.initialBid,
    reserve: a.reserve,
    auctionDateTime: a.dateTime,
    expires: a.expires,
    seller: a.seller,
    category: a.category,
    auctionExtra: a.extra,
  };
}
/** Per auction id: its auction when of category 10, `false` for another category, or bids waiting for it. */
type Q20State = Auction | false | Bid[];
export function q20(events: DataStream<NexmarkEvent>): DataStream<Q20Row> {
  let handle: ValueState<Q20State> | undefined;
  return events
    .filter((e): e is Auction | Bid => isAuction(e) || isBid(e))
    .keyBy((e) => (isAuction(e) ? e.id : e.auction))
    .process<Q20Row>({
      processElement(e, ctx) {
        handle ??= ctx.state.value<Q20State>('q20');
        const s = handle.get();
        if (isAuction(e)) {
          // The category filter applies to the auction side only: other auctions leave a marker that drops bids.
          handle.set(e.category === 10 ? e : false);
          if (e.category === 10 && Array.isArray(s)) for (const b of s) ctx.emit(q20Row(b, e));
        } else if (s === undefined) handle.set([e]);
        else if (Array.isArray(s)) s.push(e);
        else if (s !== false) ctx.emit(q20Row(e, s));
      },
    });
}

// q21: SELECT auction, bidder, price, channel, CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) =
//      'google' THEN '1' WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3' ELSE
//      REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END AS channel_id FROM bid WHERE REGEXP_EXTRACT(url,
//      '(&|^)channel_id=([^&]*)', 2) is not null or lower(channel) in ('apple', 'google', 'facebook', 'baidu')
export interface Q21Row {
  auction: number;
  bidder: number;
  price: number;
  channel: string;
  channel_id: string;
}
const HOT_CHANNEL_IDS: Record<string, string> = { apple: '0', google: '1', facebook: '2', baidu: '3' };
const CHANNEL_ID = /(&|^)channel_id=([^&]*)/;
export function q21(events: DataStream<NexmarkEvent>): DataStream<Q21Row> {
  return events.filter(isBid).flatMap((b) => {
    const channelId = HOT_CHANNEL_IDS[b.channel.toLowerCase()] ?? CHANNEL_ID.exec(b.url)?.[2];
    if (channelId === undefined) return [];
    return [{ auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, channel_id: channelId }];
  });
}

// q22: SELECT auction, bidder, price, channel, SPLIT_INDEX(url, '/', 3) as dir1, SPLIT_INDEX(url, '/', 4) as dir2,
//      SPLIT_INDEX(url, '/', 5) as dir3 FROM bid
export interface Q22Row {
  auction: number;
  bidder: number;
  price: number;
  channel: string;
  dir1: string | null;
  dir2: string | null;
  dir3: string | null;
}
export function q22(events: DataStream<NexmarkEvent>): DataStream<Q22Row> {
  return events.filter(isBid).map<Q22Row>((b) => {
    const parts = b.url.split('/');
    return {
      auction: b.auction,
      bidder: b.bidder,
      price: b.price,
      channel: b.channel,
      dir1: parts[3] ?? null,
      dir2: parts[4] ?? null,
      dir3: parts[5] ?? null,
    };
  });
}

/** What a query may need besides its events: where q10 writes its files. */
export interface QueryOptions {
  outputDir?: string;
}

export const QUERIES = {
  q0,
  q1,
  q2,
  q3,
  q4,
  q5,
  q6,
  q7,
  q8,
  q9,
  q10,
  q11,
  q12,
  q13,
  q14,
  q15,
  q16,
  q17,
  q18,
  q19,
  q20,
  q21,
  q22,
};
export type QueryName = keyof typeof QUERIES;
