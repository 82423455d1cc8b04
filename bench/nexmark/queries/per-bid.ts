// The Nexmark queries that take each bid on its own, without state: projections and filters (q0-q2, q14, q21, q22),
// the lookup of a bounded side input (q13), and every bid written to time-partitioned files (q10).
import type { DataStream } from '../../../src/engine/index.ts';
import { csvField, partitionedCsvSink } from '../files.ts';
import { type Bid, isBid, type NexmarkEvent } from '../model.ts';
import { bidTimeType, countChar } from './functions.ts';

// q0: SELECT auction, bidder, price, dateTime, extra FROM bid
export interface Q0Row {
  auction: number;
  bidder: number;
  price: number;
  dateTime: number;
  extra: string;
}
export function q0(events: DataStream<NexmarkEvent>): DataStream<Q0Row> {
  return events
    .filter(isBid)
    .map((b) => ({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, extra: b.extra }));
}

// q1: SELECT auction, bidder, 0.908 * price as price, dateTime, extra FROM bid
export function q1(events: DataStream<NexmarkEvent>): DataStream<Q0Row> {
  return events.filter(isBid).map((b) => ({
    auction: b.auction,
    bidder: b.bidder,
    price: 0.908 * b.price,
    dateTime: b.dateTime,
    extra: b.extra,
  }));
}

// q2: SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
export interface Q2Row {
  auction: number;
  price: number;
}
export function q2(events: DataStream<NexmarkEvent>): DataStream<Q2Row> {
  return events
    .filter((e): e is Bid => isBid(e) && e.auction % 123 === 0)
    .map((b) => ({ auction: b.auction, price: b.price }));
}

/** What a query may need besides its events: where q10 writes its files. */
export interface QueryOptions {
  outputDir?: string;
}

// q10: every bid logged to files partitioned by time (not in the original suite):
//   INSERT INTO fs_sink SELECT auction, bidder, price, dateTime, extra, DATE_FORMAT(dateTime, 'yyyy-MM-dd'),
//     DATE_FORMAT(dateTime, 'HH:mm') FROM bid
//   with fs_sink PARTITIONED BY (dt, hm), csv, committed with a success file once the watermark is a minute past
//   the partition's end. The rows go to the files (bench/nexmark/files.ts) and on as the query's result stream.
export interface Q10Row {
  auction: number;
  bidder: number;
  price: number;
  /** yyyy-MM-dd HH:mm:ss.SSS (UTC), as Flink writes a TIMESTAMP(3). */
  dateTime: string;
  extra: string;
  dt: string;
  hm: string;
}
export function q10(events: DataStream<NexmarkEvent>, options: QueryOptions = {}): DataStream<Q10Row> {
  const rows = events.filter(isBid).map((b) => {
    const iso = new Date(b.dateTime).toISOString();
    return {
      auction: b.auction,
      bidder: b.bidder,
      price: b.price,
      dateTime: `${iso.slice(0, 10)} ${iso.slice(11, 23)}`,
      extra: b.extra,
      dt: iso.slice(0, 10),
      hm: iso.slice(11, 16),
    };
  });
  if (options.outputDir === undefined) throw new Error('q10 writes files: give it an outputDir');
  rows.sinkTo(partitionedCsvSink(options.outputDir, q10Line));
  return rows;
}
/** A row of q10's files: the partition columns are in the path, as Flink's filesystem sink writes them. */
export const q10Line = (r: Q10Row) => `${r.auction},${r.bidder},${r.price},${r.dateTime},${csvField(r.extra)}\n`;

