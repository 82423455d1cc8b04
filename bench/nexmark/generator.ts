// The Nexmark event generator, ported from Apache Beam's (sources/generator: Generator, GeneratorConfig and the
// model generators). Event n is drawn from `new java.util.Random(eventId)`, so every event is computed from its
// number alone: the stream is bit-exact with Beam's, reproducible, and can be generated from any point. Bids also
// get nexmark-flink's channel and url, drawn after Beam's fields so that those stay exact (Flink draws them from an
// unseeded Random; ours are seeded, hence reproducible too).
import { SluiceError } from '../../src/errors.ts';
import { AUCTION, type Auction, BID, type Bid, type NexmarkEvent, PERSON, type Person } from './model.ts';
import { JavaRandom } from './random.ts';

/** Beam's base time for deterministic runs: 2015-07-15T00:00:00Z. */
export const BASE_TIME = 1_436_918_400_000;

export const FIRST_AUCTION_ID = 1000;
export const FIRST_PERSON_ID = 1000;
export const FIRST_CATEGORY_ID = 10;
export const PERSON_PROPORTION = 1;
export const AUCTION_PROPORTION = 3;
export const BID_PROPORTION = 46;
export const PROPORTION_DENOMINATOR = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION;

const NUM_CATEGORIES = 5;
const AUCTION_ID_LEAD = 10;
const PERSON_ID_LEAD = 10;
const HOT_SELLER_RATIO = 100;
const HOT_AUCTION_RATIO = 100;
const HOT_BIDDER_RATIO = 100;
const MIN_STRING_LENGTH = 3;
const HOT_CHANNELS_RATIO = 2;
const CHANNELS_NUMBER = 10_000;
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'];

const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'];
const US_CITIES = [
  'Phoenix',
  'Los Angeles',
  'San Francisco',
  'Boise',
  'Portland',
  'Bend',
  'Redmond',
  'Seattle',
  'Kent',
  'Cheyenne',
];
const FIRST_NAMES = ['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter'];
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];
const FOUR_DIGITS = Array.from({ length: 10_000 }, (_, i) => String(i).padStart(4, '0'));

export interface GeneratorConfig {
  /** Event time of event number 0 (ms). Default: Beam's 2015-07-15T00:00:00Z. */
  baseTime: number;
  /** Added to event numbers to make ids (and seeds); Beam's parallel generators split this space. */
  firstEventId: number;
  firstEventNumber: number;
  /** Event-time spacing between events, in µs. Default 10 (100,000 events per second, as Flink's V2 runs). */
  interEventDelayUs: number;
  /** Events emitted in a pseudo-random order within groups of this size (1: in order). */
  outOfOrderGroupSize: number;
  avgPersonByteSize: number;
  avgAuctionByteSize: number;
  avgBidByteSize: number;
  /** P(bid on a hot auction) = 1 - 1/ratio; likewise for hot sellers and hot bidders. */
  hotAuctionRatio: number;
  hotSellersRatio: number;
  hotBiddersRatio: number;
  numInFlightAuctions: number;
  numActivePeople: number;
}

export const DEFAULT_CONFIG: GeneratorConfig = {
  baseTime: BASE_TIME,
  firstEventId: 0,
  firstEventNumber: 0,
  interEventDelayUs: 10,
  outOfOrderGroupSize: 1,
  avgPersonByteSize: 200,
  avgAuctionByteSize: 500,
  avgBidByteSize: 100,
  hotAuctionRatio: 2,
  hotSellersRatio: 4,
  hotBiddersRatio: 4,
  numInFlightAuctions: 100,
  numActivePeople: 1000,
};

/** Java's `long / long` for the non-negative and small negative values used here (truncation toward zero). */
const div = (a: number, b: number) => Math.trunc(a / b);

export function lastBase0PersonId(eventId: number): number {
  const epoch = div(eventId, PROPORTION_DENOMINATOR);
  let offset = eventId % PROPORTION_DENOMINATOR;
  if (offset >= PERSON_PROPORTION) offset = PERSON_PROPORTION - 1;
  return epoch * PERSON_PROPORTION + offset;
}

