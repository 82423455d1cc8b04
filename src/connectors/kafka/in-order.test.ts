// Appends to a cluster: one request at a time for every partition, in call order; those that wait go out together as
// the next one, each resolving with its own offsets — and a failed request fails each append in it, not the ones
// after.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { AppendResult, LogRecord } from '../../log/index.ts';
import { InOrderAcrossPartitions, MAX_COALESCED_BYTES, type PartitionRecords } from './in-order.ts';

const records = (...values: string[]): LogRecord[] => values.map((v) => ({ key: null, value: Buffer.from(v) }));

/** Requests of several partitions, each answered when the test says; offsets counted per partition. */
function fakeCluster() {
  const requests: { batches: [string, string[]][]; context: string; done(error?: Error): void }[] = [];
  const ends = new Map<string, number>();
  const send = (batches: readonly PartitionRecords[], context: string) =>
    new Promise<AppendResult[]>((resolve, reject) => {
      requests.push({
        batches: batches.map((b) => [`${b.topic}-${b.partition}`, b.records.map((r) => r.value!.toString())]),
        context,
        done: (error) => {
          if (error) return reject(error);
          resolve(
            batches.map((b) => {
              const key = `${b.topic}-${b.partition}`;
              const baseOffset = ends.get(key) ?? 0;
              ends.set(key, baseOffset + b.records.length);
              return { baseOffset, lastOffset: baseOffset + b.records.length - 1, logAppendTime: 0, logStartOffset: 0 };
            }),
          );
        },
      });
    });
  return { requests, send };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

it('the appends of one turn go as one request; those made meanwhile as the next, merged', async () => {
  const { requests, send } = fakeCluster();
  const order = new InOrderAcrossPartitions(send);
  const a = order.run('t', 0, records('a1', 'a2'), 'txn');
  const x = order.run('t', 1, records('x1'), 'txn');
  await turn();
  assert.deepEqual(
    requests.map((r) => r.batches),
    [
      [
        ['t-0', ['a1', 'a2']],
        ['t-1', ['x1']],
      ],
    ],
    'one request',
  );
  const b = order.run('t', 0, records('b1'), 'txn');
  const y = order.run('t', 1, records('y1', 'y2'), 'txn');
  const c = order.run('t', 0, records('c1'), 'txn');
  await turn();
  assert.equal(requests.length, 1, 'one request at a time');
  requests[0]!.done();
  assert.deepEqual([(await a).baseOffset, (await a).lastOffset], [0, 1]);
  assert.deepEqual([(await x).baseOffset, (await x).lastOffset], [0, 0]);
  await turn();
  assert.deepEqual(requests[1]!.batches, [
    ['t-0', ['b1', 'c1']],
    ['t-1', ['y1', 'y2']],
  ]);
  requests[1]!.done();
  assert.deepEqual(
    [(await b).baseOffset, (await c).baseOffset, (await y).baseOffset, (await y).lastOffset],
    [2, 3, 1, 2],
  );
  assert.equal((await order.all()).length, 0);
});

it('a failed request fails its appends, the next go out; contexts never share a request', async () => {
  const { requests, send } = fakeCluster();
  const order = new InOrderAcrossPartitions(send);
  const a = order.run('t', 0, records('a'), 'first');
  await turn();
  const b = order.run('t', 1, records('b'), 'first');
  const c = order.run('t', 0, records('c'), 'second');
  requests[0]!.done(new Error('NOT_LEADER'));
  await assert.rejects(a, /NOT_LEADER/);
  await turn();
  assert.deepEqual(
    requests.slice(1).map((r) => [r.context, r.batches]),
    [['first', [['t-1', ['b']]]]],
  );
  requests[1]!.done();
  await b;
  await turn();
  assert.deepEqual(requests[2]!.context, 'second');
  requests[2]!.done();
  assert.equal((await c).baseOffset, 0);
});

it('a partition merges no more than MAX_COALESCED_BYTES; later appends wait, in order', async () => {
  const { requests, send } = fakeCluster();
  const order = new InOrderAcrossPartitions(send);
  const big = 'x'.repeat(MAX_COALESCED_BYTES / 2);
  const appends = [order.run('t', 0, records('first'), 'txn')];
  await turn();
  for (let i = 0; i < 3; i++) appends.push(order.run('t', 0, records(big), 'txn'));
  appends.push(order.run('t', 1, records('after'), 'txn'));
  requests[0]!.done();
  await turn();
  assert.deepEqual(
    requests[1]!.batches.map(([key, values]) => [key, values.length]),
    [['t-0', 2]],
    'two halves fill it; what came after the third waits behind it',
  );
  requests[1]!.done();
  await turn();
  assert.deepEqual(
    requests[2]!.batches.map(([key, values]) => [key, values.length]),
    [
      ['t-0', 1],
      ['t-1', 1],
    ],
  );
  requests[2]!.done();
  await Promise.all(appends);
});

it('appends of contexts that `same` equates share a request; others do not', async () => {
  const requests: string[][] = [];
  const order = new InOrderAcrossPartitions<{ txn: string; compression: string }>(
    async (batches) => {
      requests.push(batches.map((b) => `${b.partition}:${b.records.map((r) => r.value!.toString()).join('')}`));
      return batches.map(() => ({ baseOffset: 0, lastOffset: 0, logAppendTime: 0, logStartOffset: 0 }));
    },
    (a, b) => a.txn === b.txn && a.compression === b.compression,
  );
  await Promise.all([
    order.run('t', 0, records('a'), { txn: 'x', compression: 'none' }),
    order.run('t', 1, records('b'), { txn: 'x', compression: 'none' }),
    order.run('t', 2, records('c'), { txn: 'x', compression: 'gzip' }),
  ]);
  assert.deepEqual(requests, [['0:a', '1:b'], ['2:c']]);
});