// q13: bids joined with a bounded side input (not in the original suite):
//   SELECT B.auction, B.bidder, B.price, B.dateTime, S.value FROM (SELECT *, PROCTIME() as p_time FROM bid) B
//   JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S ON mod(B.auction, 10000) = S.key
// The side input is a table read whole before the stream starts (as Flink's lookup join caches a file table):
// SIDE_INPUT, 10,000 rows parsed from CSV text.
export interface Q13Row {
  auction: number;
  bidder: number;
  price: number;
  dateTime: number;
  value: string;
}
export const SIDE_INPUT_CSV = Array.from({ length: 10_000 }, (_, key) => `${key},side-${(key * 7919) % 10_000}\n`).join(
  '',
);
export const SIDE_INPUT: ReadonlyMap<number, string> = new Map(
  SIDE_INPUT_CSV.trimEnd()
    .split('\n')
    .map((line) => {
      const comma = line.indexOf(',');
      return [Number(line.slice(0, comma)), line.slice(comma + 1)];
    }),
);
export function q13(events: DataStream<NexmarkEvent>): DataStream<Q13Row> {
  return events.filter(isBid).flatMap((b) => {
    const value = SIDE_INPUT.get(b.auction % 10_000);
    // An inner join: a bid whose key the side input lacks has no row.
    if (value === undefined) return [];
    return [{ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, value }];
  });
}

// q14: SELECT auction, bidder, 0.908 * price as price, CASE WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18
//      THEN 'dayTime' WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime' ELSE 'otherTime' END AS
//      bidTimeType, dateTime, extra, count_char(extra, 'c') AS c_counts FROM bid
//      WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000
export interface Q14Row {
  auction: number;
  bidder: number;
  price: number;
  bidTimeType: string;
  dateTime: number;
  extra: string;
  c_counts: number;
}
export function q14(events: DataStream<NexmarkEvent>): DataStream<Q14Row> {
  return events
    .filter((e): e is Bid => isBid(e) && 0.908 * e.price > 1_000_000 && 0.908 * e.price < 50_000_000)
    .map((b) => ({
      auction: b.auction,
      bidder: b.bidder,
      price: 0.908 * b.price,
      bidTimeType: bidTimeType(b.dateTime),
      dateTime: b.dateTime,
      extra: b.extra,
      c_counts: countChar(b.extra, 99),
    }));
}

// q21: SELECT auction, bidder, price, channel, CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) =
//      'google' THEN '1' WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3' ELSE
//      REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END AS channel_id FROM bid WHERE REGEXP_EXTRACT(url,
//      '(&|^)channel_id=([^&]*)', 2) is not null or lower(channel) in ('apple', 'google', 'facebook', 'baidu')
export interface Q21Row {
  auction: number;
  bidder: number;
  price: number;
  channel: string;
  channel_id: string;
}
const HOT_CHANNEL_IDS: Record<string, string> = { apple: '0', google: '1', facebook: '2', baidu: '3' };
const CHANNEL_ID = /(&|^)channel_id=([^&]*)/;
export function q21(events: DataStream<NexmarkEvent>): DataStream<Q21Row> {
  return events.filter(isBid).flatMap((b) => {
    const channelId = HOT_CHANNEL_IDS[b.channel.toLowerCase()] ?? CHANNEL_ID.exec(b.url)?.[2];
    if (channelId === undefined) return [];
    return [{ auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, channel_id: channelId }];
  });
}

// q22: SELECT auction, bidder, price, channel, SPLIT_INDEX(url, '/', 3) as dir1, SPLIT_INDEX(url, '/', 4) as dir2,
//      SPLIT_INDEX(url, '/', 5) as dir3 FROM bid
export interface Q22Row {
  auction: number;
  bidder: number;
  price: number;
  channel: string;
  dir1: string | null;
  dir2: string | null;
  dir3: string | null;
}
export function q22(events: DataStream<NexmarkEvent>): DataStream<Q22Row> {
  return events.filter(isBid).map<Q22Row>((b) => {
    const parts = b.url.split('/');
    return {
      auction: b.auction,
      bidder: b.bidder,
      price: b.price,
      channel: b.channel,
      dir1: parts[3] ?? null,
      dir2: parts[4] ?? null,
      dir3: parts[5] ?? null,
    };
  });
}
