// Golden tests: java.util.Random against an independent BigInt transcription of its specification and the JDK's
// known outputs; the generator against events computed by the JDK running Beam's logic (reference/*.java).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { NexmarkGenerator } from './generator.ts';
import { AUCTION, BID, type NexmarkEvent, PERSON } from './model.ts';
import { JavaRandom } from './random.ts';

/** java.util.Random as its Javadoc specifies it, in BigInt: slow and obviously right. */
class SpecRandom {
  seed: bigint;
  constructor(seed: bigint) {
    this.seed = (seed ^ 0x5deece66dn) & ((1n << 48n) - 1n);
  }
  next(bits: number): number {
    this.seed = (this.seed * 0x5deece66dn + 0xbn) & ((1n << 48n) - 1n);
    return Number(BigInt.asIntN(32, this.seed >> BigInt(48 - bits)));
  }
  nextInt(bound?: number): number {
    if (bound === undefined) return this.next(32);
    let r = this.next(31);
    const m = bound - 1;
    if ((bound & m) === 0) return Number((BigInt(bound) * BigInt(r)) >> 31n);
    for (let u = r; BigInt.asIntN(32, BigInt(u - (r = u % bound) + m)) < 0n; u = this.next(31));
    return r;
  }
  nextDouble(): number {
    return Number((BigInt(this.next(26)) << 27n) + BigInt(this.next(27))) * 2 ** -53;
  }
}

describe('JavaRandom', () => {
  it("matches the JDK's known outputs", () => {
    assert.equal(new JavaRandom(42).nextInt(), -1170105035);
    assert.equal(new JavaRandom(42).nextIntBounded(10), 0);
    assert.equal(new JavaRandom(0).nextLong(), -4962768465676381896n);
    assert.equal(new JavaRandom(0).nextDouble(), 0.730967787376657);
    // Printed by the JDK 17: Random r = new Random(12345); r.nextInt(1000), r.nextInt(13), r.nextInt(1 << 20),
    // r.nextInt(), five times.
    const r = new JavaRandom(12345);
    const out: number[] = [];
    for (let i = 0; i < 5; i++)
      out.push(r.nextIntBounded(1000), r.nextIntBounded(13), r.nextIntBounded(1 << 20), r.nextInt());
    assert.deepEqual(
      out,
      [
        251, 7, 978314, -355989640, 55, 3, 342334, 535445604, 501, 10, 366073, -51321412, 390, 10, 669151, 496460768,
        787, 4, 806237, 1128070351,
      ],
    );
  });

  it('follows the specification for many seeds, bounds and call mixes', () => {
    const bounds = [1, 2, 3, 4, 5, 10, 13, 26, 100, 1010, 10_000, 1 << 30, 2 ** 31 - 1, 1_500_000_000];
    for (const seed of [
      0,
      1,
      2,
      49,
      50,
      12345,
      2 ** 31,
      2 ** 40 + 7,
      2 ** 48 - 1,
      2 ** 52 + 3,
      9_007_199_254_740_991,
    ]) {
      const fast = new JavaRandom(seed);
      const spec = new SpecRandom(BigInt(seed));
      for (let i = 0; i < 2000; i++) {
        const bound = bounds[i % bounds.length]!;
        assert.equal(fast.nextIntBounded(bound), spec.nextInt(bound), `seed ${seed}, call ${i}, nextInt(${bound})`);
        assert.equal(fast.nextInt(), spec.nextInt(), `seed ${seed}, call ${i}, nextInt()`);
        if (i % 7 === 0) assert.equal(fast.nextDouble(), spec.nextDouble(), `seed ${seed}, call ${i}, nextDouble()`);
      }
    }
  });
});

/** One event as the reference program prints it (tab-separated fields). */
function line(e: NexmarkEvent): string {
  if (e.type === PERSON)
    return ['P', e.id, e.name, e.emailAddress, e.creditCard, e.city, e.state, e.dateTime, e.extra].join('\t');
  if (e.type === AUCTION) {
    const { id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra } = e;
    return ['A', id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra].join('\t');
  }
  return ['B', e.auction, e.bidder, e.price, e.channel, e.url, e.dateTime, e.extra].join('\t');
}

function sha256OfLines(generator: NexmarkGenerator, from: number, count: number): string {
  const hash = createHash('sha256');
  for (let i = from; i < from + count; i++) hash.update(`${line(generator.event(i))}\n`);
  return hash.digest('hex');
}