export function lastBase0AuctionId(eventId: number): number {
  let epoch = div(eventId, PROPORTION_DENOMINATOR);
  let offset = eventId % PROPORTION_DENOMINATOR;
  if (offset < PERSON_PROPORTION) {
    epoch--;
    offset = AUCTION_PROPORTION - 1;
  } else if (offset >= PERSON_PROPORTION + AUCTION_PROPORTION) {
    offset = AUCTION_PROPORTION - 1;
  } else {
    offset -= PERSON_PROPORTION;
  }
  return epoch * AUCTION_PROPORTION + offset;
}

/** Beam's LongGenerator.nextLong: uniform below `n` (through nextInt while n fits an int). */
function nextLong(random: JavaRandom, n: number): number {
  if (n < 2_147_483_647) return random.nextIntBounded(n);
  // Beam's own warning: a skewed distribution; kept for exactness.
  const r = random.nextLong() % BigInt(n);
  return Number(r < 0n ? -r : r);
}

function nextPrice(random: JavaRandom): number {
  return Math.round(10 ** (random.nextDouble() * 6) * 100);
}

/** Characters are written here and decoded at once (far faster than concatenating them one by one). */
const scratch = Buffer.alloc(1024);

function charsToString(n: number): string {
  return scratch.toString('latin1', 0, n);
}

/** A string of 3..maxLength-1 characters, letters with some `special` characters, trimmed of spaces. */
function nextString(random: JavaRandom, maxLength: number, special = 32): string {
  const len = MIN_STRING_LENGTH + random.nextIntBounded(maxLength - MIN_STRING_LENGTH);
  for (let i = 0; i < len; i++) {
    scratch[i] = random.nextIntBounded(13) === 0 ? special : 97 + random.nextIntBounded(26);
  }
  const s = charsToString(len);
  return special === 32 ? s.trim() : s;
}

/** Exactly `length` characters, six per nextInt(); Java's `%` and `/` keep the sign, so some fall below 'a'. */
function nextExactString(random: JavaRandom, length: number): string {
  let rnd = 0;
  let n = 0;
  for (let i = 0; i < length; i++) {
    if (n === 0) {
      rnd = random.nextInt();
      n = 6;
    }
    scratch[i] = 97 + (rnd % 26);
    rnd = (rnd / 26) | 0;
    n--;
  }
  return charsToString(length);
}

/** Padding so that currentSize + its length averages desiredAverageSize (±20%). */
function nextExtra(random: JavaRandom, currentSize: number, desiredAverageSize: number): string {
  if (currentSize > desiredAverageSize) return '';
  const desired = desiredAverageSize - currentSize;
  const delta = Math.round(desired * 0.2);
  const minSize = desired - delta;
  const size = minSize + (delta === 0 ? 0 : random.nextIntBounded(2 * delta));
  return nextExactString(random, size);
}

function reverseBits32(x: number): number {
  let r = 0;
  for (let i = 0; i < 32; i++) {
    r = (r << 1) | (x & 1);
    x >>>= 1;
  }
  return r | 0;
}

/** Java's Math.abs(int): Integer.MIN_VALUE stays negative. */
const javaIntAbs = (x: number) => (x === -2_147_483_648 ? x : Math.abs(x));

/** nexmark-flink's "https://www.nexmark.com/<a>/<b>/<c>/item.htm?query=1", from a seeded Random. */
function baseUrl(random: JavaRandom): string {
  const part = () => nextString(random, 5, 95);
  return `https://www.nexmark.com/${part()}/${part()}/${part()}/item.htm?query=1`;
}

const HOT_URLS = HOT_CHANNELS.map((_, i) => baseUrl(new JavaRandom(CHANNELS_NUMBER + i)));
const channelCache: ([string, string] | undefined)[] = new Array(CHANNELS_NUMBER);

