// Per-record operators through the harness: a user function that throws sends only its record to the dead letters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OperatorHarness } from '../harness.ts';
import { MapOperator } from './stateless.ts';

describe('dead letters', () => {
  it('a throwing user function loses only its record', () => {
    const h = new OperatorHarness(
      new MapOperator((v: number) => {
        if (v === 2) throw new Error('two is bad');
        return v * 10;
      }),
    );
    h.process([
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
    assert.deepEqual(h.values(), [10, 30]);
    assert.deepEqual(
      h.deadLetters.map((d) => [d.error, d.original]),
      [['two is bad', '2']],
    );
  });
});
