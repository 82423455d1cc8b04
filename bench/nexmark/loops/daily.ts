// The hand-written loops of the per-day Nexmark statistics (q15-q17): bids grouped by day, in total, per channel or
// per auction, each day's groups emitted when the next day starts (events come in time order).
import { BID, type Bid, type NexmarkEvent } from '../model.ts';
import { formatDay } from '../queries/functions.ts';
import { keep } from './keep.ts';

const rank = (price: number) => (price < 10_000 ? 1 : price < 1_000_000 ? 2 : 3);
interface Stats {
  bids: number[];
  bidders: Set<number>[];
  auctions: Set<number>[];
  maxTime: number;
}
const newStats = (): Stats => ({
  bids: [0, 0, 0, 0],
  bidders: [new Set(), new Set(), new Set(), new Set()],
  auctions: [new Set(), new Set(), new Set(), new Set()],
  maxTime: 0,
});
function addStats(s: Stats, b: Bid): void {
  const r = rank(b.price);
  s.bids[0]!++;
  s.bids[r]!++;
  s.bidders[0]!.add(b.bidder);
  s.bidders[r]!.add(b.bidder);
  s.auctions[0]!.add(b.auction);
  s.auctions[r]!.add(b.auction);
  if (b.dateTime > s.maxTime) s.maxTime = b.dateTime;
}

/** Groups bids by day (the day's groups are emitted when its end passes the watermark, as tumbling windows). */
function perDay<K, S>(
  events: NexmarkEvent[],
  key: (b: Bid) => K,
  create: () => S,
  add: (s: S, b: Bid) => void,
  emit: (key: K, day: number, s: S) => void,
): void {
  let groups = new Map<K, S>();
  let day = Number.NaN;
  for (const e of events) {
    if (e.type !== BID) continue;
    const d = e.dateTime - (e.dateTime % 86_400_000);
    if (d !== day) {
      for (const [k, s] of groups) emit(k, day, s);
      groups = new Map();
      day = d;
    }
    const k = key(e);
    let s = groups.get(k);
    if (!s) groups.set(k, (s = create()));
    add(s, e);
  }
  for (const [k, s] of groups) emit(k, day, s);
}

export function q15(events: NexmarkEvent[]): number {
  let n = 0;
  perDay(
    events,
    () => 0,
    newStats,
    addStats,
    (_k, day, s) => {
      keep({ day: formatDay(day), total_bids: s.bids[0], total_bidders: s.bidders[0]!.size });
      n++;
    },
  );
  return n;
}

export function q16(events: NexmarkEvent[]): number {
  let n = 0;
  perDay(
    events,
    (b) => b.channel,
    newStats,
    addStats,
    (channel, day, s) => {
      keep({ channel, day: formatDay(day), total_bids: s.bids[0], total_bidders: s.bidders[0]!.size });
      n++;
    },
  );
  return n;
}

export function q17(events: NexmarkEvent[]): number {
  let n = 0;
  perDay(
    events,
    (b) => b.auction,
    () => ({ bids: [0, 0, 0, 0], min: Number.POSITIVE_INFINITY, max: 0, sum: 0 }),
    (s, b) => {
      s.bids[0]!++;
      s.bids[rank(b.price)]!++;
      if (b.price < s.min) s.min = b.price;
      if (b.price > s.max) s.max = b.price;
      s.sum += b.price;
    },
    (auction, day, s) => {
      keep({ auction, day: formatDay(day), total_bids: s.bids[0], min: s.min, max: s.max, avg: s.sum / s.bids[0]! });
      n++;
    },
  );
  return n;
}
