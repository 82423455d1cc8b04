// Message schemas as data, generated from Kafka's JSON message specs (generated/*.ts by generate.ts): each field keeps
// the spec's type and version ranges. `defineApi` compiles them once per served version into plans that the codec
// (codec.ts) interprets, so decoding or encoding a message is a loop over the fields its version has.

/** A field as Kafka's JSON spec describes it (name in camelCase, default parsed), within the versions we serve. */
export interface FieldSchema {
  readonly name: string;
  /** The spec's type: a primitive ('int32', 'string', 'records'…) or a struct's name, prefixed '[]' for arrays. */
  readonly type: string;
  readonly versions: string;
  readonly nullableVersions?: string;
  readonly taggedVersions?: string;
  readonly tag?: number;
  readonly default?: number | boolean | string | null;
  /** A struct's fields. */
  readonly fields?: readonly FieldSchema[];
}

export interface ApiSchema {
  readonly name: string;
  readonly apiKey: number;
  /** The versions we serve (generated from generate.ts's SERVED, within the spec's valid versions). */
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly flexibleVersions: string;
  readonly request: readonly FieldSchema[];
  readonly response: readonly FieldSchema[];
}

/**
 * A field's wire type: one of Kafka's primitives, or a struct. (String literals, not imported numeric constants: a
 * switch over literals is what V8 compiles best, and the codec's switches run once per field of every message.)
 */
export type Kind =
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'float64'
  | 'bool'
  | 'string'
  | 'bytes'
  | 'records'
  | 'uuid'
  | 'struct';

const PRIMITIVES = new Set<string>([
  'int8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'float64',
  'bool',
  'string',
  'bytes',
  'records',
  'uuid',
]);

/**
 * How a field appears in one version: 'absent' (decoding sets the default, encoding skips it), 'regular' (in the
 * fixed part of the struct, in schema order) or 'tagged' (in the struct's tagged-field section, flexible versions
 * only; written only when it differs from its default).
 */
export type Mode = 'absent' | 'regular' | 'tagged';

/** A field at one version. */
export interface FieldPlan {
  readonly name: string;
  readonly kind: Kind;
  readonly array: boolean;
  readonly mode: Mode;
  /** Whether null may be on the wire at this version (for arrays: the array itself). */
  readonly nullable: boolean;
  readonly tag: number;
  readonly struct: StructPlan | null;
  /** The spec default, or the type's zero value (arrays and structs are built fresh by `defaultValue`). */
  readonly default: unknown;
}

/** A struct at one version. */
export interface StructPlan {
  readonly flexible: boolean;
  /** Every field, in schema order: a decoded struct has all of them, absent ones at their default. */
  readonly fields: readonly FieldPlan[];
  readonly regular: readonly FieldPlan[];
  /** Ascending by tag. */
  readonly tagged: readonly FieldPlan[];
}

/** An API as the codec uses it; `Req` and `Res` are the generated message types. */
export interface Api<Req = unknown, Res = unknown> {
  readonly name: string;
  readonly apiKey: number;
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly schema: ApiSchema;
  /** Plans by version (undefined outside minVersion..maxVersion). */
  readonly requestPlans: readonly (StructPlan | undefined)[];
  readonly responsePlans: readonly (StructPlan | undefined)[];
  /** Never set: carries the message types, so that codecs and handlers infer them from the API. */
  readonly types?: { readonly request: Req; readonly response: Res };
}

/**
 * A message as decoded: every field is there (a field the version lacks, or an absent tagged field, holds its
 * default), so what the generated type marks optional is required here.
 */
export type Decoded<T> = T extends Buffer
  ? T
  : T extends readonly (infer E)[]
    ? Decoded<E>[]
    : T extends object
      ? { -readonly [K in keyof T]-?: Decoded<Exclude<T[K], undefined>> }
      : T;

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

