// Kafka's primitive wire types: a bounds-checked reader and a chunked writer. Large byte fields (record sets) are
// passed through as their own chunks instead of being copied, so a fetch response never copies stored batches.

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export class Reader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;

  constructor(buf: Buffer, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) {
      throw new ProtocolError(`truncated: need ${n} bytes at offset ${this.pos}, only ${this.end - this.pos} left`);
    }
  }

  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  uint16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** int64 as a number: exact within ±2^53, which offsets and timestamps stay within. */
  int64(): number {
    this.need(8);
    const v = this.buf.readInt32BE(this.pos) * 0x1_0000_0000 + this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return v;
  }
  float64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  uvarint(): number {
    let value = 0;
    let shift = 0;
    for (;;) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
      shift += 7;
      if (shift > 35) throw new ProtocolError('unsigned varint longer than 5 bytes');
    }
  }
  uuid(): string {
    this.need(16);
    const v = this.buf.toString('hex', this.pos, this.pos + 16);
    this.pos += 16;
    return v;
  }
  /** A (nullable) string: int16 length, or compact (unsigned varint length + 1). */
  string(compact: boolean): string | null {
    const length = compact ? this.uvarint() - 1 : this.int16();
    if (length < 0) return null;
    this.need(length);
    const v = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return v;
  }
  /** (Nullable) bytes as a view into the request buffer: int32 length, or compact. */
  bytes(compact: boolean): Buffer | null {
    const length = compact ? this.uvarint() - 1 : this.int32();
    if (length < 0) return null;
    this.need(length);
    const v = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return v;
  }
  /** Skips `n` bytes (bounds-checked); returns where they start. */
  skip(n: number): number {
    this.need(n);
    const start = this.pos;
    this.pos += n;
    return start;
  }
  /** An array's element count (-1 for null). */
  arrayLength(compact: boolean): number {
    const n = compact ? this.uvarint() - 1 : this.int32();
    // Each element takes at least one byte: a larger count is a lie that would make us loop or allocate wildly.
    if (n > this.end - this.pos)
      throw new ProtocolError(`array of ${n} elements cannot fit in ${this.end - this.pos} bytes`);
    return n;
  }
  /** Skips a tagged-field section (unknown tags are ignorable by definition). */
  skipTaggedFields(): void {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint();
      const size = this.uvarint();
      this.need(size);
      this.pos += size;
    }
  }
}

const CHUNK = 16 * 1024;
/** Most messages fit in the first chunk; this size comes from Node's shared buffer pool, so it costs no allocation. */
const FIRST_CHUNK = 1024;
const PASS_THROUGH = 1024;

export class Writer {
  private readonly chunks: Buffer[] = [];
  private buf = Buffer.allocUnsafe(FIRST_CHUNK);
  private pos = 0;
  private flushed = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.cut();
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK, n));
  }

  /** Ends the current chunk (its bytes stay in `chunks`). */
  private cut(): void {
    if (this.pos > 0) {
      this.chunks.push(this.buf.subarray(0, this.pos));
      this.flushed += this.pos;
      this.buf = this.buf.subarray(this.pos);
      this.pos = 0;
    }
  }

  get length(): number {
    return this.flushed + this.pos;
  }

  int8(v: number): this {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos++);
    return this;
  }
  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }
  uint16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }
  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }
  uint32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }
  int64(v: number): this {
    this.ensure(8);
    const high = Math.floor(v / 0x1_0000_0000);
    this.buf.writeInt32BE(high, this.pos);
    this.buf.writeUInt32BE(v - high * 0x1_0000_0000, this.pos + 4);
    this.pos += 8;
    return this;
  }
  float64(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
    return this;
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }
  uvarint(v: number): this {
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
    return this;
  }
  uuid(hex: string): this {
    this.ensure(16);
    this.pos += this.buf.write(hex.padStart(32, '0').slice(0, 32), this.pos, 16, 'hex');
    return this;
  }
  string(v: string | null, compact: boolean): this {
    if (v === null) return compact ? this.uvarint(0) : this.int16(-1);
    const length = Buffer.byteLength(v);
    if (compact) this.uvarint(length + 1);
    else this.int16(length);
    this.ensure(length);
    this.pos += this.buf.write(v, this.pos);
    return this;
  }
  bytes(v: Uint8Array | null, compact: boolean): this {
    if (v === null) return compact ? this.uvarint(0) : this.int32(-1);
    if (compact) this.uvarint(v.length + 1);
    else this.int32(v.length);
    return this.raw(v);
  }
  /** Bytes without a length prefix; large ones become their own chunk instead of being copied. */
  raw(v: Uint8Array): this {
    if (v.length >= PASS_THROUGH) {
      this.cut();
      this.chunks.push(Buffer.from(v.buffer, v.byteOffset, v.length));
      this.flushed += v.length;
    } else {
      this.ensure(v.length);
      this.buf.set(v, this.pos);
      this.pos += v.length;
    }
    return this;
  }
  arrayLength(n: number | null, compact: boolean): this {
    if (n === null) return compact ? this.uvarint(0) : this.int32(-1);
    return compact ? this.uvarint(n + 1) : this.int32(n);
  }
  emptyTaggedFields(): this {
    return this.uvarint(0);
  }

  /** The written bytes as chunks, preceded by a 4-byte size prefix: a complete Kafka frame. */
  toFrame(): Buffer[] {
    this.cut();
    const size = Buffer.allocUnsafe(4);
    size.writeInt32BE(this.flushed);
    return [size, ...this.chunks];
  }

  toBuffer(): Buffer {
    this.cut();
    return Buffer.concat(this.chunks, this.flushed);
  }
}
