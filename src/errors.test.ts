// The one table of error codes: every code maps to an HTTP status and an exit code by its kind, Kafka's names map
// back to the code the log throws, and an error received over the wire keeps its code when it is known.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { codeForKafkaError, ERROR_CODES, type ErrorCode, EXIT, errorFromWire, errorMapping } from './errors.ts';

const codes = Object.keys(ERROR_CODES) as ErrorCode[];

describe('the error codes', () => {
  it('map bad input to 400 and exit 2, unknown names to 404 and exit 3', () => {
    for (const code of codes) {
      const { http, exit } = ERROR_CODES[code];
      if (code.startsWith('INVALID_')) assert.deepEqual([http, exit], [400, EXIT.USAGE], code);
      if (code.startsWith('UNKNOWN_')) assert.deepEqual([http, exit], [404, EXIT.NOT_FOUND], code);
    }
    assert.equal(errorMapping('BROKER_UNAVAILABLE').exit, EXIT.UNAVAILABLE);
    assert.equal(errorMapping('UNAUTHORIZED').http, 401);
    assert.deepEqual(errorMapping('SOMETHING_ELSE'), { http: 500, exit: EXIT.FAILURE }, 'a code of another origin');
  });

  it("read Kafka's error names back as the codes the embedded log throws, each name once", () => {
    assert.equal(codeForKafkaError('MESSAGE_TOO_LARGE'), 'RECORD_TOO_LARGE');
    assert.equal(codeForKafkaError('RECORD_LIST_TOO_LARGE'), 'RECORD_TOO_LARGE');
    assert.equal(codeForKafkaError('UNKNOWN_TOPIC_ID'), 'UNKNOWN_TOPIC_OR_PARTITION');
    assert.equal(codeForKafkaError('TOPIC_AUTHORIZATION_FAILED'), 'NOT_AUTHORIZED');
    assert.equal(codeForKafkaError('REBALANCE_IN_PROGRESS'), undefined);
    const names = codes.flatMap((code) => {
      const { kafka, fromKafka = [] } = errorMapping(code);
      return [...(kafka ? [kafka] : []), ...fromKafka];
    });
    assert.equal(new Set(names).size, names.length, 'no Kafka name means two codes');
  });

  it('keep a known code received over the wire, and a foreign one in the details', () => {
    const known = errorFromWire({ code: 'UNKNOWN_TABLE', message: 'no table t', details: { table: 't' } });
    assert.equal(known.code, 'UNKNOWN_TABLE');
    assert.deepEqual(known.details, { table: 't' });
    const foreign = errorFromWire({ code: 'FROM_THE_FUTURE', message: 'new' }, 'PIPELINE_FAILED');
    assert.equal(foreign.code, 'PIPELINE_FAILED');
    assert.equal(foreign.details.remoteCode, 'FROM_THE_FUTURE');
  });
});