/** '3+', '0-2', '5' or 'none' (also for an absent range). */
export function parseVersions(versions: string | undefined): VersionRange {
  if (versions === undefined || versions === 'none') return { min: 1, max: 0 };
  let m = /^(\d+)\+$/.exec(versions);
  if (m) return { min: Number(m[1]), max: Number.POSITIVE_INFINITY };
  m = /^(\d+)-(\d+)$/.exec(versions);
  if (m) return { min: Number(m[1]), max: Number(m[2]) };
  if (/^\d+$/.test(versions)) return { min: Number(versions), max: Number(versions) };
  throw new Error(`bad version range '${versions}'`);
}

function inVersions(versions: string | undefined, version: number): boolean {
  const r = parseVersions(versions);
  return version >= r.min && version <= r.max;
}

const ZERO_UUID = '0'.repeat(32);
const EMPTY = Buffer.alloc(0);

function zeroValue(kind: Kind): unknown {
  switch (kind) {
    case 'bool':
      return false;
    case 'string':
      return '';
    case 'bytes':
      return EMPTY;
    case 'records':
      return null;
    case 'uuid':
      return ZERO_UUID;
    case 'struct':
      return undefined;
    default:
      return 0;
  }
}

function compileField(field: FieldSchema, version: number, flexible: boolean): FieldPlan {
  const array = field.type.startsWith('[]');
  const element = array ? field.type.slice(2) : field.type;
  const kind: Kind = PRIMITIVES.has(element) ? (element as Kind) : 'struct';
  if (kind === 'struct' && field.fields === undefined)
    throw new Error(`struct ${element} of ${field.name} has no fields`);
  const present = inVersions(field.versions, version);
  const tagged = flexible && field.tag !== undefined && inVersions(field.taggedVersions, version);
  return {
    name: field.name,
    kind,
    array,
    mode: !present ? 'absent' : tagged ? 'tagged' : 'regular',
    nullable: inVersions(field.nullableVersions, version),
    tag: field.tag ?? -1,
    struct: field.fields ? compileStruct(field.fields, version, flexible) : null,
    default: field.default !== undefined ? field.default : zeroValue(kind),
  };
}

export function compileStruct(fields: readonly FieldSchema[], version: number, flexible: boolean): StructPlan {
  const all = fields.map((f) => compileField(f, version, flexible));
  return {
    flexible,
    fields: all,
    regular: all.filter((f) => f.mode === 'regular'),
    tagged: all.filter((f) => f.mode === 'tagged').sort((a, b) => a.tag - b.tag),
  };
}

/** A field's default value, fresh where it is mutable (arrays, structs). */
export function defaultValue(field: FieldPlan): unknown {
  if (field.array) return field.default === null ? null : [];
  if (field.kind === 'struct') return field.default === null ? null : defaultStruct(field.struct!);
  return field.default;
}

export function defaultStruct(plan: StructPlan): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of plan.fields) out[f.name] = defaultValue(f);
  return out;
}

/** Whether a value equals the field's default (tagged fields at their default are not written, as Kafka does). */
export function isDefault(field: FieldPlan, value: unknown): boolean {
  if (value === undefined) return true;
  if (value === null || field.default === null) return value === field.default;
  if (field.array) return (value as unknown[]).length === 0;
  switch (field.kind) {
    case 'struct': {
      const struct = value as Record<string, unknown>;
      return field.struct!.fields.every((f) => isDefault(f, struct[f.name]));
    }
    case 'bytes':
    case 'records':
      return (value as Uint8Array).length === 0;
    default:
      return value === field.default;
  }
}

/** Compiles an API's schema for every served version; generated/*.ts call this with their schema. */
export function defineApi<Req, Res>(schema: ApiSchema): Api<Req, Res> {
  const requestPlans: (StructPlan | undefined)[] = [];
  const responsePlans: (StructPlan | undefined)[] = [];
  for (let v = 0; v <= schema.maxVersion; v++) {
    if (v < schema.minVersion) {
      requestPlans.push(undefined);
      responsePlans.push(undefined);
      continue;
    }
    const flexible = inVersions(schema.flexibleVersions, v);
    requestPlans.push(compileStruct(schema.request, v, flexible));
    responsePlans.push(compileStruct(schema.response, v, flexible));
  }
  const { name, apiKey, minVersion, maxVersion } = schema;
  return { name, apiKey, minVersion, maxVersion, schema, requestPlans, responsePlans };
}