function channelAndUrl(channel: number): [string, string] {
  let cached = channelCache[channel];
  if (cached === undefined) {
    const random = new JavaRandom(channel);
    let url = baseUrl(random);
    if (random.nextIntBounded(10) > 0) url += `&channel_id=${javaIntAbs(reverseBits32(channel))}`;
    cached = channelCache[channel] = [`channel-${channel}`, url];
  }
  return cached;
}

export class NexmarkGenerator {
  readonly config: GeneratorConfig;
  private readonly random = new JavaRandom();

  constructor(config: Partial<GeneratorConfig> = {}) {
    this.config = { ...DEFAULT_CONFIG, ...config };
    const c = this.config;
    for (const [name, value] of Object.entries(c)) {
      if (!Number.isSafeInteger(value) || (value as number) < 0 || (name !== 'baseTime' && value > 2 ** 40)) {
        throw new SluiceError(
          'INVALID_CONFIG',
          `nexmark generator: ${name} must be a non-negative integer, not ${value}`,
        );
      }
    }
    if (c.interEventDelayUs === 0 || c.outOfOrderGroupSize === 0) {
      throw new SluiceError(
        'INVALID_CONFIG',
        'nexmark generator: interEventDelayUs and outOfOrderGroupSize must be > 0',
      );
    }
  }

  /** The event time of event number `eventNumber` (Beam's timestampAndInterEventDelayUsForEvent, one rate). */
  timestamp(eventNumber: number): number {
    return this.config.baseTime + Math.floor((eventNumber * this.config.interEventDelayUs) / 1000);
  }

  /** Event number after `numEvents` events, shuffled within out-of-order groups (Beam's nextAdjustedEventNumber). */
  adjustedEventNumber(numEvents: number): number {
    const n = this.config.outOfOrderGroupSize;
    const eventNumber = this.config.firstEventNumber + numEvents;
    if (n === 1) return eventNumber;
    return Math.floor(eventNumber / n) * n + ((eventNumber * 953) % n);
  }

  /** The id (and seed) of the event generated after `numEvents` events. */
  eventId(numEvents: number): number {
    return this.config.firstEventId + this.adjustedEventNumber(numEvents);
  }

  /** A lower bound of this and every later event's time (Beam's watermark for the generator). */
  watermark(numEvents: number): number {
    const n = this.config.outOfOrderGroupSize;
    const eventNumber = this.config.firstEventNumber + numEvents;
    return this.timestamp(Math.floor(eventNumber / n) * n);
  }

  /** The event Beam's Generator returns after `numEvents` events (its eventsCountSoFar). */
  event(numEvents: number): NexmarkEvent {
    const timestamp = this.timestamp(this.adjustedEventNumber(numEvents));
    const eventId = this.eventId(numEvents);
    const random = this.random;
    random.setSeed(eventId);
    const rem = eventId % PROPORTION_DENOMINATOR;
    if (rem < PERSON_PROPORTION) return this.person(eventId, random, timestamp);
    if (rem < PERSON_PROPORTION + AUCTION_PROPORTION) return this.auction(numEvents, eventId, random, timestamp);
    return this.bid(eventId, random, timestamp);
  }

  private nextBase0PersonId(eventId: number, random: JavaRandom): number {
    const numPeople = lastBase0PersonId(eventId) + 1;
    const activePeople = Math.min(numPeople, this.config.numActivePeople);
    const n = nextLong(random, activePeople + PERSON_ID_LEAD);
    return numPeople - activePeople + n;
  }

  private nextBase0AuctionId(eventId: number, random: JavaRandom): number {
    const maxAuction = lastBase0AuctionId(eventId);
    const minAuction = Math.max(maxAuction - this.config.numInFlightAuctions, 0);
    return minAuction + nextLong(random, maxAuction - minAuction + 1 + AUCTION_ID_LEAD);
  }