describe('NexmarkGenerator', () => {
  const generator = new NexmarkGenerator();

  it('pins the first events, field by field', () => {
    assert.deepEqual(generator.event(0), {
      type: PERSON,
      id: 1000,
      name: 'Peter Jones',
      emailAddress: 'nhd@xcat.com',
      creditCard: '7241 7320 9143 4888',
      city: 'Portland',
      state: 'WY',
      dateTime: 1436918400000,
      extra:
        'WN_HS_bnpkkiwhwana_L^`KZjdgsid`K]MLU[aaOH`ztxbulvlxtkn_ZZ^T\\mqgdjzvlkymsmfrhkfVYSXK_OY[aVYVKa\\X^]RO]OYguwiduWJNQLLaMLHOTaHY_J[YKWaUOSJN_VHWXZ]`SgbnjqeVVQ\\[[',
    });
    const a1 = generator.event(2);
    assert.equal(a1.type, AUCTION);
    assert.deepEqual(
      { ...a1, extra: a1.type === AUCTION ? a1.extra.length : 0 },
      {
        type: AUCTION,
        id: 1001,
        itemName: 'z ck w',
        description: 'cwlachrnkfzkygsu edjytotggvasbt z yjjszhhsqtrgzblkaolzkhlldqedvgj fdbvswemnzshmwipqrzqfkd',
        initialBid: 25626290,
        reserve: 28805847,
        dateTime: 1436918400000,
        expires: 1436918400016,
        seller: 1000,
        category: 12,
        extra: 319,
      },
    );
    assert.deepEqual(generator.event(4), {
      type: BID,
      auction: 1000,
      bidder: 1001,
      price: 32530001,
      channel: 'Facebook',
      url: 'https://www.nexmark.com/nlmv/gcg/yzf/item.htm?query=1',
      dateTime: 1436918400000,
      extra: 'fdiysaV^]NLVsbolvyqwgticfdrwdyiyofziYMU\\Z`UaTQO][NX\\RM]WPYTOuwogvszlxjrcNOORM',
    });
    // A cached channel whose id is Integer.reverse(1) = Integer.MIN_VALUE: Java's Math.abs leaves it negative.
    assert.equal(
      line(generator.event(288)),
      'B\t1000\t1001\t3763\tchannel-1\thttps://www.nexmark.com/_jyw/rnmg/bo_e/item.htm?query=1&channel_id=-2147483648' +
        '\t1436918400002\trylesvdwrvolYNHTJRSX[^]RYLP^ZaIWTJ]TPTTZZOQWNV^LmxkvupjbffnvivgpaiTXI',
    );
  });

  it('reproduces the reference exactly over the first 100,000 events', () => {
    // sha256 of `java NexmarkReference 100000`.
    assert.equal(
      sha256OfLines(generator, 0, 100_000),
      '9beacba5af884d918fc1a5a091f2972ec325bb5b0487b48c5fa3c741c26e7265',
    );
  });

  it('reproduces the reference from event 5e9 with 1 ms spacing and out-of-order groups of 7', () => {
    // sha256 of `java NexmarkReference 20000 5000000000 1000 7`.
    const shuffled = new NexmarkGenerator({ interEventDelayUs: 1000, outOfOrderGroupSize: 7 });
    assert.equal(
      sha256OfLines(shuffled, 5_000_000_000, 20_000),
      '99a6401e361405108269e95a089b8b36c9f94b2d896f27fdfd8a336f4b7ca4d8',
    );
  });

  it('keeps the 1 : 3 : 46 proportions and spaces event times by the configured delay', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 5000; i++) counts[generator.event(i).type]!++;
    assert.deepEqual(counts, [100, 300, 4600]);
    assert.equal(generator.event(99).dateTime, 1436918400000);
    assert.equal(generator.event(100).dateTime, 1436918400001); // 10 µs apart: 100 events per millisecond
    assert.equal(generator.event(100_000).dateTime, 1436918401000);
  });

  it('refuses a nonsensical configuration', () => {
    assert.throws(() => new NexmarkGenerator({ interEventDelayUs: 0 }), { code: 'INVALID_CONFIG' });
    assert.throws(() => new NexmarkGenerator({ hotAuctionRatio: 1.5 }), { code: 'INVALID_CONFIG' });
  });
});
