// Every request and response of every API we serve, at every served version, survives encode → decode whole (every
// field, tagged ones included) for arbitrary values; truncated frames fail with a ProtocolError instead of reading
// garbage; nulls follow each version's nullability.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeStruct, encodeStruct } from './codec.ts';
import {
  APIS,
  type Api,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  JoinGroup,
  Metadata,
  ProtocolError,
  UnsupportedVersionError,
} from './index.ts';
import { Reader, Writer } from './primitives.ts';
import { defaultValue, type FieldPlan, type Kind, type StructPlan } from './schema.ts';

type Struct = Record<string, unknown>;

function primitive(kind: Kind): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'int16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'uint16':
      return fc.integer({ min: 0, max: 65535 });
    case 'int32':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'uint32':
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case 'int64':
      return fc.maxSafeInteger();
    case 'float64':
      return fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0));
    case 'bool':
      return fc.boolean();
    case 'string':
      return fc.string({ maxLength: 20, unit: 'grapheme' });
    case 'bytes':
    case 'records':
      return fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
    case 'uuid':
      return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a).toString('hex'));
    default:
      throw new Error(`no arbitrary for kind ${kind}`);
  }
}

/** Arbitrary structs holding the fields that exist at the plan's version; tagged fields may be left out. */
function arbitraryStruct(plan: StructPlan, depth = 0): fc.Arbitrary<Struct> {
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  const requiredKeys: string[] = [];
  for (const f of plan.fields) {
    if (f.mode === 'absent') continue;
    const one = f.kind === 'struct' ? arbitraryStruct(f.struct!, depth + 1) : primitive(f.kind);
    const value = f.array ? fc.array(one, { maxLength: depth > 1 ? 1 : 3 }) : one;
    shape[f.name] = f.nullable ? fc.option(value, { nil: null }) : value;
    if (f.mode === 'regular') requiredKeys.push(f.name);
  }
  return fc.record(shape, { requiredKeys, noNullPrototype: true });
}

/** What the decoder must return for `value`: every field, absent ones at their default. */
function complete(plan: StructPlan, value: Struct): Struct {
  const out: Struct = {};
  for (const f of plan.fields) out[f.name] = f.name in value ? completeField(f, value[f.name]) : defaultValue(f);
  return out;
}

function completeField(f: FieldPlan, v: unknown): unknown {
  if (f.kind !== 'struct' || v === null) return v;
  if (f.array) return (v as Struct[]).map((item) => complete(f.struct!, item));
  return complete(f.struct!, v as Struct);
}

function versions(api: Api): number[] {
  return Array.from({ length: api.maxVersion - api.minVersion + 1 }, (_, i) => api.minVersion + i);
}

describe('Kafka codecs round-trip', () => {
  for (const api of APIS.values()) {
    it(`${api.name} requests and responses, v${api.minVersion}-v${api.maxVersion}`, () => {
      for (const version of versions(api)) {
        const requestPlan = api.requestPlans[version]!;
        const responsePlan = api.responsePlans[version]!;
        fc.assert(
          fc.property(arbitraryStruct(requestPlan), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (body, correlationId) => {
            const frame = encodeRequest(api, version, correlationId, 'client-1', body);
            assert.equal(frame.readInt32BE(0), frame.length - 4);
            const decoded = decodeRequest(frame.subarray(4));
            assert.deepEqual(decoded.header, {
              apiKey: api.apiKey,
              apiVersion: version,
              correlationId,
              clientId: 'client-1',
            });
            assert.deepEqual(decoded.body, complete(requestPlan, body));
          }),
          { numRuns: 30 },
        );
        fc.assert(
          fc.property(arbitraryStruct(responsePlan), (body) => {
            const frame = Buffer.concat(encodeResponse(api, version, 7, body));
            assert.equal(frame.readInt32BE(0), frame.length - 4);
            const decoded = decodeResponse(api, version, frame.subarray(4));
            assert.equal(decoded.correlationId, 7);
            assert.deepEqual(decoded.body, complete(responsePlan, body));
          }),
          { numRuns: 30 },
        );
      }
    });
  }

  it('rejects every truncation of a request with a ProtocolError', () => {
    const frame = encodeRequest(Metadata, 9, 1, 'c', {
      topics: [{ name: 'clicks' }],
      allowAutoTopicCreation: true,
      includeTopicAuthorizedOperations: false,
    }).subarray(4);
    for (let cut = 0; cut < frame.length; cut++) {
      assert.throws(() => decodeRequest(frame.subarray(0, cut)), ProtocolError, `cut at ${cut}`);
    }
  });

  it('reports unknown API keys and versions as UnsupportedVersionError with the correlation id', () => {
    const frame = Buffer.alloc(10);
    frame.writeInt16BE(999, 0);
    frame.writeInt32BE(42, 4);
    assert.throws(
      () => decodeRequest(frame),
      (e: unknown) => e instanceof UnsupportedVersionError && e.header.correlationId === 42,
    );
    frame.writeInt16BE(3, 0);
    frame.writeInt16BE(99, 2);
    assert.throws(() => decodeRequest(frame), /Metadata v99 is not supported/);
    frame.writeInt16BE(-1, 2);
    assert.throws(() => decodeRequest(frame), /Metadata v-1 is not supported/);
  });

  it('refuses null where the version does not allow it, and accepts it where it does', () => {
    // Metadata v0 has no null topic list ("all topics" is an empty array); v1+ does.
    const v0 = new Writer().int32(-1).toBuffer();
    assert.throws(() => decodeStruct(Metadata.requestPlans[0]!, new Reader(v0)), /topics is null/);
    const v1 = new Writer().int32(-1).toBuffer();
    assert.equal(decodeStruct(Metadata.requestPlans[1]!, new Reader(v1)).topics, null);
  });

  it('writes a null the version cannot carry as the empty value (JoinGroup protocolName before v7)', () => {
    const body = {
      throttleTimeMs: 0,
      errorCode: 25,
      generationId: -1,
      protocolType: null,
      protocolName: null,
      leader: '',
      memberId: 'm',
      members: [],
    };
    const v6 = decodeResponse(JoinGroup, 6, Buffer.concat(encodeResponse(JoinGroup, 6, 1, body)).subarray(4));
    assert.equal(v6.body.protocolName, '');
    const v7 = decodeResponse(JoinGroup, 7, Buffer.concat(encodeResponse(JoinGroup, 7, 1, body)).subarray(4));
    assert.equal(v7.body.protocolName, null);
  });

  it('skips unknown tagged fields and decodes known ones within their size', () => {
    const plan = Metadata.requestPlans[9]!;
    const w = new Writer();
    encodeStruct(plan, { topics: [], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: true }, w);
    const plain = w.toBuffer();
    // Replace the final empty tag section with one holding an unknown tag 7 of 3 bytes.
    const tagged = Buffer.concat([plain.subarray(0, plain.length - 1), Buffer.from([1, 7, 3, 0xaa, 0xbb, 0xcc])]);
    const decoded = decodeStruct(plan, new Reader(tagged));
    assert.equal(decoded.allowAutoTopicCreation, false);
    assert.equal(decoded.includeTopicAuthorizedOperations, true);
  });
});
