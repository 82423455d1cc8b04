// Every request and response layout we serve, at every version we advertise, survives encode → decode unchanged
// for arbitrary field values; truncated frames fail with a ProtocolError instead of reading garbage.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  APIS,
  type ApiSpec,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  encodeUnsupportedVersion,
  type Message,
  ProtocolError,
  UnsupportedVersionError,
} from './index.ts';
import type { FieldSpec, Primitive } from './schema.ts';

function primitive(type: Primitive): fc.Arbitrary<unknown> {
  switch (type) {
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'int16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'int32':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'int64':
      return fc.maxSafeInteger();
    case 'uint32':
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case 'float64':
      return fc.double({ noNaN: true });
    case 'bool':
      return fc.boolean();
    case 'string':
      return fc.string({ maxLength: 20, unit: 'grapheme' });
    case 'string?':
      return fc.option(fc.string({ maxLength: 20, unit: 'grapheme' }), { nil: null });
    case 'bytes':
      return fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a));
    case 'bytes?':
    case 'records':
      return fc.option(
        fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
        { nil: null },
      );
    case 'uuid':
      return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a).toString('hex'));
  }
}

/** Arbitrary messages holding exactly the fields that exist at `version`. */
function message(fields: readonly FieldSpec[], version: number, depth = 0): fc.Arbitrary<Message> {
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const spec of fields) {
    if (version < spec.min || version > spec.max) continue;
    const one = typeof spec.type === 'string' ? primitive(spec.type) : message(spec.type, version, depth + 1);
    if (!spec.array) shape[spec.name] = one;
    else {
      const items = fc.array(one, { maxLength: depth > 1 ? 1 : 3 });
      shape[spec.name] = spec.nullableArray ? fc.option(items, { nil: null }) : items;
    }
  }
  return fc.record(shape, { noNullPrototype: true });
}

/** Drops the fields a decoder fills in for versions that lack them, so that values compare like for like. */
function present(fields: readonly FieldSpec[], value: Message, version: number): Message {
  const out: Message = {};
  for (const spec of fields) {
    if (version < spec.min || version > spec.max) continue;
    const v = value[spec.name];
    if (typeof spec.type === 'string' || v === null) out[spec.name] = v;
    else {
      const struct = spec.type;
      out[spec.name] = (v as Message[]).map((item) => present(struct, item, version));
    }
  }
  return out;
}

function versions(api: ApiSpec): number[] {
  const out: number[] = [];
  for (let v = api.minVersion; v <= api.maxVersion; v++) out.push(v);
  return out;
}

describe('Kafka codecs round-trip', () => {
  for (const api of APIS.values()) {
    it(`${api.name} requests and responses, v${api.minVersion}-v${api.maxVersion}`, () => {
      for (const version of versions(api)) {
        fc.assert(
          fc.property(
            message(api.request, version),
            fc.integer({ min: 0, max: 2 ** 31 - 1 }),
            (body, correlationId) => {
              const frame = encodeRequest(api, version, correlationId, 'client-1', body);
              const decoded = decodeRequest(frame.subarray(4));
              assert.equal(decoded.header.correlationId, correlationId);
              assert.equal(decoded.header.clientId, 'client-1');
              assert.deepEqual(present(api.request, decoded.body, version), body);
            },
          ),
          { numRuns: 30 },
        );
        fc.assert(
          fc.property(message(api.response, version), (body) => {
            const frame = Buffer.concat(encodeResponse(api, version, 7, body));
            assert.equal(frame.readInt32BE(0), frame.length - 4);
            const decoded = decodeResponse(api, version, frame.subarray(4));
            assert.equal(decoded.correlationId, 7);
            assert.deepEqual(present(api.response, decoded.body, version), body);
          }),
          { numRuns: 30 },
        );
      }
    });
  }

  it('rejects every truncation of a request with a ProtocolError', () => {
    const api = APIS.get(3)!; // Metadata
    const frame = encodeRequest(api, 9, 1, 'c', { topics: [{ topicId: '0'.repeat(32), name: 'clicks' }] }).subarray(4);
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
    const answer = Buffer.concat(encodeUnsupportedVersion(42));
    assert.deepEqual([answer.readInt32BE(0), answer.readInt32BE(4), answer.readInt16BE(8)], [6, 42, 35]);
  });
});
