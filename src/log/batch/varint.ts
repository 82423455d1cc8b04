// Kafka's variable-length integers: zig-zag varints (record fields) and their unsigned form.
// Values are JS numbers; zig-zag of values beyond ±2^31 uses arithmetic instead of bit operations to stay exact.

/** Bytes a zig-zag varint of `value` takes (value within ±2^53). */
export function sizeOfVarint(value: number): number {
  let u = value >= 0 ? value * 2 : -value * 2 - 1;
  let size = 1;
  while (u >= 0x80) {
    u = Math.floor(u / 128);
    size++;
  }
  return size;
}

/** Writes a zig-zag varint at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, value: number): number {
  if (value >= -0x40000000 && value < 0x40000000) {
    let u = ((value << 1) ^ (value >> 31)) >>> 0;
    while (u >= 0x80) {
      buf[pos++] = (u & 0x7f) | 0x80;
      u >>>= 7;
    }
    buf[pos++] = u;
    return pos;
  }
  let u = value >= 0 ? value * 2 : -value * 2 - 1;
  while (u >= 0x80) {
    buf[pos++] = (u % 128) | 0x80;
    u = Math.floor(u / 128);
  }
  buf[pos++] = u;
  return pos;
}

/**
 * A cursor for reading varints without allocating a result object per call: `readVarint` returns the value and
 * leaves the position after it in `cursor.pos`.
 */
export interface Cursor {
  pos: number;
}

export function readVarint(buf: Buffer, cursor: Cursor, end: number): number {
  let pos = cursor.pos;
  let u = 0;
  let shift = 0;
  let b: number;
  do {
    if (pos >= end) throw new RangeError('varint runs past the end of its batch');
    b = buf[pos++]!;
    if (shift < 28) u |= (b & 0x7f) << shift;
    else u += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (shift > 63) throw new RangeError('varint is longer than 10 bytes');
  } while (b & 0x80);
  cursor.pos = pos;
  if (shift <= 28) {
    u >>>= 0;
    return (u >>> 1) ^ -(u & 1);
  }
  // Wide values: undo zig-zag arithmetically.
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}
