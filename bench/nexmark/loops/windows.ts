// The hand-written loops of the windowed Nexmark queries: sliding-window hot auctions (q5), tumbling-window highest
// bids (q7) and joins (q8), bidder sessions (q11), and processing-time counts (q12), each window fired by hand.
import { BID, type Bid, type NexmarkEvent, PERSON } from '../model.ts';
import { BOUND, keep } from './keep.ts';

export function q5(events: NexmarkEvent[]): number {
  const panes = new Map<number, Map<number, number>>();
  let n = 0;
  let lastPane = Number.NaN;
  let pane: Map<number, number> | undefined;
  let nextEnd = Number.NaN;
  const fire = (end: number) => {
    // Window [end - 10 s, end): its five 2 s panes merged, then the auctions with the maximum count.
    const counts = new Map<number, number>();
    for (let p = end - 10_000; p < end; p += 2000) {
      const m = panes.get(p);
      if (m) for (const [auction, c] of m) counts.set(auction, (counts.get(auction) ?? 0) + c);
    }
    let max = 0;
    for (const c of counts.values()) if (c > max) max = c;
    for (const [auction, c] of counts) {
      if (c === max) {
        keep({ auction, num: c, starttime: end - 10_000, endtime: end });
        n++;
      }
    }
    panes.delete(end - 10_000);
  };
  for (const e of events) {
    if (e.type === BID) {
      const p = e.dateTime - (e.dateTime % 2000);
      if (p !== lastPane) {
        pane = panes.get(p);
        if (!pane) panes.set(p, (pane = new Map()));
        lastPane = p;
        if (Number.isNaN(nextEnd)) nextEnd = p + 2000;
      }
      pane!.set(e.auction, (pane!.get(e.auction) ?? 0) + 1);
    }
    for (const watermark = e.dateTime - BOUND; nextEnd <= watermark; nextEnd += 2000) fire(nextEnd);
  }
  for (; panes.size > 0; nextEnd += 2000) fire(nextEnd);
  return n;
}

export function q7(events: NexmarkEvent[]): number {
  // Per window: its maximum, the bids at it, and the bids at its first instant (which also match the maximum of
  // the window before: B.dateTime BETWEEN window_end - 10 s AND window_end).
  const windows = new Map<number, { max: number; bids: Bid[]; edge: Bid[] }>();
  let n = 0;
  const emit = (b: Bid) => {
    keep({ auction: b.auction, price: b.price, bidder: b.bidder, dateTime: b.dateTime, extra: b.extra });
    n++;
  };
  const fire = (upTo: number) => {
    for (const [start, w] of windows) {
      if (start + 10_000 > upTo) continue;
      for (const b of w.bids) emit(b);
      for (const b of windows.get(start + 10_000)?.edge ?? []) if (b.price === w.max) emit(b);
      windows.delete(start);
    }
  };
  let fired = Number.NEGATIVE_INFINITY;
  for (const e of events) {
    if (e.type === BID) {
      const start = e.dateTime - (e.dateTime % 10_000);
      let w = windows.get(start);
      if (!w) windows.set(start, (w = { max: -1, bids: [], edge: [] }));
      if (e.price > w.max) {
        w.max = e.price;
        w.bids = [e];
      } else if (e.price === w.max) w.bids.push(e);
      if (e.dateTime === start) w.edge.push(e);
    }
    const watermark = e.dateTime - BOUND;
    if (watermark - (watermark % 10_000) > fired) {
      fired = watermark - (watermark % 10_000);
      fire(watermark);
    }
  }
  fire(Number.POSITIVE_INFINITY);
  return n;
}

export function q8(events: NexmarkEvent[]): number {
  const windows = new Map<number, { people: Map<number, string>; sellers: Set<number> }>();
  let n = 0;
  let fired = Number.NEGATIVE_INFINITY;
  const fire = (upTo: number) => {
    for (const [start, w] of windows) {
      if (start + 10_000 > upTo) continue;
      for (const [id, name] of w.people) {
        if (w.sellers.has(id)) {
          keep({ id, name, starttime: start });
          n++;
        }
      }
      windows.delete(start);
    }
  };
  for (const e of events) {
    if (e.type !== BID) {
      const start = e.dateTime - (e.dateTime % 10_000);
      let w = windows.get(start);
      if (!w) windows.set(start, (w = { people: new Map(), sellers: new Set() }));
      if (e.type === PERSON) w.people.set(e.id, e.name);
      else w.sellers.add(e.seller);
    }
    const watermark = e.dateTime - BOUND;
    if (watermark - (watermark % 10_000) > fired) {
      fired = watermark - (watermark % 10_000);
      fire(watermark);
    }
  }
  fire(Number.POSITIVE_INFINITY);
  return n;
}

export function q11(events: NexmarkEvent[]): number {
  const sessions = new Map<number, { start: number; end: number; count: number }>();
  let n = 0;
  let swept = Number.NEGATIVE_INFINITY;
  const emit = (bidder: number, s: { start: number; end: number; count: number }) => {
    keep({ bidder, bid_count: s.count, starttime: s.start, endtime: s.end });
    n++;
  };
  for (const e of events) {
    if (e.type !== BID) continue;
    const s = sessions.get(e.bidder);
    if (s && e.dateTime < s.end) {
      s.count++;
      if (e.dateTime + 10_000 > s.end) s.end = e.dateTime + 10_000;
    } else {
      if (s) emit(e.bidder, s);
      sessions.set(e.bidder, { start: e.dateTime, end: e.dateTime + 10_000, count: 1 });
    }
    const watermark = e.dateTime - BOUND;
    if (watermark >= swept + 1000) {
      swept = watermark;
      for (const [bidder, s2] of sessions) {
        if (s2.end <= watermark) {
          emit(bidder, s2);
          sessions.delete(bidder);
        }
      }
    }
  }
  for (const [bidder, s] of sessions) emit(bidder, s);
  return n;
}

export function q12(events: NexmarkEvent[]): number {
  let counts = new Map<number, number>();
  let windowEnd = Date.now() - (Date.now() % 10_000) + 10_000;
  let n = 0;
  const fire = () => {
    for (const [bidder, c] of counts) keep({ bidder, bid_count: c, starttime: windowEnd - 10_000, endtime: windowEnd });
    n += counts.size;
    counts = new Map();
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if ((i & 1023) === 0 && Date.now() >= windowEnd) {
      fire();
      windowEnd = Date.now() - (Date.now() % 10_000) + 10_000;
    }
    if (e.type === BID) counts.set(e.bidder, (counts.get(e.bidder) ?? 0) + 1);
  }
  fire();
  return n;
}
