// The Nexmark queries of bidding statistics per day (one-day tumbling windows): in total (q15), per channel with its
// latest minute (q16), and per auction with price statistics (q17); counts by price rank, distinct bidders and auctions.
import { type Aggregate, type DataStream, windows } from '../../../src/engine/index.ts';
import { type Bid, isBid, type NexmarkEvent } from '../model.ts';
import { formatDay, formatMinute } from './functions.ts';

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
