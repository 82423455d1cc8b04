// The hand-written loops of the stateless Nexmark queries: projections and filters (q0-q2, q14, q21, q22), the side
// input lookup (q13), and every bid written to time-partitioned files committed as the watermark passes (q10).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { partitionedFiles } from '../files.ts';
import { BID, type NexmarkEvent } from '../model.ts';
import { bidTimeType, countChar } from '../queries/functions.ts';
import { q10Line, SIDE_INPUT } from '../queries/per-bid.ts';
import { BOUND, keep } from './keep.ts';

export function q0(events: NexmarkEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type !== BID) continue;
    keep({ auction: e.auction, bidder: e.bidder, price: e.price, dateTime: e.dateTime, extra: e.extra });
    n++;
  }
  return n;
}

export function q1(events: NexmarkEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type !== BID) continue;
    keep({ auction: e.auction, bidder: e.bidder, price: 0.908 * e.price, dateTime: e.dateTime, extra: e.extra });
    n++;
  }
  return n;
}

export function q2(events: NexmarkEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type !== BID || e.auction % 123 !== 0) continue;
    keep({ auction: e.auction, price: e.price });
    n++;
  }
  return n;
}

export function q10(events: NexmarkEvent[]): number {
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

export function q13(events: NexmarkEvent[]): number {
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

export function q14(events: NexmarkEvent[]): number {
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

const HOT: Record<string, string> = { apple: '0', google: '1', facebook: '2', baidu: '3' };
const CHANNEL_ID = /(&|^)channel_id=([^&]*)/;
export function q21(events: NexmarkEvent[]): number {
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

export function q22(events: NexmarkEvent[]): number {
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
