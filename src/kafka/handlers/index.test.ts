// The registry serves every generated API, and ApiVersions advertises exactly what it serves.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { it } from 'node:test';
import { APIS, KafkaError, Produce } from '../protocol/index.ts';
import { apiVersionsBody, HANDLERS, SERVED_APIS } from './index.ts';

it('registers a handler for every generated API', () => {
  assert.deepEqual([...HANDLERS.keys()].sort(), [...APIS.keys()].sort());
  for (const [key, route] of HANDLERS) assert.equal(route.api, APIS.get(key));
});

it('answers ApiVersions from the registry, naming Produce from v0 as Kafka 4.0 does (KAFKA-18659)', () => {
  const body = apiVersionsBody(KafkaError.NONE);
  const expected = [...SERVED_APIS.values()]
    .map((api) => ({
      apiKey: api.apiKey,
      minVersion: api.apiKey === Produce.apiKey ? 0 : api.minVersion,
      maxVersion: api.maxVersion,
    }))
    .sort((a, b) => a.apiKey - b.apiKey);
  assert.equal(SERVED_APIS.get(Produce.apiKey)?.minVersion, 3, 'v0-v2 are still not served');
  assert.deepEqual(body.apiKeys, expected);
  assert.equal(body.errorCode, KafkaError.NONE);
});

it("matches docs/kafka.md's API table exactly (name, key, versions, first flexible version)", () => {
  const doc = fs.readFileSync(new URL('../../../docs/kafka.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## APIs and versions'), doc.indexOf('**Idempotent producers**'));
  const rows = [...section.matchAll(/^\| (\w+)\s+\| (\d+)\s+\| (\d+)–(\d+)\s+\| (\d+)\+\s+\|/gm)].map((m) =>
    m.slice(1, 6),
  );
  const expected = [...SERVED_APIS.values()].map((api) => {
    const firstFlexible = api.requestPlans.findIndex((plan) => plan?.flexible);
    return [api.name, api.apiKey, api.minVersion, api.maxVersion, firstFlexible].map(String);
  });
  assert.deepEqual(rows, expected);
});
