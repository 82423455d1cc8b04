// Nexmark on task threads (parallel.ts) gives the single-process run's results: the queries whose results do not
// depend on the order records of one key arrive in, over a few thousand events in 4 partitions on 2 threads, with
// checkpoints during the run and every keyBy crossing a repartition topic.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { collect, fromArrays, Pipeline } from '../../src/engine/index.ts';
import { type Log, openLog } from '../../src/log/index.ts';
import { setLogLevel } from '../../src/logger.ts';
import { NexmarkGenerator } from './generator.ts';
import { runParallel } from './parallel.ts';
import { nexmarkEvents, QUERIES, type QueryName } from './queries.ts';
import { produceToLog } from './sources.ts';

const EVENTS = 6000;

async function singleProcess(query: QueryName, events: ReturnType<NexmarkGenerator['event']>[]): Promise<string[]> {
  const p = new Pipeline({ bounded: true, onError: 'fail' });
  const sink = collect<unknown>();
  const build = QUERIES[query] as unknown as (e: ReturnType<typeof nexmarkEvents>) => { sinkTo(s: unknown): void };
  build(nexmarkEvents(p, fromArrays([events], { batchSize: 512 }))).sinkTo(sink);
  await p.run();
  return sink.values.map((v) => JSON.stringify(v)).sort();
}

describe('Nexmark on task threads', () => {
  let dir: string;
  let log: Log;
  const generator = new NexmarkGenerator();
  const events = Array.from({ length: EVENTS }, (_, i) => generator.event(i));
  before(async () => {
    setLogLevel('warn');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-nexmark-parallel-'));
    log = await openLog({ dataDir: dir, fsync: { mode: 'none' } });
    await produceToLog(log, 'nexmark', generator, EVENTS, { partitions: 4, batch: 200 });
  });
  after(async () => {
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // q0: per bid; q3: a regular join; q5, q7, q8: windows, a second keyBy after one (q5), all keys on one task (q7),
  // a window join (q8).
  for (const query of ['q0', 'q3', 'q5', 'q7', 'q8'] as const) {
    it(`${query}: the same results as in one process`, async () => {
      const expected = await singleProcess(query, events);
      const run = await runParallel({ log, input: 'nexmark', query, parallelism: 2, intervalMs: 50, keepValues: true });
      assert.equal(run.threads, 2);
      assert.equal(run.results, expected.length);
      assert.deepEqual(run.values.sort(), expected);
      assert.ok(expected.length > 0, 'the query has results on this input');
    });
  }
});
