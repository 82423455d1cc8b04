// Every Kafka error name in the table of codes is one the protocol layer can answer with.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ERROR_CODES, type ErrorCode, errorMapping, SluiceError } from '../../errors.ts';
import { KafkaError, kafkaErrorOf } from './errors.ts';

it("answers every Sluice code that has a Kafka error with Kafka's number for it, the rest as unknown", () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const name = errorMapping(code).kafka;
    const answer = kafkaErrorOf(new SluiceError(code, 'x'));
    if (name === undefined) assert.equal(answer, KafkaError.UNKNOWN_SERVER_ERROR, code);
    else assert.equal(answer, KafkaError[name as keyof typeof KafkaError], `${code} → ${name} is in KafkaError`);
  }
  assert.equal(kafkaErrorOf(new SluiceError('RECORD_TOO_LARGE', 'x')), 10);
  assert.equal(kafkaErrorOf(new Error('plain')), KafkaError.UNKNOWN_SERVER_ERROR);
});