  private person(eventId: number, random: JavaRandom, timestamp: number): Person {
    const id = lastBase0PersonId(eventId) + FIRST_PERSON_ID;
    const name = `${FIRST_NAMES[random.nextIntBounded(FIRST_NAMES.length)]} ${LAST_NAMES[random.nextIntBounded(LAST_NAMES.length)]}`;
    const emailAddress = `${nextString(random, 7)}@${nextString(random, 5)}.com`;
    const creditCard = `${FOUR_DIGITS[random.nextIntBounded(10_000)]} ${FOUR_DIGITS[random.nextIntBounded(10_000)]} ${FOUR_DIGITS[random.nextIntBounded(10_000)]} ${FOUR_DIGITS[random.nextIntBounded(10_000)]}`;
    const city = US_CITIES[random.nextIntBounded(US_CITIES.length)]!;
    const state = US_STATES[random.nextIntBounded(US_STATES.length)]!;
    const currentSize = 8 + name.length + emailAddress.length + creditCard.length + city.length + state.length;
    const extra = nextExtra(random, currentSize, this.config.avgPersonByteSize);
    return { type: PERSON, id, name, emailAddress, creditCard, city, state, dateTime: timestamp, extra };
  }

  private auction(numEvents: number, eventId: number, random: JavaRandom, timestamp: number): Auction {
    const c = this.config;
    const id = lastBase0AuctionId(eventId) + FIRST_AUCTION_ID;
    let seller: number;
    if (random.nextIntBounded(c.hotSellersRatio) > 0) {
      seller = Math.floor(lastBase0PersonId(eventId) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO;
    } else {
      seller = this.nextBase0PersonId(eventId, random);
    }
    seller += FIRST_PERSON_ID;
    const category = FIRST_CATEGORY_ID + random.nextIntBounded(NUM_CATEGORIES);
    const initialBid = nextPrice(random);
    // Auctions last on average until numInFlightAuctions more auctions have been generated.
    const numEventsForAuctions = Math.floor((c.numInFlightAuctions * PROPORTION_DENOMINATOR) / AUCTION_PROPORTION);
    const futureAuction = this.timestamp(this.adjustedEventNumber(numEvents) + numEventsForAuctions);
    const horizonMs = futureAuction - timestamp;
    const expires = timestamp + 1 + nextLong(random, Math.max(horizonMs * 2, 1));
    const itemName = nextString(random, 20);
    const description = nextString(random, 100);
    const reserve = initialBid + nextPrice(random);
    const currentSize = 8 + itemName.length + description.length + 8 + 8 + 8 + 8 + 8;
    const extra = nextExtra(random, currentSize, c.avgAuctionByteSize);
    return {
      type: AUCTION,
      id,
      itemName,
      description,
      initialBid,
      reserve,
      dateTime: timestamp,
      expires,
      seller,
      category,
      extra,
    };
  }

  private bid(eventId: number, random: JavaRandom, timestamp: number): Bid {
    const c = this.config;
    let auction: number;
    if (random.nextIntBounded(c.hotAuctionRatio) > 0) {
      auction = Math.floor(lastBase0AuctionId(eventId) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO;
    } else {
      auction = this.nextBase0AuctionId(eventId, random);
    }
    auction += FIRST_AUCTION_ID;
    let bidder: number;
    if (random.nextIntBounded(c.hotBiddersRatio) > 0) {
      bidder = Math.floor(lastBase0PersonId(eventId) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1;
    } else {
      bidder = this.nextBase0PersonId(eventId, random);
    }
    bidder += FIRST_PERSON_ID;
    const price = nextPrice(random);
    const extra = nextExtra(random, 8 + 8 + 8 + 8, c.avgBidByteSize);
    // nexmark-flink's channel and url, after Beam's last draw.
    let channel: string;
    let url: string;
    if (random.nextIntBounded(HOT_CHANNELS_RATIO) > 0) {
      const i = random.nextIntBounded(HOT_CHANNELS.length);
      channel = HOT_CHANNELS[i]!;
      url = HOT_URLS[i]!;
    } else {
      [channel, url] = channelAndUrl(random.nextIntBounded(CHANNELS_NUMBER));
    }
    return { type: BID, auction, bidder, price, channel, url, dateTime: timestamp, extra };
  }
}
