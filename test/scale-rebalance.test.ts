// Task threads that run unequally fast: `sluice run --parallelism 2` over a topic whose records in two partitions
// cost far more than the others. The tasks are shared by records, so one thread gets both costly partitions; the
// owner sees it fall behind and moves a task to the other thread, its state through its last checkpoint. Every
// count comes out exactly once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { openLog, partitionForKey } from '../src/log/index.ts';
import { startTaskThreads } from '../src/scale/index.ts';
import type { Counted } from './fixtures/skewed-counts.ts';
import skewedCounts from './fixtures/skewed-counts.ts';

const FILE = new URL('./fixtures/skewed-counts.ts', import.meta.url).pathname;
const PARTITIONS = 4;
const PER_PARTITION = 4000;
/** How long the counts may stand still before the run counts as stuck (a task move pauses only the moved task). */
const STALL_MS = 30_000;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-rebalance-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

it('moves a task from the thread that falls behind to the one that is through; each count once', async () => {
  const log = await openLog({ dataDir: path.join(root, 'log') });
  try {
    await log.createTopic('skewed', { partitions: PARTITIONS });
    // Two keys per partition (keyed as Kafka's partitioner would), 1 KiB of padding so a partition spans pages:
    // appended 50 records (~55 KiB) at a time, since a read returns whole batches — 500 at a time, every page would
    // be a 500-record batch (half a second of costly work): the owner would see a thread's reads in lumps, read
    // ahead of its work by a second per task, and a last checkpoint would wait behind the other task's batches.
    const keys = new Map<number, string[]>();
    for (let k = 0; [...keys.values()].flat().length < 2 * PARTITIONS; k++) {
      const key = `key-${k}`;
      const p = partitionForKey(Buffer.from(key), PARTITIONS);
      if ((keys.get(p)?.length ?? 0) < 2) keys.set(p, [...(keys.get(p) ?? []), key]);
    }
    // Equal shares by records put partitions 0 and 2 in thread 0: theirs are the costly records (~4 s each).
    const costly = new Set([0, 2]);
    const pad = 'x'.repeat(1024);
    for (let p = 0; p < PARTITIONS; p++) {
      const records = Array.from({ length: PER_PARTITION }, (_, n) => {
        const key = keys.get(p)![n % 2]!;
        const value = { key, n, spinUs: costly.has(p) ? 1000 : 0, pad };
        return { key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)), timestamp: 1_000 + n };
      });
      for (let i = 0; i < records.length; i += 50) await log.append('skewed', p, records.slice(i, i + 50));
    }
    await log.createTopic('counted', { partitions: 1 });

    const threads = await startTaskThreads({
      file: FILE,
      define: skewedCounts,
      log,
      dataDir: path.join(root, 'run'),
      parallelism: 2,
      intervalMs: 60_000, // no periodic checkpoint: a moved task's state goes with its last one
      rebalance: { everyMs: 100 },
    });
    assert.deepEqual(threads.assignment, [
      [0, 2],
      [1, 3],
    ]);
    await threads.started;
    const total = PARTITIONS * PER_PARTITION;
    // Budgeted by progress, not by time (a loaded machine is slower, not stuck): until every record is counted,
    // or none has been for STALL_MS.
    let counted = 0;
    for (let last = Date.now(); counted < total && Date.now() - last < STALL_MS; ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const now = log.describeTopic('counted').partitions[0]!.logEndOffset;
      if (now > counted) [counted, last] = [now, Date.now()];
    }
    const moves = threads.moves();
    await threads.stop();
    await threads.done;
    assert.ok(counted >= total, `counting stood still for ${STALL_MS} ms; moves: ${JSON.stringify(moves)}`);

    assert.ok(moves.length >= 1, 'a task moved');
    assert.equal(moves[0]!.from, 0, 'from the thread with the costly tasks');
    assert.ok(moves[0]!.partitions.every((p) => costly.has(p)));
    assert.ok(
      threads.assignment[1]!.some((p) => costly.has(p)),
      `now ${JSON.stringify(threads.assignment)}`,
    );

    const output: Counted[] = [];
    for (let offset = 0; ; ) {
      const page = log.readRecords('counted', 0, offset);
      if (page.records.length === 0) break;
      for (const r of page.records) output.push(JSON.parse(r.value!.toString()) as Counted);
      offset = page.nextOffset;
    }
    assert.equal(output.length, total, 'every record counted once');
    const byKey = Map.groupBy(output, (c) => c.key);
    assert.equal(byKey.size, 2 * PARTITIONS);
    for (const [key, rows] of byKey) {
      // Keyed state moved with its task: counts run 1..n without a gap or a repeat, in the order of the records.
      assert.deepEqual(
        rows.map((r) => r.count),
        rows.map((_, i) => i + 1),
        key,
      );
      assert.deepEqual(
        rows.map((r) => r.n),
        rows.map((r) => r.n).toSorted((a, b) => a - b),
      );
    }
  } finally {
    await log.close();
  }
});
