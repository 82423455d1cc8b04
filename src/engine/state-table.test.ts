// State tables: get/put/delete and iteration by key, TTL in processing and event time (reads and expire()),
// snapshots that survive v8 serialisation and restore, and the entry count the state-size metric reads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import { StateTable } from './state-table.ts';

describe('state tables', () => {
  it('get, put, delete and iterate by key in first-write order, counting entries', () => {
    const table = new StateTable<string, number>();
    table.put('b', 1);
    table.put('a', 2);
    table.put('b', 3);
    assert.equal(table.get('b'), 3);
    assert.equal(table.has('a'), true);
    assert.equal(table.get('c'), undefined);
    assert.deepEqual(
      [...table.entries()],
      [
        ['b', 3],
        ['a', 2],
      ],
    );
    assert.deepEqual([...table.keys()], ['b', 'a']);
    assert.deepEqual([...table.values()], [3, 2]);
    assert.equal(table.size, 2);
    assert.equal(table.delete('b'), true);
    assert.equal(table.delete('b'), false);
    assert.equal(table.size, 1);
    table.clear();
    assert.equal(table.size, 0);
    assert.equal(table.expire(), 0, 'nothing expires without a TTL');
  });

  it('expire entries in processing time: not written for the TTL, they read as absent and are dropped', () => {
    let now = 1000;
    const table = new StateTable<string, string>({ ttl: { ms: 100, time: 'processing' }, now: () => now });
    table.put('a', 'x');
    now = 1050;
    table.put('b', 'y');
    now = 1099;
    assert.equal(table.get('a'), 'x');
    table.put('a', 'x2'); // a write renews the entry
    now = 1150;
    assert.equal(table.get('b'), undefined, 'b was last written at 1050');
    assert.equal(table.get('a'), 'x2');
    assert.deepEqual([...table.keys()], ['a']);
    now = 1198;
    assert.equal(table.expire(), 0);
    assert.equal(table.size, 1);
    assert.equal(table.expire(1199), 1, 'a, last written at 1099, is 100 ms old');
    assert.equal(table.size, 0);
  });

  it('expire entries in event time: the watermark past the time the writer gave plus the TTL', () => {
    let watermark = Number.NEGATIVE_INFINITY;
    const table = new StateTable<number, string>({ ttl: { ms: 10, time: 'event' }, now: () => watermark });
    table.put(1, 'one', 100);
    table.put(2, 'two', 50);
    table.put(3, 'three', 200);
    assert.equal(table.get(2), 'two', 'before any watermark nothing has expired');
    watermark = 60;
    assert.equal(table.expire(), 1);
    assert.deepEqual([...table.keys()], [1, 3]);
    table.put(1, 'one again', 55); // an older event time: the entry now expires sooner
    watermark = 65;
    assert.equal(table.has(1), false);
    assert.equal(table.expire(), 0, 'reading it dropped it');
    watermark = 209;
    assert.equal(table.get(3), 'three');
    watermark = 210;
    assert.equal(table.expire(), 1);
    assert.equal(table.size, 0);
  });

  it('expire() visits only the keys due, whatever the table holds', () => {
    let now = 0;
    const table = new StateTable<number, number>({ ttl: { ms: 1000, time: 'processing' }, now: () => now });
    for (let i = 0; i < 10_000; i++) {
      now = i;
      table.put(i, i);
    }
    now = 1000 + 99; // keys 0..99 are past their TTL
    assert.equal(table.expire(), 100);
    assert.equal(table.size, 9_900);
    for (let i = 100; i < 200; i++) table.put(i, -i); // renewed at 1099
    now = 1000 + 199;
    assert.equal(table.expire(), 0, 'the renewed keys wait for their new expiry');
    now = 2099;
    assert.equal(table.expire(), 1000, 'keys 200..1099 and the renewed 100..199');
  });

  it('snapshot to plain columns and restore the same entries, times included', () => {
    let now = 500;
    const ttl = { ms: 100, time: 'processing' as const };
    const table = new StateTable<string, { n: number }>({ ttl, now: () => now });
    table.put('a', { n: 1 }, 450);
    table.put('b', { n: 2 });
    const stored = v8.deserialize(v8.serialize(table.snapshot()));
    assert.deepEqual(stored.keys, ['a', 'b']);
    const copy = new StateTable<string, { n: number }>({ ttl, now: () => now });
    copy.restore(stored);
    assert.deepEqual([...copy.entries()], [...table.entries()]);
    assert.equal(copy.timeOf('a'), 450);
    now = 550;
    assert.equal(copy.get('a'), undefined, 'its time came back with it');
    assert.deepEqual(copy.get('b'), { n: 2 });

    const numbers = new StateTable<number, number>();
    numbers.put(1, 10);
    numbers.put(2, 20);
    const columns = numbers.snapshot();
    assert.ok(columns.keys instanceof Float64Array && columns.values instanceof Float64Array, 'numbers as one copy');
    assert.equal(columns.times, undefined);
    const back = new StateTable<number, number>();
    back.restore(structuredClone(columns));
    assert.deepEqual(
      [...back.entries()],
      [
        [1, 10],
        [2, 20],
      ],
    );
  });

  it('convert values on the way out and in, and read the [key, value] pairs of older checkpoints', () => {
    const table = new StateTable<string, Set<number>>();
    table.put('k', new Set([3, 1]));
    const stored = table.snapshot((set) => [...set]);
    assert.deepEqual(stored.values, [[3, 1]]);
    const back = new StateTable<string, Set<number>>();
    back.restore(stored, (list) => new Set(list));
    assert.deepEqual(back.get('k'), new Set([3, 1]));
    back.restore([['old', [7]]], (list: number[]) => new Set(list));
    assert.deepEqual([...back.keys()], ['old'], 'restore replaces what was there');
  });

  it('refuse a TTL without a clock', () => {
    assert.throws(() => new StateTable({ ttl: { ms: 1, time: 'event' } }), /clock/);
  });
});
