// java.util.Random, bit for bit: the 48-bit linear congruential generator Beam's Nexmark generator seeds from each
// event id. The 48-bit state is kept as two 24-bit halves in doubles, so every product stays exact (< 2^53).

const TWO_24 = 16_777_216;
const TWO_48 = 281_474_976_710_656;
/** 0x5DEECE66D split into 24-bit halves. */
const MULT_HI = 0x5de;
const MULT_LO = 0xece66d;
const ADDEND = 0xb;

export class JavaRandom {
  /** The state's high and low 24 bits. */
  private hi = 0;
  private lo = 0;

  constructor(seed = 0) {
    this.setSeed(seed);
  }

  /** `new Random(seed)` / `setSeed(seed)` for a seed in [0, 2^53) (event ids are never negative). */
  setSeed(seed: number): void {
    const lo = seed % TWO_24;
    const hi = Math.floor(seed / TWO_24) % TWO_24;
    this.lo = lo ^ MULT_LO;
    this.hi = hi ^ MULT_HI;
  }

  /** Advances the state: (state * 0x5DEECE66D + 0xB) mod 2^48, by 24-bit halves. */
  private step(): void {
    const lo = this.lo;
    // lo * MULT_LO < 2^48 is exact in a double; the high half only needs its low 24 bits, which Math.imul keeps.
    const low = lo * MULT_LO + ADDEND;
    const carry = Math.floor(low / TWO_24);
    this.lo = low - carry * TWO_24;
    this.hi = (carry + Math.imul(this.hi, MULT_LO) + Math.imul(lo, MULT_HI)) & 0xffffff;
  }

  /** Java's `next(bits)` for 1 <= bits <= 32: the state's top bits (a signed int when bits = 32). */
  next(bits: number): number {
    this.step();
    return Math.floor((this.hi * TWO_24 + this.lo) / 2 ** (48 - bits)) | 0;
  }

  /** Java's `nextInt()`: next(32), a uniformly distributed signed 32-bit int. */
  nextInt(): number {
    this.step();
    return (this.hi << 8) | (this.lo >>> 16);
  }

  /** Java's `nextInt(bound)`: uniform in [0, bound), with the power-of-two shortcut and the rejection loop. */
  nextIntBounded(bound: number): number {
    this.step();
    let r = (this.hi << 7) | (this.lo >>> 17); // next(31)
    const m = bound - 1;
    if ((bound & m) === 0) return Math.floor((bound * r) / 2_147_483_648);
    // Reject the top partial range: Java's `u - r + m < 0` is an int overflow, i.e. u - r + m > 2^31 - 1.
    for (let u = r; u - (r = u % bound) + m > 2_147_483_647; ) {
      this.step();
      u = (this.hi << 7) | (this.lo >>> 17);
    }
    return r;
  }

  /** Java's `nextLong()` as a BigInt: (next(32) << 32) + next(32), wrapped to 64 bits. */
  nextLong(): bigint {
    const high = BigInt(this.nextInt());
    const low = BigInt(this.nextInt());
    return BigInt.asIntN(64, (high << 32n) + low);
  }

  /** Java's `nextDouble()`: (next(26) << 27 | next(27)) / 2^53. */
  nextDouble(): number {
    this.step();
    const a = this.hi * 4 + (this.lo >>> 22); // next(26)
    this.step();
    const b = this.hi * 8 + (this.lo >>> 21); // next(27)
    return (a * 134_217_728 + b) / 9_007_199_254_740_992;
  }

  /** The raw 48-bit state (tests). */
  state(): number {
    return this.hi * TWO_24 + this.lo;
  }
}

export const STATE_MODULUS = TWO_48;
