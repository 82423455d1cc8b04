// The Kafka client's errors, built with its own classes as it nests them, come out as Sluice's codes with Kafka's
// reason and never with the client's PLT_KFK_* vocabulary.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MultipleErrors,
  NetworkError,
  ProtocolError,
  ResponseError,
  TimeoutError,
  UserError,
} from '@platformatic/kafka';
import { isSluiceError } from '../../errors.ts';
import { explainClientError, fromClientError, isClientError } from './errors.ts';

const BOOTSTRAP = '127.0.0.1:9092';

function explained(error: unknown, what?: string): { code: string; message: string } {
  const result = explainClientError(error, BOOTSTRAP, what);
  assert.ok(isSluiceError(result), `a SluiceError, got ${result}`);
  assert.doesNotMatch(result.message, /PLT_KFK/);
  return { code: result.code, message: result.message };
}

describe('Kafka client errors', () => {
  it('maps a refused connection, wherever it is nested, to BROKER_UNAVAILABLE naming the address', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { code: 'ECONNREFUSED' });
    const error = new MultipleErrors('listTopics failed 3 times.', [
      new NetworkError('Connection to 127.0.0.1:9092 failed.', { cause: refused }),
    ]);
    assert.ok(isClientError(error));
    const { code, message } = explained(error, 'list topics');
    assert.equal(code, 'BROKER_UNAVAILABLE');
    assert.match(message, /^cannot reach a Kafka broker at 127\.0\.0\.1:9092; start one/);
    assert.equal(explained(new TimeoutError('Request timed out.')).code, 'BROKER_UNAVAILABLE');
  });

  it("maps Kafka's error names to the log's codes, with Kafka's reason and not the client's wrappers", () => {
    const response = new ResponseError(20, 4, { '/topics/0': [3, null] }, {});
    const error = new MultipleErrors('Deleting topics failed.', [
      new MultipleErrors('deleteTopics failed 2 times.', [response, response]),
    ]);
    const { code, message } = explained(error, 'delete orders');
    assert.equal(code, 'UNKNOWN_TOPIC_OR_PARTITION');
    assert.equal(
      message,
      'delete orders: This server does not host this topic-partition (Kafka error UNKNOWN_TOPIC_OR_PARTITION from 127.0.0.1:9092)',
    );
    assert.equal(explained(new ProtocolError('TOPIC_ALREADY_EXISTS')).code, 'TOPIC_ALREADY_EXISTS');
    assert.equal(explained(new ProtocolError('TOPIC_AUTHORIZATION_FAILED')).code, 'NOT_AUTHORIZED');
    assert.equal(explained(new ProtocolError('LEADER_NOT_AVAILABLE')).code, 'BROKER_UNAVAILABLE');
    const other = explained(new ProtocolError('INVALID_SESSION_TIMEOUT'));
    assert.equal(other.code, 'KAFKA_ERROR');
    assert.match(other.message, /Kafka error INVALID_SESSION_TIMEOUT/);
  });

  it("maps the client's own refusals: an unknown topic, anything else", () => {
    const { code, message } = explained(new UserError('Unknown topic orders.'), 'consume orders');
    assert.equal(code, 'UNKNOWN_TOPIC_OR_PARTITION');
    assert.equal(message, 'consume orders: topic orders does not exist on the cluster at 127.0.0.1:9092');
    assert.equal(explained(new UserError('/groupId must be a string')).code, 'KAFKA_CLIENT_ERROR');
  });

  it('leaves errors that are not the client’s as they are', () => {
    const plain = new Error('disk full');
    assert.equal(explainClientError(plain, BOOTSTRAP), plain);
    assert.equal(isClientError(plain), false);
    assert.equal(
      (fromClientError(new ProtocolError('OFFSET_OUT_OF_RANGE'), BOOTSTRAP, 'read t-0') as Error & { code: string })
        .code,
      'OFFSET_OUT_OF_RANGE',
    );
  });
});
