// Record formats: JSON, text and bytes (the Format contract is in src/contracts).
import type { Format } from '../../contracts/index.ts';

export type { Format };

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
