// The generated accessors: column readers, projections and composite GROUP BY keys (numbers joined, or JSON).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compositeKey, fieldReader, rowBuilder } from './codegen.ts';

describe('generated accessors', () => {
  it('read a column (of a joined side too), build a row with any column names', () => {
    assert.equal(fieldReader('a b"c')({ 'a b"c': 3 }), 3);
    assert.equal(fieldReader('x', 'r')({ l: { x: 1 }, r: { x: 2 } }), 2);
    const build = rowBuilder(['id', "it's"], [fieldReader('a'), () => null]);
    assert.deepEqual(build({ a: 7 }), { id: 7, "it's": null });
  });

  it('composite keys round-trip: numbers with NULLs joined, strings through JSON', () => {
    const numbers = compositeKey(
      ['BIGINT', 'DOUBLE', 'TIMESTAMP'],
      [fieldReader('a'), fieldReader('b'), fieldReader('c')],
    );
    const key = numbers.encode({ a: 1, b: null, c: -2.5 });
    assert.equal(key, '1,null,-2.5');
    assert.deepEqual(numbers.decode(key), [1, null, -2.5]);
    const mixed = compositeKey(['BIGINT', 'VARCHAR'], [fieldReader('a'), fieldReader('s')]);
    assert.deepEqual(mixed.decode(mixed.encode({ a: 1, s: 'x,y' })), [1, 'x,y']);
  });
});
