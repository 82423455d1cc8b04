// The Nexmark queries on closed auctions: each auction closes when the watermark passes its expiry, with its highest
// bid final: the average winning price per category (q4) and per seller (q6), and the winning bids themselves (q9).
import type { DataStream, ValueState } from '../../../src/engine/index.ts';
import { type Auction, type Bid, isAuction, isBid, type NexmarkEvent } from '../model.ts';

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
