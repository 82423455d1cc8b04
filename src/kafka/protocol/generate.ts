// Generates generated/*.ts from Apache Kafka's JSON message specs in spec/: for every API we serve, typed request and
// response interfaces and the schema the codec interprets. Run `node src/kafka/protocol/generate.ts` after changing
// SERVED or the specs; generate.test.ts fails when the checked-in output differs from a fresh run.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseVersions, type VersionRange } from './schema.ts';

/**
 * The APIs the broker serves and their version ranges: the generated types and schemas cover exactly these versions
 * (fields that exist only outside them are left out), and ApiVersions advertises those with a handler registered in
 * handlers/index.ts. Widening a range here changes the types, so the compiler points at every handler that must learn
 * the new fields.
 */
export const SERVED: readonly (readonly [name: string, min: number, max: number])[] = [
  ['Produce', 3, 9], // v3 is the first version whose records are record batches v2 (magic 2), all the log stores
  ['Fetch', 4, 12],
  ['ListOffsets', 1, 6],
  ['Metadata', 0, 9],
  ['OffsetCommit', 2, 8],
  ['OffsetFetch', 1, 7],
  ['FindCoordinator', 0, 4],
  ['JoinGroup', 0, 7],
  ['Heartbeat', 0, 4],
  ['LeaveGroup', 0, 4],
  ['SyncGroup', 0, 5],
  ['DescribeGroups', 0, 5],
  ['ListGroups', 0, 4],
  ['ApiVersions', 0, 3],
  ['CreateTopics', 0, 5],
  ['DeleteTopics', 0, 4],
  ['DeleteRecords', 0, 2],
  ['InitProducerId', 0, 4],
  // Transactions. The highest versions without KIP-890 part 2 ("transactions V2": the coordinator bumps the producer
  // epoch at every transaction's end; EndTxn v5, Produce v12). The KIP-890 part 1 versions below only allow the
  // TRANSACTION_ABORTABLE error (120), which must not be sent to a client at an older version.
  ['AddPartitionsToTxn', 0, 3], // v4+ is the brokers' batched form (Transactions[], VerifyOnly); clients send ≤ v3
  ['AddOffsetsToTxn', 0, 4], // v4 only allows TRANSACTION_ABORTABLE (KIP-890 part 1); no field changes
  ['EndTxn', 0, 4], // v4 only allows TRANSACTION_ABORTABLE; v5 is part 2 (returns the bumped producer id and epoch)
  ['TxnOffsetCommit', 0, 4], // v3 adds the group member fields; v4 only allows TRANSACTION_ABORTABLE
  ['DescribeConfigs', 1, 4], // v0 (IsDefault instead of ConfigSource) is gone from Kafka 4.0, as here
  ['AlterConfigs', 0, 2],
  ['CreatePartitions', 0, 3],
  ['IncrementalAlterConfigs', 0, 1],
  ['DescribeCluster', 0, 1],
  ['DescribeTransactions', 0, 0], // the spec's only version
  ['ListTransactions', 0, 1], // v1 adds DurationFilter (KIP-994, unrelated to KIP-890)
];

interface SpecField {
  name: string;
  type: string;
  versions: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  default?: string | number | boolean;
  about?: string;
  fields?: SpecField[];
}

interface SpecMessage {
  apiKey: number;
  type: 'request' | 'response';
  name: string;
  validVersions: string;
  flexibleVersions: string;
  fields: SpecField[];
  commonStructs?: { name: string; versions: string; fields: SpecField[] }[];
}

/** Removes `//` and `/* *\/` comments outside strings: the specs are JSON with comments. */
export function stripComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

