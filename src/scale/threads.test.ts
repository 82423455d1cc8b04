// How `sluice run --parallelism N` shares partition tasks among its threads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { balanceTasks } from './threads.ts';

test('equal partitions go round robin, p ≡ i (mod N)', () => {
  assert.deepEqual(balanceTasks([0, 0, 0, 0, 0], 2), [
    [0, 2, 4],
    [1, 3],
  ]);
  assert.deepEqual(balanceTasks([7, 7, 7, 7, 7, 7], 3), [
    [0, 3],
    [1, 4],
    [2, 5],
  ]);
});

test("unequal partitions are shared by records, largest first, each thread's list in order", () => {
  // 1000 keys hashed onto 12 partitions (the scale benchmark's): p mod 2 would give 516 : 484 keys.
  const sizes = [80, 93, 93, 72, 77, 85, 90, 76, 86, 82, 90, 76];
  const shares = balanceTasks(sizes, 2);
  const records = shares.map((ps) => ps.reduce((n, p) => n + sizes[p]!, 0));
  assert.ok(Math.abs(records[0]! - records[1]!) <= 4, `${records}`);
  assert.deepEqual(
    shares.flat().toSorted((a, b) => a - b),
    sizes.map((_, p) => p),
  );
  for (const ps of shares)
    assert.deepEqual(
      ps,
      ps.toSorted((a, b) => a - b),
    );
  // One huge partition: it has a thread of its own.
  assert.deepEqual(balanceTasks([1, 1, 100, 1, 1], 2), [[2], [0, 1, 3, 4]]);
});
