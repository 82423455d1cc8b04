// The edges of q6, q9 and q10 that generated events seldom reach (the DuckDB comparison covers the bulk): equal
// prices, a bid before its auction or after its expiry, auctions of one seller expiring together, and when a file
// partition is committed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { collect, fromArrays, Pipeline } from '../../src/engine/index.ts';
import { csvField, partitionedFiles } from './files.ts';
import { AUCTION, type Auction, BID, type Bid, type NexmarkEvent } from './model.ts';
import { nexmarkEvents, type Q6Row, type Q9Row, q6, q9 } from './queries.ts';

const auction = (id: number, seller: number, dateTime: number, expires: number): Auction => ({
  type: AUCTION,
  id,
  itemName: `item${id}`,
  description: '',
  initialBid: 1,
  reserve: 1,
  dateTime,
  expires,
  seller,
  category: 10,
  extra: '',
});
const bid = (auctionId: number, bidder: number, price: number, dateTime: number): Bid => ({
  type: BID,
  auction: auctionId,
  bidder,
  price,
  channel: 'Google',
  url: '',
  dateTime,
  extra: '',
});

async function run<R>(query: (events: ReturnType<typeof nexmarkEvents>) => unknown, events: NexmarkEvent[]) {
  const p = new Pipeline({ bounded: true, onError: 'fail' });
  const sink = collect<R>();
  (query(nexmarkEvents(p, fromArrays([events], { batchSize: 2 }))) as { sinkTo(s: unknown): void }).sinkTo(sink);
  await p.run();
  return sink.values;
}

describe('Nexmark q6, q9 and q10 at their edges', () => {
  it('q9: the highest bid within the lifetime wins, the earliest of equal prices, a bid before its auction too', async () => {
    const rows = await run<Q9Row>(q9, [
      bid(1, 7, 90, 1500), // before its auction arrives, within its lifetime
      auction(1, 100, 1000, 5000),
      auction(2, 100, 1000, 5000), // no bid: no row
      bid(1, 8, 120, 2000),
      bid(1, 9, 120, 3000), // the same price later: loses
      bid(1, 10, 500, 6000), // after the expiry
      bid(1, 11, 80, 2500),
      auction(3, 100, 20_000, 30_000),
      bid(3, 12, 5, 900), // before the auction's start
      bid(3, 13, 6, 21_000),
    ]);
    assert.deepEqual(
      rows.map((r) => [r.id, r.bidder, r.price, r.bid_dateTime]),
      [
        [1, 8, 120, 2000],
        [3, 13, 6, 21_000],
      ],
    );
  });

  it('q6: the average of the last 10 closed auctions, those expiring together in id order', async () => {
    const events: NexmarkEvent[] = [];
    // Auctions 1..12 of seller 5, expiring at 10 s + id s, with one bid each at price id × 10; auctions 14 and 13
    // both expire at 30 s (14 arrives first).
    for (let id = 1; id <= 12; id++) events.push(auction(id, 5, 1000, 10_000 + id * 1000), bid(id, 1, id * 10, 2000));
    events.push(auction(14, 5, 3000, 30_000), bid(14, 1, 1000, 4000), auction(13, 5, 3000, 30_000));
    events.push(bid(13, 1, 500, 4000), auction(99, 6, 40_000, 41_000)); // a later event moves time on
    const rows = await run<Q6Row>(q6, events);
    const avgOfLast = (prices: number[]) => prices.slice(-10).reduce((a, b) => a + b, 0) / prices.slice(-10).length;
    const prices: number[] = [];
    const expected: number[] = [];
    for (const price of [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 500, 1000]) {
      prices.push(price);
      expected.push(avgOfLast(prices));
    }
    assert.deepEqual(
      rows.map((r) => [r.seller, r.avg]),
      expected.map((avg) => [5, avg]),
    );
  });

  it('q10: a partition is committed a minute after its end, with its rows', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-files-'));
    try {
      const files = partitionedFiles(dir);
      const t0 = Date.UTC(2015, 6, 15, 10, 30); // 10:30:00
      files.append('a\n', t0 + 1000);
      files.append('b\n', t0 + 61_000); // 10:31
      files.append('c\n', t0 + 59_999);
      const first = path.join(dir, 'dt=2015-07-15', 'hm=10:30');
      files.commitUpTo(t0 + 119_999);
      assert.equal(fs.existsSync(path.join(first, '_SUCCESS')), false, 'a minute after its end is not yet');
      files.commitUpTo(t0 + 120_000);
      assert.equal(fs.existsSync(path.join(first, '_SUCCESS')), true);
      assert.equal(fs.readFileSync(path.join(first, 'part-0.csv'), 'utf8'), 'a\nc\n');
      assert.equal(files.committed, 1);
      files.close();
      assert.equal(fs.readFileSync(path.join(dir, 'dt=2015-07-15', 'hm=10:31', 'part-0.csv'), 'utf8'), 'b\n');
      assert.equal(fs.existsSync(path.join(dir, 'dt=2015-07-15', 'hm=10:31', '_SUCCESS')), false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,"b"'), '"a,""b"""');
  });
});
