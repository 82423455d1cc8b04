// One partition's appends: one request at a time, in call order; those that wait go out together as the next one,
// each resolving with its own offsets — and a failed request fails each append in it, not the ones after.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { AppendResult, LogRecord } from '../../log/index.ts';
import { InOrder, MAX_COALESCED_BYTES } from './in-order.ts';

const records = (...values: string[]): LogRecord[] => values.map((v) => ({ key: null, value: Buffer.from(v) }));

function fakePartition() {
  const requests: { values: string[]; done(error?: Error): void }[] = [];
  let end = 0;
  const send = (rs: readonly LogRecord[]) =>
    new Promise<AppendResult>((resolve, reject) => {
      requests.push({
        values: rs.map((r) => r.value!.toString()),
        done: (error) => {
          if (error) return reject(error);
          const baseOffset = end;
          end += rs.length;
          resolve({ baseOffset, lastOffset: end - 1, logAppendTime: 0, logStartOffset: 0 });
        },
      });
    });
  return { requests, send };
}

it('sends one request at a time per partition; the appends that waited go out as one, each with its offsets', async () => {
  const order = new InOrder();
  const { requests, send } = fakePartition();
  const a = order.run('t', 0, records('a1', 'a2'), send);
  const b = order.run('t', 0, records('b1'), send);
  const c = order.run('t', 0, records('c1', 'c2', 'c3'), send);
  const other = order.run('t', 1, records('x'), send);
  assert.deepEqual(
    requests.map((r) => r.values),
    [['a1', 'a2'], ['x']],
  );
  requests[0]!.done();
  assert.deepEqual((await a).baseOffset, 0);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(requests[2]!.values, ['b1', 'c1', 'c2', 'c3'], 'the two that waited, merged in order');
  requests[2]!.done();
  assert.deepEqual([(await b).baseOffset, (await b).lastOffset], [2, 2]);
  assert.deepEqual([(await c).baseOffset, (await c).lastOffset], [3, 5]);
  requests[1]!.done();
  await other;
  assert.equal((await order.all()).length, 0);
});

it('a failed request fails its appends; the next ones still go out', async () => {
  const order = new InOrder();
  const { requests, send } = fakePartition();
  const a = order.run('t', 0, records('a'), send);
  const b = order.run('t', 0, records('b'), send);
  const all = order.all();
  requests[0]!.done(new Error('NOT_LEADER'));
  await assert.rejects(a, /NOT_LEADER/);
  await assert.rejects(all, /NOT_LEADER/);
  await new Promise((resolve) => setImmediate(resolve));
  requests[1]!.done();
  assert.equal((await b).baseOffset, 0);
});

it('merges no more than MAX_COALESCED_BYTES into one request', async () => {
  const order = new InOrder();
  const { requests, send } = fakePartition();
  const big = 'x'.repeat(MAX_COALESCED_BYTES / 2);
  const appends = [order.run('t', 0, records('first'), send)];
  for (let i = 0; i < 3; i++) appends.push(order.run('t', 0, records(big), send));
  requests[0]!.done();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(requests[1]!.values.length, 2, 'two halves fill a request');
  requests[1]!.done();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(requests[2]!.values.length, 1);
  requests[2]!.done();
  await Promise.all(appends);
});
