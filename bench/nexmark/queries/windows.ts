// The Nexmark queries over event-time and processing-time windows: the hottest auctions of a sliding window (q5), the
// highest bids of a tumbling one (q7), a window join (q8), bidder sessions (q11) and processing-time counts (q12).
import {
  type Aggregate,
  agg,
  type DataStream,
  type ValueState,
  type WindowResult,
  windows,
} from '../../../src/engine/index.ts';
import { type Bid, isAuction, isBid, isPerson, type NexmarkEvent } from '../model.ts';

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
/** A window's maximum price, its bids at that price, and its bids at its first instant (edge). */
interface Q7Window {
  max: number;
  items: Bid[];
  edge: Bid[];
}
const maxAndEdge: Aggregate<Bid, Q7Window, Q7Window> = {
  create: () => ({ max: Number.NEGATIVE_INFINITY, items: [], edge: [] }),
  add(acc, b) {
    if (b.price > acc.max) {
      acc.max = b.price;
      acc.items = [b];
    } else if (b.price === acc.max) acc.items.push(b);
    if (b.dateTime % 10_000 === 0) acc.edge.push(b);
    return acc;
  },
  merge(a, b) {
    const merged = maxWithTies((x: Bid) => x.price).merge({ max: a.max, items: a.items }, b);
    return { ...merged, edge: [...a.edge, ...b.edge] };
  },
  result: (acc) => acc,
};
const q7Row = (b: Bid): Q7Row => ({
  auction: b.auction,
  price: b.price,
  bidder: b.bidder,
  dateTime: b.dateTime,
  extra: b.extra,
});
export function q7(events: DataStream<NexmarkEvent>): DataStream<Q7Row> {
  // The query's BETWEEN is inclusive: a bid at a window's first instant (its time = the window before's end) also
  // matches the maximum of the window before. Windows fire in order: each compares its edge bids with the maximum
  // of the window that fired before it, kept in keyed state.
  let previous: ValueState<{ end: number; max: number }> | undefined;
  return events
    .filter(isBid)
    .keyBy(() => 0)
    .window(windows.tumbling('10s'))
    .aggregate(maxAndEdge)
    .keyBy(() => 0)
    .process<Q7Row>({
      processElement(w, ctx) {
        previous ??= ctx.state.value('previous');
        const before = previous.get();
        if (before && before.end === w.windowStart) {
          for (const b of w.value.edge) if (b.price === before.max) ctx.emit(q7Row(b));
        }
        for (const b of w.value.items) ctx.emit(q7Row(b));
        previous.set({ end: w.windowEnd, max: w.value.max });
      },
    });
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
