// The hand-written loops of the Nexmark queries kept in keyed state: the regular joins (q3, q20), the last bid per
// bidder and auction (q18) and each auction's top ten bids (q19), each with a Map where the engine has keyed state.
import { AUCTION, type Auction, BID, type Bid, type NexmarkEvent, PERSON, type Person } from '../model.ts';
import { keep } from './keep.ts';

export function q3(events: NexmarkEvent[]): number {
  const state = new Map<number, { person: Person | undefined; auctions: number[] }>();
  let n = 0;
  for (const e of events) {
    if (e.type === PERSON && (e.state === 'OR' || e.state === 'ID' || e.state === 'CA')) {
      const s = state.get(e.id);
      if (s) {
        for (const id of s.auctions) keep({ name: e.name, city: e.city, state: e.state, id });
        n += s.auctions.length;
      }
      state.set(e.id, { person: e, auctions: [] });
    } else if (e.type === AUCTION && e.category === 10) {
      const s = state.get(e.seller);
      if (s?.person) {
        keep({ name: s.person.name, city: s.person.city, state: s.person.state, id: e.id });
        n++;
      } else if (s) s.auctions.push(e.id);
      else state.set(e.seller, { person: undefined, auctions: [e.id] });
    }
  }
  return n;
}

export function q18(events: NexmarkEvent[]): number {
  const last = new Map<number, number>();
  let n = 0;
  for (const e of events) {
    if (e.type !== BID) continue;
    const key = e.bidder * 134_217_728 + e.auction;
    const t = last.get(key);
    if (t === undefined || e.dateTime >= t) {
      last.set(key, e.dateTime);
      keep(e);
      n++;
    }
  }
  return n;
}

export function q19(events: NexmarkEvent[]): number {
  const tops = new Map<number, Bid[]>();
  let n = 0;
  for (const e of events) {
    if (e.type !== BID) continue;
    let list = tops.get(e.auction);
    if (!list) tops.set(e.auction, (list = []));
    if (list.length === 10 && e.price <= list[9]!.price) continue;
    let at = list.length;
    while (at > 0 && list[at - 1]!.price < e.price) at--;
    list.splice(at, 0, e);
    keep(e);
    n++;
    if (list.length > 10) {
      keep(list.pop());
      n++;
    }
  }
  return n;
}

export function q20(events: NexmarkEvent[]): number {
  const state = new Map<number, Auction | false | Bid[]>();
  let n = 0;
  const join = (b: Bid, a: Auction) => {
    keep({
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
    });
    n++;
  };
  for (const e of events) {
    if (e.type === AUCTION) {
      const s = state.get(e.id);
      state.set(e.id, e.category === 10 ? e : false);
      if (e.category === 10 && Array.isArray(s)) for (const b of s) join(b, e);
    } else if (e.type === BID) {
      const s = state.get(e.auction);
      if (s === undefined) state.set(e.auction, [e]);
      else if (Array.isArray(s)) s.push(e);
      else if (s !== false) join(e, s);
    }
  }
  return n;
}
