// Message layouts as data, read from Kafka's JSON message schemas: each field has a type and the versions it
// exists in; flexible versions use compact strings/arrays and end every struct with tagged fields. One generic
// decoder and encoder interpret the description, so each API is a short table checkable against the spec.
import { ProtocolError, type Reader, type Writer } from './primitives.ts';

export type Primitive =
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint32'
  | 'float64'
  | 'bool'
  | 'string'
  | 'string?'
  | 'bytes'
  | 'bytes?'
  | 'records'
  | 'uuid';

export interface FieldSpec {
  readonly name: string;
  /** A primitive, or the fields of a struct. */
  readonly type: Primitive | readonly FieldSpec[];
  readonly array: boolean;
  readonly nullableArray: boolean;
  readonly min: number;
  readonly max: number;
  readonly defaultValue: unknown;
}

function parseVersions(versions: string): [number, number] {
  const plus = /^(\d+)\+$/.exec(versions);
  if (plus) return [Number(plus[1]), Number.POSITIVE_INFINITY];
  const range = /^(\d+)-(\d+)$/.exec(versions);
  if (range) return [Number(range[1]), Number(range[2])];
  if (/^\d+$/.test(versions)) return [Number(versions), Number(versions)];
  throw new Error(`bad versions '${versions}'`);
}

/** A scalar field, or an array of scalars with type '[]int32' / '[]string' (suffix '?' on the array: nullable). */
export function field(
  name: string,
  type: Primitive | `[]${Primitive}` | `[]${Primitive}?`,
  versions = '0+',
  defaultValue?: unknown,
): FieldSpec {
  const [min, max] = parseVersions(versions);
  if (type.startsWith('[]')) {
    // '[]X?' is a nullable array of X (arrays of nullable scalars do not occur in the APIs we serve).
    const nullableArray = type.endsWith('?');
    const element = (nullableArray ? type.slice(2, -1) : type.slice(2)) as Primitive;
    return { name, type: element, array: true, nullableArray, min, max, defaultValue };
  }
  return { name, type: type as Primitive, array: false, nullableArray: false, min, max, defaultValue };
}

/** An array of structs; `nullable` arrays may be sent as null (e.g. "all topics"). */
export function structs(name: string, fields: readonly FieldSpec[], versions = '0+', nullable = false): FieldSpec {
  const [min, max] = parseVersions(versions);
  return { name, type: fields, array: true, nullableArray: nullable, min, max, defaultValue: undefined };
}

export interface ApiSpec {
  readonly apiKey: number;
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  /** The first flexible version (Infinity when none is supported). */
  readonly flexibleFrom: number;
  readonly request: readonly FieldSpec[];
  readonly response: readonly FieldSpec[];
}

// biome-ignore lint/suspicious/noExplicitAny: decoded messages are plain objects typed by each API's handler
export type Message = Record<string, any>;

export function decodeStruct(fields: readonly FieldSpec[], r: Reader, version: number, flexible: boolean): Message {
  const out: Message = {};
  for (const spec of fields) {
    if (version < spec.min || version > spec.max) {
      out[spec.name] = absentValue(spec);
      continue;
    }
    if (spec.array) {
      const n = r.arrayLength(flexible);
      if (n < 0) {
        out[spec.name] = null;
        continue;
      }
      const items = new Array(n);
      for (let i = 0; i < n; i++) items[i] = decodeValue(spec.type, r, version, flexible);
      out[spec.name] = items;
    } else {
      out[spec.name] = decodeValue(spec.type, r, version, flexible);
    }
  }
  if (flexible) r.skipTaggedFields();
  return out;
}

function decodeValue(type: FieldSpec['type'], r: Reader, version: number, flexible: boolean): unknown {
  if (typeof type !== 'string') return decodeStruct(type, r, version, flexible);
  switch (type) {
    case 'int8':
      return r.int8();
    case 'int16':
      return r.int16();
    case 'int32':
      return r.int32();
    case 'int64':
      return r.int64();
    case 'uint32':
      return r.uint32();
    case 'float64':
      return r.float64();
    case 'bool':
      return r.bool();
    case 'string':
    case 'string?':
      return r.string(flexible);
    case 'bytes':
    case 'bytes?':
    case 'records':
      return r.bytes(flexible);
    case 'uuid':
      return r.uuid();
  }
}

function absentValue(spec: FieldSpec): unknown {
  if (spec.defaultValue !== undefined) return spec.defaultValue;
  if (spec.array) return spec.nullableArray ? null : [];
  switch (spec.type) {
    case 'string':
      return '';
    case 'string?':
    case 'bytes?':
    case 'records':
      return null;
    case 'bool':
      return false;
    case 'bytes':
      return Buffer.alloc(0);
    case 'uuid':
      return '00000000000000000000000000000000';
    default:
      return typeof spec.type === 'string' ? 0 : {};
  }
}

export function encodeStruct(
  fields: readonly FieldSpec[],
  value: Message,
  w: Writer,
  version: number,
  flexible: boolean,
): void {
  for (const spec of fields) {
    if (version < spec.min || version > spec.max) continue;
    let v = value[spec.name];
    if (v === undefined) v = absentValue(spec);
    if (spec.array) {
      if (v === null) {
        if (!spec.nullableArray) throw new ProtocolError(`field ${spec.name} cannot be null`);
        w.arrayLength(null, flexible);
        continue;
      }
      const items = v as unknown[];
      w.arrayLength(items.length, flexible);
      for (const item of items) encodeValue(spec, item, w, version, flexible);
    } else {
      encodeValue(spec, v, w, version, flexible);
    }
  }
  if (flexible) w.emptyTaggedFields();
}

function encodeValue(spec: FieldSpec, v: unknown, w: Writer, version: number, flexible: boolean): void {
  const type = spec.type;
  if (typeof type !== 'string') {
    encodeStruct(type, (v ?? {}) as Message, w, version, flexible);
    return;
  }
  switch (type) {
    case 'int8':
      w.int8(v as number);
      return;
    case 'int16':
      w.int16(v as number);
      return;
    case 'int32':
      w.int32(v as number);
      return;
    case 'int64':
      w.int64(v as number);
      return;
    case 'uint32':
      w.uint32(v as number);
      return;
    case 'float64':
      w.float64(v as number);
      return;
    case 'bool':
      w.bool(v as boolean);
      return;
    case 'string':
      w.string((v as string | null) ?? '', flexible);
      return;
    case 'string?':
      w.string(v as string | null, flexible);
      return;
    case 'bytes':
      w.bytes((v as Uint8Array | null) ?? Buffer.alloc(0), flexible);
      return;
    case 'bytes?':
    case 'records':
      w.bytes(v as Uint8Array | null, flexible);
      return;
    case 'uuid':
      w.uuid(v as string);
      return;
  }
}

export function defineApi(spec: Omit<ApiSpec, 'flexibleFrom'> & { flexibleFrom?: number }): ApiSpec {
  return { ...spec, flexibleFrom: spec.flexibleFrom ?? Number.POSITIVE_INFINITY };
}
