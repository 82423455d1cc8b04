// The one decoder and encoder of message bodies: they interpret a struct's plan (schema.ts) for one version. Record
// batches ('records') stay bytes: a view into the request on decode, passed through as their own chunk on encode.
import { ProtocolError, Reader, Writer } from './primitives.ts';
import { defaultStruct, defaultValue, type FieldPlan, isDefault, type StructPlan } from './schema.ts';

type Struct = Record<string, unknown>;

const EMPTY = Buffer.alloc(0);

export function decodeStruct(plan: StructPlan, r: Reader): Struct {
  const out: Struct = {};
  const fields = plan.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    out[f.name] = f.mode === 'regular' ? decodeField(f, r, plan.flexible) : defaultValue(f);
  }
  if (plan.flexible) decodeTaggedFields(plan, r, out);
  return out;
}

function decodeField(f: FieldPlan, r: Reader, flexible: boolean): unknown {
  if (!f.array) return decodeValue(f, f.nullable, r, flexible);
  const n = r.arrayLength(flexible);
  if (n < 0) {
    if (!f.nullable) throw new ProtocolError(`${f.name} is null, which this version does not allow`);
    return null;
  }
  const items = new Array(n);
  for (let i = 0; i < n; i++) items[i] = decodeValue(f, false, r, flexible);
  return items;
}

// The cases run in order of how often they occur (structs, then int32, strings…): V8 tests a string switch in turn.
function decodeValue(f: FieldPlan, nullable: boolean, r: Reader, flexible: boolean): unknown {
  switch (f.kind) {
    case 'struct':
      // A nullable struct is preceded by a marker byte: -1 for null, 1 for present.
      if (nullable && r.int8() < 0) return null;
      return decodeStruct(f.struct!, r);
    case 'int32':
      return r.int32();
    case 'string': {
      const s = r.string(flexible);
      if (s === null && !nullable) throw new ProtocolError(`${f.name} is null, which this version does not allow`);
      return s;
    }
    case 'int16':
      return r.int16();
    case 'int64':
      return r.int64();
    case 'records':
    case 'bytes': {
      const b = r.bytes(flexible);
      if (b === null && !nullable) throw new ProtocolError(`${f.name} is null, which this version does not allow`);
      return b;
    }
    case 'bool':
      return r.bool();
    case 'int8':
      return r.int8();
    case 'uuid':
      return r.uuid();
    case 'uint16':
      return r.uint16();
    case 'uint32':
      return r.uint32();
    case 'float64':
      return r.float64();
  }
}

/** Known tags are decoded within their declared size; unknown ones are skipped, as the protocol requires. */
function decodeTaggedFields(plan: StructPlan, r: Reader, out: Struct): void {
  const count = r.uvarint();
  for (let i = 0; i < count; i++) {
    const tag = r.uvarint();
    const size = r.uvarint();
    const start = r.skip(size);
    const f = plan.tagged.find((t) => t.tag === tag);
    if (f !== undefined) out[f.name] = decodeField(f, new Reader(r.buf, start, start + size), true);
  }
}

export function encodeStruct(plan: StructPlan, value: Struct, w: Writer): void {
  const fields = plan.regular;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    encodeField(f, value[f.name], w, plan.flexible);
  }
  if (!plan.flexible) return;
  if (plan.tagged.length === 0) w.emptyTaggedFields();
  else encodeTaggedFields(plan, value, w);
}

/**
 * A missing (undefined) value is written as the field's default. A null where this version cannot carry one (a
 * field that became nullable in a later version) is written as the empty value, as Kafka's brokers do (JoinGroup's
 * protocol name before v7 is an empty string).
 */
function encodeField(f: FieldPlan, v: unknown, w: Writer, flexible: boolean): void {
  if (v === undefined) v = defaultValue(f);
  if (v === null && !f.nullable) v = emptyValue(f);
  if (!f.array) {
    encodeValue(f, f.nullable, v, w, flexible);
    return;
  }
  if (v === null) {
    w.arrayLength(null, flexible);
    return;
  }
  const items = v as unknown[];
  w.arrayLength(items.length, flexible);
  for (let i = 0; i < items.length; i++) encodeValue(f, false, items[i], w, flexible);
}

function emptyValue(f: FieldPlan): unknown {
  if (f.array) return [];
  if (f.kind === 'string') return '';
  if (f.kind === 'bytes' || f.kind === 'records') return EMPTY;
  if (f.kind === 'struct') return defaultStruct(f.struct!);
  return f.default ?? 0;
}

function encodeValue(f: FieldPlan, nullable: boolean, v: unknown, w: Writer, flexible: boolean): void {
  switch (f.kind) {
    case 'struct':
      if (nullable) {
        w.int8(v === null ? -1 : 1);
        if (v === null) return;
      }
      encodeStruct(f.struct!, v as Struct, w);
      return;
    case 'int32':
      w.int32(v as number);
      return;
    case 'string':
      w.string(v as string | null, flexible);
      return;
    case 'int16':
      w.int16(v as number);
      return;
    case 'int64':
      w.int64(v as number);
      return;
    case 'records':
    case 'bytes':
      w.bytes(v as Uint8Array | null, flexible);
      return;
    case 'bool':
      w.bool(v as boolean);
      return;
    case 'int8':
      w.int8(v as number);
      return;
    case 'uuid':
      w.uuid(v as string);
      return;
    case 'uint16':
      w.uint16(v as number);
      return;
    case 'uint32':
      w.uint32(v as number);
      return;
    case 'float64':
      w.float64(v as number);
      return;
  }
}

function encodeTaggedFields(plan: StructPlan, value: Struct, w: Writer): void {
  const tagged = plan.tagged;
  let count = 0;
  for (let i = 0; i < tagged.length; i++) if (!isDefault(tagged[i]!, value[tagged[i]!.name])) count++;
  w.uvarint(count);
  if (count === 0) return;
  for (const f of tagged) {
    if (isDefault(f, value[f.name])) continue;
    const field = new Writer();
    encodeField(f, value[f.name], field, true);
    const bytes = field.toBuffer();
    w.uvarint(f.tag).uvarint(bytes.length).raw(bytes);
  }
}
