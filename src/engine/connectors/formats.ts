// How records' bytes become values and back.
export interface Format<T> {
  readonly name: string;
  decode(bytes: Buffer): T;
  /**
   * Decodes bytes[start, end) — what `decode(bytes.subarray(start, end))` does, without the view: sources reading
   * whole record batches call it per record, where a Buffer view per record would double the garbage. What it
   * returns must not keep a view of `bytes`: the page's memory is read into again once it is handed on.
   */
  decodeRange?(bytes: Buffer, start: number, end: number): T;
  encode(value: T): Buffer;
}

/** JSON documents; `decode` throws on invalid JSON (the source sends the bytes to the dead-letter output). */
export function json<T>(validate?: (value: unknown) => T): Format<T> {
  return {
    name: 'json',
    decode: (bytes) => {
      const parsed: unknown = JSON.parse(bytes.toString('utf8'));
      return validate ? validate(parsed) : (parsed as T);
    },
    decodeRange: (bytes, start, end) => {
      const parsed: unknown = JSON.parse(bytes.toString('utf8', start, end));
      return validate ? validate(parsed) : (parsed as T);
    },
    encode: (value) => Buffer.from(JSON.stringify(value)),
  };
}

export function text(): Format<string> {
  return {
    name: 'text',
    decode: (bytes) => bytes.toString('utf8'),
    decodeRange: (bytes, start, end) => bytes.toString('utf8', start, end),
    encode: (value) => Buffer.from(value),
  };
}

export function bytes(): Format<Buffer> {
  return { name: 'bytes', decode: (b) => b, encode: (b) => b };
}
