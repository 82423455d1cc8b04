// The hand-written loops of the Nexmark queries on closed auctions (q4, q6, q9): auctions close in order of expiry
// as the watermark passes it, their highest bid then final; bids that come before their auction wait for it.
import { AUCTION, type Auction, BID, type Bid, type NexmarkEvent } from '../model.ts';
import { q9Row } from '../queries/auctions.ts';
import { Heap } from './heap.ts';
import { BOUND, keep } from './keep.ts';

export function q4(events: NexmarkEvent[]): number {
  const open = new Map<number, { auction: Auction; max: number }>();
  const early = new Map<number, number[]>();
  const closing = new Heap<number>();
  const totals = new Map<number, { sum: number; count: number }>();
  let n = 0;
  let watermark = Number.NEGATIVE_INFINITY;
  let lastSweep = Number.NEGATIVE_INFINITY;
  const close = (upTo: number) => {
    while (closing.size > 0 && closing.peek() <= upTo) {
      const id = closing.pop();
      const s = open.get(id)!;
      open.delete(id);
      if (s.max < 0) continue;
      let t = totals.get(s.auction.category);
      if (!t) totals.set(s.auction.category, (t = { sum: 0, count: 0 }));
      t.sum += s.max;
      t.count++;
      keep({ category: s.auction.category, avg: t.sum / t.count });
      n++;
    }
  };
  for (const e of events) {
    if (e.type === AUCTION) {
      let max = -1;
      const before = early.get(e.id);
      if (before) {
        for (let i = 0; i < before.length; i += 2) {
          const t = before[i]!;
          if (t >= e.dateTime && t <= e.expires && before[i + 1]! > max) max = before[i + 1]!;
        }
        early.delete(e.id);
      }
      open.set(e.id, { auction: e, max });
      closing.push(e.expires + 1, e.id);
    } else if (e.type === BID) {
      const s = open.get(e.auction);
      if (s) {
        if (e.dateTime >= s.auction.dateTime && e.dateTime <= s.auction.expires && e.price > s.max) s.max = e.price;
      } else {
        let list = early.get(e.auction);
        if (!list) early.set(e.auction, (list = []));
        list.push(e.dateTime, e.price);
      }
    }
    if (e.dateTime - BOUND > watermark) {
      watermark = e.dateTime - BOUND;
      close(watermark);
      // Bids whose auction has not come by the time the watermark passes them never match: forget them.
      if (watermark >= lastSweep + 100) {
        lastSweep = watermark;
        for (const [id, list] of early) if (list[list.length - 2]! < watermark) early.delete(id);
      }
    }
  }
  close(Number.POSITIVE_INFINITY);
  return n;
}

/** Each auction's winning bid as it closes, the watermark trailing the latest event by the bound (q6, q9). */
function winningBids(events: NexmarkEvent[], onClose: (a: Auction, b: Bid) => void): void {
  const open = new Map<number, { auction: Auction; best: Bid | undefined }>();
  const early = new Map<number, Bid[]>();
  const closing = new Heap<number>();
  let watermark = Number.NEGATIVE_INFINITY;
  let lastSweep = Number.NEGATIVE_INFINITY;
  const beats = (b: Bid, best: Bid | undefined) =>
    best === undefined || b.price > best.price || (b.price === best.price && b.dateTime < best.dateTime);
  const closed: { auction: Auction; best: Bid }[] = [];
  const close = (upTo: number) => {
    while (closing.size > 0 && closing.peek() <= upTo) {
      const id = closing.pop();
      const s = open.get(id)!;
      open.delete(id);
      if (s.best) closed.push({ auction: s.auction, best: s.best });
    }
    // Auctions expiring at the same time, in id order (the heap pops equal times in any order).
    if (closed.length > 1) closed.sort((a, b) => a.auction.expires - b.auction.expires || a.auction.id - b.auction.id);
    for (const c of closed) onClose(c.auction, c.best);
    closed.length = 0;
  };
  for (const e of events) {
    if (e.type === AUCTION) {
      let best: Bid | undefined;
      const before = early.get(e.id);
      if (before) {
        for (const b of before) if (b.dateTime >= e.dateTime && b.dateTime <= e.expires && beats(b, best)) best = b;
        early.delete(e.id);
      }
      open.set(e.id, { auction: e, best });
      closing.push(e.expires + 1, e.id);
    } else if (e.type === BID) {
      const s = open.get(e.auction);
      if (s) {
        if (e.dateTime >= s.auction.dateTime && e.dateTime <= s.auction.expires && beats(e, s.best)) s.best = e;
      } else {
        let list = early.get(e.auction);
        if (!list) early.set(e.auction, (list = []));
        list.push(e);
      }
    }
    if (e.dateTime - BOUND > watermark) {
      watermark = e.dateTime - BOUND;
      close(watermark);
      if (watermark >= lastSweep + 100) {
        lastSweep = watermark;
        for (const [id, list] of early) if (list[list.length - 1]!.dateTime < watermark) early.delete(id);
      }
    }
  }
  close(Number.POSITIVE_INFINITY);
}

export function q6(events: NexmarkEvent[]): number {
  // Per seller, the final prices of its last 10 closed auctions (they close in order of expiry, then id).
  const last = new Map<number, number[]>();
  let n = 0;
  winningBids(events, (a, b) => {
    let list = last.get(a.seller);
    if (!list) last.set(a.seller, (list = []));
    list.push(b.price);
    if (list.length > 10) list.shift();
    let sum = 0;
    for (const price of list) sum += price;
    keep({ seller: a.seller, avg: sum / list.length });
    n++;
  });
  return n;
}

export function q9(events: NexmarkEvent[]): number {
  let n = 0;
  winningBids(events, (a, b) => {
    keep(q9Row(a, b));
    n++;
  });
  return n;
}
