// The Nexmark queries kept in keyed state without windows: the regular joins (q3: people and their auctions, q20:
// bids and their auction), the last bid per bidder and auction (q18), and each auction's top ten bids (q19).
import type { DataStream, ValueState } from '../../../src/engine/index.ts';
import { type Auction, type Bid, isAuction, isBid, isPerson, type NexmarkEvent, type Person } from '../model.ts';

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
