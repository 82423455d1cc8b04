// When the owner of task threads moves tasks between them while they catch up on a backlog.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planMove, ReadProgress } from './rebalance.ts';

const lagOf = (lags: Record<number, number>) => (p: number) => lags[p] ?? 0;

test('threads that would finish together keep their tasks', () => {
  const threads = [
    { partitions: [0, 2, 4], capacity: 1000 },
    { partitions: [1, 3, 5], capacity: 1000 },
  ];
  assert.equal(planMove(threads, lagOf({ 0: 900, 1: 900, 2: 900, 3: 1000, 4: 900, 5: 900 })), undefined);
});

test('a thread nearly through takes about half of what the other has left', () => {
  const threads = [
    { partitions: [0, 2, 4, 6], capacity: 1000 },
    { partitions: [1, 3, 5, 7], capacity: 1000 },
  ];
  // Thread 0 has 2.4 s to go, thread 1 is through: moving 1200 records' worth has both done in ~1.25 s.
  const move = planMove(threads, lagOf({ 0: 600, 2: 600, 4: 600, 6: 600 }));
  assert.deepEqual(move, { partitions: [0, 2], from: 0, to: 1 });
});

test('tasks that cost more per record slow their thread down: the faster thread takes some', () => {
  // Equal backlogs, but thread 0 reads a third as fast (its tasks cost three times as much per record): 6 s to go
  // against 2 s. With two of its tasks moved, both are through in ~3.4 s (one in 4 s).
  const threads = [
    { partitions: [0, 1, 2], capacity: 1000 },
    { partitions: [3, 4, 5], capacity: 3000 },
  ];
  const move = planMove(threads, lagOf({ 0: 2000, 1: 2000, 2: 2000, 3: 2000, 4: 2000, 5: 2000 }));
  assert.deepEqual(move, { partitions: [0, 1], from: 0, to: 1 });
});

test('no move that would not pay for itself, nor any before every thread has shown its pace', () => {
  const threads = [
    { partitions: [0, 2], capacity: 1000 },
    { partitions: [1, 3], capacity: 1000 },
  ];
  // 2.4 s against 2 s: the gap is smaller than any task's backlog.
  assert.equal(planMove(threads, lagOf({ 0: 1200, 2: 1200, 1: 1000, 3: 1000 })), undefined);
  // 3 s against 2.5 s: moving a task would even it out to 2.5 s against... 3.55 s: no.
  assert.equal(planMove(threads, lagOf({ 0: 1500, 2: 1500, 1: 1250, 3: 1250 })), undefined);
  // Through within two seconds anyway: the owner's view runs ahead of the work there, and a move could overshoot.
  assert.equal(planMove(threads, lagOf({ 0: 900, 2: 900 })), undefined);
  // Thread 1 has not been measured: there is no basis for a move.
  assert.equal(
    planMove([threads[0]!, { partitions: [1, 3], capacity: undefined }], lagOf({ 0: 5000, 2: 5000, 1: 10, 3: 10 })),
    undefined,
  );
});

test('a thread keeps one task with a backlog at least, tasks without a backlog and unsettled tasks stay', () => {
  const threads = [
    { partitions: [0, 1], capacity: 1000 },
    { partitions: [2], capacity: 1000 },
  ];
  assert.deepEqual(planMove(threads, lagOf({ 0: 3000, 1: 3000 })), { partitions: [0], from: 0, to: 1 });
  assert.deepEqual(
    planMove(threads, lagOf({ 0: 3000, 1: 3000 }), (p) => p !== 0),
    { partitions: [1], from: 0, to: 1 },
  );
  assert.equal(planMove([{ partitions: [0], capacity: 1000 }, threads[1]!], lagOf({ 0: 3000 })), undefined);
  assert.equal(planMove(threads, lagOf({ 0: 6000, 1: 0 })), undefined);
  // Thread 1 read three times as fast, but on other tasks: its one task with a backlog stays where it is, or it
  // would go back and forth between two threads that have nothing else to do.
  assert.equal(
    planMove(
      [
        { partitions: [0, 1], capacity: 1000 },
        { partitions: [2], capacity: 3000 },
      ],
      lagOf({ 0: 6000, 1: 0 }),
    ),
    undefined,
  );
});

test("read progress: a thread's capacity is its pace while it has a backlog; a caught-up thread keeps its last", () => {
  const progress = new ReadProgress(2);
  progress.reading(0, 'in', 0, 0);
  progress.reading(1, 'in', 1, 0);
  progress.sample(0, [10_000, 10_000]);
  progress.reading(0, 'in', 0, 1000);
  progress.reading(1, 'in', 1, 2000);
  progress.sample(1000, [9000, 8000]);
  assert.equal(progress.capacity(0), 1000);
  assert.equal(progress.capacity(1), 2000);
  // Thread 1 reads what little arrives (no backlog): that is not its pace.
  progress.reading(0, 'in', 0, 3000);
  progress.reading(1, 'in', 1, 2010);
  progress.sample(2000, [7000, 0]);
  assert.equal(progress.capacity(0), 1250); // smoothed: 1000, then a reading of 2000
  assert.equal(progress.capacity(1), 2000);
  assert.equal(progress.position('in', 0), 3000);
  // A task restored elsewhere reads again from its checkpoint: nothing counts twice.
  progress.reading(1, 'in', 0, 2500);
  progress.reading(1, 'in', 0, 3000);
  progress.sample(3000, [0, 7000]);
  assert.equal(progress.capacity(1), 2000);
});