type Range = VersionRange;
const range = parseVersions;
const intersect = (a: Range, b: Range): Range => ({ min: Math.max(a.min, b.min), max: Math.min(a.max, b.max) });
const isEmpty = (r: Range) => r.min > r.max;
const sameRange = (a: Range, b: Range) => a.min === b.min && a.max === b.max;
const show = (r: Range) =>
  r.max === Number.POSITIVE_INFINITY ? `${r.min}+` : r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`;

const NUMBERS = new Set(['int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float64']);
const PRIMITIVES = new Set([...NUMBERS, 'bool', 'string', 'bytes', 'records', 'uuid']);
const camel = (name: string) => name[0]!.toLowerCase() + name.slice(1);
const kebab = (name: string) => name.replace(/[A-Z]/g, (c, i) => (i === 0 ? '' : '-') + c.toLowerCase());

/** The spec's default as a JavaScript value ('null' → null, '0x7fffffff' → 2147483647, 'true' → true). */
function parseDefault(field: SpecField): number | boolean | string | null | undefined {
  const d = field.default;
  if (d === undefined) return undefined;
  if (d === 'null') return null;
  const element = field.type.replace(/^\[\]/, '');
  if (NUMBERS.has(element)) {
    const n = Number(d);
    if (!Number.isFinite(n)) throw new Error(`bad default ${d} for ${field.name}`);
    return n;
  }
  if (element === 'bool') return d === true || d === 'true';
  return String(d);
}

/** One message (request or response) limited to the served versions: its interfaces and its schema literal. */
class MessageEmitter {
  readonly interfaces: string[] = [];
  private readonly structs = new Map<string, SpecField[]>();
  /** Interface names taken in the file (shared by the request and the response), with their fields. */
  private readonly named: Map<string, SpecField[]>;
  private readonly spec: SpecMessage;

  constructor(spec: SpecMessage, named: Map<string, SpecField[]>) {
    this.spec = spec;
    this.named = named;
    for (const s of spec.commonStructs ?? []) this.structs.set(s.name, s.fields);
  }

  /** The struct's fields: inline, or a common struct (or one defined inline elsewhere in the message). */
  private fieldsOf(field: SpecField): SpecField[] | undefined {
    const element = field.type.replace(/^\[\]/, '');
    if (PRIMITIVES.has(element)) return undefined;
    if (field.fields) {
      this.structs.set(element, field.fields);
      return field.fields;
    }
    const fields = this.structs.get(element);
    if (!fields) throw new Error(`${this.spec.name}: struct ${element} has no fields`);
    return fields;
  }

  /** Fields that exist in `within`, the versions in which their struct exists. */
  private present(fields: SpecField[], within: Range): { field: SpecField; present: Range }[] {
    return fields
      .map((field) => ({ field, present: intersect(range(field.versions), within) }))
      .filter((f) => !isEmpty(f.present));
  }

  /** Emits the interface `name` for `fields` (existing in `within`); returns its name. */
  emitInterface(name: string, fields: SpecField[], within: Range, doc: string): string {
    const taken = this.named.get(name);
    if (taken === fields) return name; // a common struct used twice
    if (taken) throw new Error(`${this.spec.name}: two structs named ${name}`);
    this.named.set(name, fields);
    const lines = [...comment(doc, ''), `export interface ${name} {`];
    const nested: [string, SpecField[], Range, string][] = [];
    for (const { field, present } of this.present(fields, within)) {
      const element = field.type.replace(/^\[\]/, '');
      const struct = this.fieldsOf(field);
      const role = field.type.startsWith('[]') ? 'An element of' : 'The value of';
      if (struct) nested.push([element, struct, present, `${role} ${name}.${camel(field.name)}.`]);
      const base = struct
        ? element
        : NUMBERS.has(element)
          ? 'number'
          : element === 'bool'
            ? 'boolean'
            : element === 'bytes' || element === 'records'
              ? 'Buffer'
              : 'string';
      const nullable = intersect(range(field.nullableVersions), present);
      const tagged = intersect(range(field.taggedVersions), intersect(present, range(this.spec.flexibleVersions)));
      const optional = !sameRange(present, within) || (field.tag !== undefined && !isEmpty(tagged));
      const type = `${base}${field.type.startsWith('[]') ? '[]' : ''}${isEmpty(nullable) ? '' : ' | null'}`;
      const notes: string[] = [];
      if (!sameRange(present, within)) notes.push(`versions ${show(present)}`);
      if (!isEmpty(nullable) && !sameRange(nullable, present)) notes.push(`nullable in ${show(nullable)}`);
      if (field.tag !== undefined && !isEmpty(tagged)) notes.push(`tag ${field.tag} in ${show(tagged)}`);
      const d = parseDefault(field);
      if (d !== undefined) notes.push(`default ${JSON.stringify(d)}`);
      const about = (field.about ?? '').trim();
      const text = notes.length > 0 ? `${about}${about ? ' ' : ''}(${notes.join('; ')})` : about;
      if (text) lines.push(...comment(text, '  '));
      lines.push(`  ${camel(field.name)}${optional ? '?' : ''}: ${type};`);
    }
    lines.push('}');
    this.interfaces.push(lines.join('\n'));
    for (const [n, f, r, d] of nested) this.emitInterface(n, f, r, d);
    return name;
  }

  /** The schema literal: the spec's fields in camelCase, without those that exist only outside `within`. */
  schema(fields: SpecField[], within: Range): object[] {
    return this.present(fields, within).map(({ field, present }) => {
      const out: Record<string, unknown> = { name: camel(field.name), type: field.type, versions: field.versions };
      if (field.nullableVersions !== undefined) out.nullableVersions = field.nullableVersions;
      if (field.taggedVersions !== undefined) out.taggedVersions = field.taggedVersions;
      if (field.tag !== undefined) out.tag = field.tag;
      const d = parseDefault(field);
      if (d !== undefined) out.default = d;
      const struct = this.fieldsOf(field);
      if (struct) out.fields = this.schema(struct, present);
      return out;
    });
  }
}

function comment(text: string, indent: string): string[] {
  const clean = text.replace(/\*\//g, '*\\/').replace(/\s+/g, ' ');
  if (indent.length + clean.length + 7 <= 120) return [`${indent}/** ${clean} */`];
  const lines = [`${indent}/**`];
  let line = '';
  for (const word of clean.split(' ')) {
    if (line && indent.length + 3 + line.length + 1 + word.length > 120) {
      lines.push(`${indent} * ${line}`);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(`${indent} * ${line}`);
  lines.push(`${indent} */`);
  return lines;
}

/** Prints a value as Biome formats it: on one line when it fits in 120 columns, else one item per line. */
function print(value: unknown, indent: string, lead: number, trail: number): string {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'string' ? `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : String(value);
  }
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const flat = `[${value.map((v) => print(v, '', 0, 0)).join(', ')}]`;
    const mustBreak = value.length > 1 && value.every((v) => typeof v === 'object' && v && Object.keys(v).length > 1);
    if (!mustBreak && !flat.includes('\n') && lead + flat.length + trail <= 120) return flat;
    return `[\n${value.map((v) => `${inner}${print(v, inner, inner.length, 1)},`).join('\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  const flat = `{ ${entries.map(([k, v]) => `${k}: ${print(v, '', 0, 0)}`).join(', ')} }`;
  if (!flat.includes('\n') && lead + flat.length + trail <= 120) return flat;
  const body = entries.map(([k, v]) => `${inner}${k}: ${print(v, inner, inner.length + k.length + 2, 1)},`);
  return `{\n${body.join('\n')}\n${indent}}`;
}

function readSpec(specDir: string, name: string): SpecMessage {
  const file = path.join(specDir, `${name}.json`);
  return JSON.parse(stripComments(fs.readFileSync(file, 'utf8'))) as SpecMessage;
}

/** Every generated file (path relative to protocol/ → contents), deterministic for the same specs and SERVED. */
export function generate(specDir: string): Map<string, string> {
  const files = new Map<string, string>();
  /** [module file, export statement]: sorted by file, as Biome orders exports (a wrapped one starts 'export {\n'). */
  const index: [string, string][] = [];
  const sorted = SERVED.map(([name, min, max]) => {
    const request = readSpec(specDir, `${name}Request`);
    const response = readSpec(specDir, `${name}Response`);
    return { name, min, max, request, response };
  }).sort((a, b) => a.request.apiKey - b.request.apiKey);
  for (const { name, min, max, request, response } of sorted) {
    const served: Range = { min, max };
    for (const spec of [request, response]) {
      const valid = range(spec.validVersions);
      if (min < valid.min || max > valid.max) throw new Error(`${spec.name}: v${min}-${max} outside ${valid.min}+`);
      if (spec.apiKey !== request.apiKey || spec.flexibleVersions !== request.flexibleVersions) {
        throw new Error(`${name}: request and response disagree on the API key or flexible versions`);
      }
    }
    const flexible = intersect(range(request.flexibleVersions), served);
    const versions = `versions ${min}-${max}${isEmpty(flexible) ? '' : ` (flexible from v${flexible.min})`}`;
    const named = new Map<string, SpecField[]>();
    const req = new MessageEmitter(request, named);
    const res = new MessageEmitter(response, named);
    req.emitInterface(
      `${name}Request`,
      request.fields,
      served,
      `${name} request (API key ${request.apiKey}), ${versions}.`,
    );
    res.emitInterface(`${name}Response`, response.fields, served, `${name} response, ${versions}.`);
    const schema = {
      name,
      apiKey: request.apiKey,
      minVersion: min,
      maxVersion: max,
      flexibleVersions: request.flexibleVersions,
      request: req.schema(request.fields, served),
      response: res.schema(response.fields, served),
    };
    const file = `generated/${kebab(name)}.ts`;
    files.set(
      file,
      [
        `// Generated by src/kafka/protocol/generate.ts from spec/${name}Request.json and spec/${name}Response.json`,
        `// (Apache Kafka's message specs, Apache License 2.0), for ${versions}. Do not edit: regenerate.`,
        "import { defineApi } from '../schema.ts';",
        '',
        ...[...req.interfaces, ...res.interfaces].flatMap((text) => [text, '']),
        `export const ${name} = defineApi<${name}Request, ${name}Response>(${print(schema, '', 64, 2)});`,
        '',
      ].join('\n'),
    );
    index.push([
      kebab(name),
      `export { ${name}, type ${name}Request, type ${name}Response } from './${kebab(name)}.ts';`.length <= 120
        ? `export { ${name}, type ${name}Request, type ${name}Response } from './${kebab(name)}.ts';`
        : `export {\n  ${name},\n  type ${name}Request,\n  type ${name}Response,\n} from './${kebab(name)}.ts';`,
    ]);
  }
  files.set(
    'generated/index.ts',
    [
      '// Generated by src/kafka/protocol/generate.ts: every API the broker serves. Do not edit: regenerate.',
      ...index.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, line]) => line),
      '',
    ].join('\n'),
  );
  return files;
}

if (import.meta.main) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const files = generate(path.join(here, 'spec'));
  const outDir = path.join(here, 'generated');
  fs.mkdirSync(outDir, { recursive: true });
  for (const stale of fs.readdirSync(outDir)) {
    if (!files.has(`generated/${stale}`)) fs.rmSync(path.join(outDir, stale));
  }
  for (const [file, text] of files) fs.writeFileSync(path.join(here, file), text);
  process.stderr.write(`wrote ${files.size} files to ${outDir}\n`);
}
