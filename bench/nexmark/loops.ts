// Hand-written loops computing each Nexmark query's result over an array of events, as plain JavaScript would without
// an engine: the baseline the benchmark compares the pipelines with (same results, same run). Events come in time
// order (the generator's), so the watermark is the latest time minus the 4 s bound and windows fire as it passes.
// Each loop returns the number of result rows (the pipeline's must be equal) and keeps the last row alive.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { partitionedFiles } from './files.ts';
import { AUCTION, type Auction, BID, type Bid, type NexmarkEvent, PERSON, type Person } from './model.ts';
import { bidTimeType, countChar, formatDay, type QueryName, q9Row, q10Line, SIDE_INPUT } from './queries.ts';

const BOUND = 4000;
let sinkHole: unknown;
/** Keeps a result reachable so that the loop's work cannot be optimised away. */
const keep = (row: unknown) => {
  sinkHole = row;
};
export const lastRow = () => sinkHole;

function q0(events: NexmarkEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type !== BID) continue;
    keep({ auction: e.auction, bidder: e.bidder, price: e.price, dateTime: e.dateTime, extra: e.extra });
    n++;
  }
  return n;
}

function q1(events: NexmarkEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type !== BID) continue;
    keep({ auction: e.auction, bidder: e.bidder, price: 0.908 * e.price, dateTime: e.dateTime, extra: e.extra });
    n++;
  }
  return n;
}

function q2(events: NexmarkEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type !== BID || e.auction % 123 !== 0) continue;
    keep({ auction: e.auction, price: e.price });
    n++;
  }
  return n;
}

function q3(events: NexmarkEvent[]): number {
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

/** A min-heap of [time, value] (auction expiries). */
class Heap<V> {
  private readonly times: number[] = [];
  private readonly values: V[] = [];
  get size() {
    return this.times.length;
  }
  peek(): number {
    return this.times[0]!;
  }
  push(time: number, value: V): void {
    const { times, values } = this;
    let i = times.length;
    times.push(time);
    values.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= time) break;
      times[i] = times[parent]!;
      values[i] = values[parent]!;
      i = parent;
    }
    times[i] = time;
    values[i] = value;
  }
  pop(): V {
    const { times, values } = this;
    const top = values[0]!;
    const lastTime = times.pop()!;
    const lastValue = values.pop()!;
    if (times.length > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= times.length) break;
        if (child + 1 < times.length && times[child + 1]! < times[child]!) child++;
        if (times[child]! >= lastTime) break;
        times[i] = times[child]!;
        values[i] = values[child]!;
        i = child;
      }
      times[i] = lastTime;
      values[i] = lastValue;
    }
    return top;
  }
}

function q4(events: NexmarkEvent[]): number {
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

function q6(events: NexmarkEvent[]): number {
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

function q9(events: NexmarkEvent[]): number {
  let n = 0;
  winningBids(events, (a, b) => {
    keep(q9Row(a, b));
    n++;
  });
  return n;
}

function q5(events: NexmarkEvent[]): number {
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

function q7(events: NexmarkEvent[]): number {
  const windows = new Map<number, { max: number; bids: Bid[] }>();
  let n = 0;
  const fire = (upTo: number) => {
    for (const [start, w] of windows) {
      if (start + 10_000 > upTo) continue;
      for (const b of w.bids) {
        keep({ auction: b.auction, price: b.price, bidder: b.bidder, dateTime: b.dateTime, extra: b.extra });
        n++;
      }
      windows.delete(start);
    }
  };
  let fired = Number.NEGATIVE_INFINITY;
  for (const e of events) {
    if (e.type === BID) {
      const start = e.dateTime - (e.dateTime % 10_000);
      let w = windows.get(start);
      if (!w) windows.set(start, (w = { max: -1, bids: [] }));
      if (e.price > w.max) {
        w.max = e.price;
        w.bids = [e];
      } else if (e.price === w.max) w.bids.push(e);
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

function q8(events: NexmarkEvent[]): number {
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

function q10(events: NexmarkEvent[]): number {
  // The same files as the pipeline's, in a directory of its own, removed afterwards.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-nexmark-q10-loop-'));
  try {
    const files = partitionedFiles(dir);
    let n = 0;
    let watermark = Number.NEGATIVE_INFINITY;
    for (const e of events) {
      if (e.type === BID) {
        const iso = new Date(e.dateTime).toISOString();
        const row = {
          auction: e.auction,
          bidder: e.bidder,
          price: e.price,
          dateTime: `${iso.slice(0, 10)} ${iso.slice(11, 23)}`,
          extra: e.extra,
          dt: iso.slice(0, 10),
          hm: iso.slice(11, 16),
        };
        files.append(q10Line(row), e.dateTime);
        keep(row);
        n++;
      }
      if (e.dateTime - BOUND > watermark) {
        watermark = e.dateTime - BOUND;
        files.commitUpTo(watermark);
      }
    }
    files.commitUpTo(Number.POSITIVE_INFINITY);
    return n;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function q11(events: NexmarkEvent[]): number {
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

function q12(events: NexmarkEvent[]): number {
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

function q13(events: NexmarkEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type !== BID) continue;
    const value = SIDE_INPUT.get(e.auction % 10_000);
    if (value === undefined) continue;
    keep({ auction: e.auction, bidder: e.bidder, price: e.price, dateTime: e.dateTime, value });
    n++;
  }
  return n;
}

function q14(events: NexmarkEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type !== BID) continue;
    const price = 0.908 * e.price;
    if (price <= 1_000_000 || price >= 50_000_000) continue;
    keep({
      auction: e.auction,
      bidder: e.bidder,
      price,
      bidTimeType: bidTimeType(e.dateTime),
      dateTime: e.dateTime,
      extra: e.extra,
      c_counts: countChar(e.extra, 99),
    });
    n++;
  }
  return n;
}

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

function q15(events: NexmarkEvent[]): number {
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

function q16(events: NexmarkEvent[]): number {
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

function q17(events: NexmarkEvent[]): number {
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

function q18(events: NexmarkEvent[]): number {
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

function q19(events: NexmarkEvent[]): number {
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

function q20(events: NexmarkEvent[]): number {
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

const HOT: Record<string, string> = { apple: '0', google: '1', facebook: '2', baidu: '3' };
const CHANNEL_ID = /(&|^)channel_id=([^&]*)/;
function q21(events: NexmarkEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type !== BID) continue;
    const id = HOT[e.channel.toLowerCase()] ?? CHANNEL_ID.exec(e.url)?.[2];
    if (id === undefined) continue;
    keep({ auction: e.auction, bidder: e.bidder, price: e.price, channel: e.channel, channel_id: id });
    n++;
  }
  return n;
}

function q22(events: NexmarkEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type !== BID) continue;
    const parts = e.url.split('/');
    keep({
      auction: e.auction,
      bidder: e.bidder,
      price: e.price,
      channel: e.channel,
      dir1: parts[3] ?? null,
      dir2: parts[4] ?? null,
      dir3: parts[5] ?? null,
    });
    n++;
  }
  return n;
}

export const LOOPS: Record<QueryName, (events: NexmarkEvent[]) => number> = {
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
