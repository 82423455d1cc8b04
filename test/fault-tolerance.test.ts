// Exactly-once under crashes: a pipeline process is SIGKILLed at random instants (during processing, checkpoints
// and sink writes alike) and restarted, over a deterministic disordered input, until it completes; its outputs
// must then equal those of an uninterrupted run exactly: nothing lost, nothing twice.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { sluice, startSluice } from '../support/processes.ts';
import { type Input, killUntilDone, readTopics, runPipeline, writeInput } from './helpers/crash.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-fault-'));
  dirs.push(dir);
  return dir;
}

async function crashTest(options: {
  pipeline: string;
  inputs: Input[];
  outputs: string[];
  count: number;
  kills: number;
}): Promise<void> {
  const file = new URL(options.pipeline, import.meta.url).pathname;
  const reference = tempDir();
  await writeInput(reference, options.inputs, options.count);
  const pristine = tempDir();
  fs.cpSync(reference, pristine, { recursive: true });
  const crashed = tempDir();
  fs.cpSync(reference, crashed, { recursive: true });

  const clean = await runPipeline(file, reference, ['--no-checkpoints']);
  assert.equal(clean.code, 0, clean.output);
  const expected = await readTopics(reference, options.outputs);
  assert.ok(expected[options.outputs[0]!]!.length > 100, 'the reference run produced results');

  // Kill anywhere from startup (restore, first checkpoint) to deep into the run; shorter when runs are quick.
  await killUntilDone({ file, crashed, pristine, kills: options.kills, seed: 7, maxDelayMs: 400 });
  const actual = await readTopics(crashed, options.outputs);
  for (const topic of options.outputs) {
    assert.equal(actual[topic]!.length, expected[topic]!.length, `${topic}: as many records as the uninterrupted run`);
    assert.deepEqual(actual[topic], expected[topic], `${topic}: the same records`);
  }
}

// The crash tests budget by progress (a bounded number of attempts per kill), not by time: the generous timeouts
// below (each test's own — a suite's timeout does not reach its tests) only stop a hung run on a loaded machine.
const CRASH_TEST = { timeout: 900_000 };

describe('exactly-once under SIGKILL', () => {
  it(
    'windowed counts over 400,000 disordered events: 30 kills, output equal to an uninterrupted run',
    CRASH_TEST,
    async () => {
      await crashTest({
        pipeline: '../examples/windowed-counts.ts',
        inputs: [
          {
            topic: 'events',
            partitions: 3,
            records: (rand, i) => {
              const key = `k${Math.floor(rand() * 40)}`;
              // 5 ms apart, up to 4 s of disorder, and 1% far behind (late data).
              const late = rand() < 0.01 ? 30_000 : 0;
              return {
                key,
                value: { key, ts: 1_700_000_000_000 + i * 5 - Math.floor(rand() * 4000) - late, value: i % 97 },
              };
            },
          },
        ],
        outputs: ['window-totals', 'events-late'],
        count: 400_000,
        kills: 30,
      });
    },
  );

  it(
    'a click/view interval join and user sessions over 240,000 events: 30 kills, output equal',
    CRASH_TEST,
    async () => {
      const base = 1_700_000_000_000;
      const viewTs = (i: number) => base + i * 20 - ((i * 7919) % 3000);
      await crashTest({
        pipeline: '../examples/clickstream.ts',
        inputs: [
          {
            topic: 'views',
            partitions: 3,
            records: (_rand, i) => {
              const view = { viewId: `v${i}`, user: `u${i % 997}`, ad: `a${i % 23}`, ts: viewTs(i) };
              return { key: view.viewId, value: view };
            },
          },
          {
            topic: 'clicks',
            partitions: 3,
            count: 40_000,
            records: (rand, i) => {
              const v = i * 5 + Math.floor(rand() * 5);
              // Most clicks within 10 minutes of their view; some after (not attributed).
              const click = {
                viewId: `v${v}`,
                user: `u${v % 997}`,
                ad: `a${v % 23}`,
                ts: viewTs(v) + Math.floor(rand() * 700_000),
              };
              return { key: click.viewId, value: click };
            },
          },
        ],
        outputs: ['ad-ctr', 'user-sessions'],
        count: 200_000,
        kills: 30,
      });
    },
  );

  it(
    'a savepoint taken with `sluice savepoint` resumes a changed pipeline with unchanged results',
    CRASH_TEST,
    async () => {
      const events: Input = {
        topic: 'events',
        partitions: 3,
        records: (rand, i) => {
          const key = `k${Math.floor(rand() * 20)}`;
          return { key, value: { key, ts: 1_700_000_000_000 + i * 20 - Math.floor(rand() * 4000), value: i % 13 } };
        },
      };
      const reference = tempDir();
      await writeInput(reference, [events], 50_000);
      const upgraded = tempDir();
      fs.cpSync(reference, upgraded, { recursive: true });
      const original = new URL('../examples/windowed-counts.ts', import.meta.url).pathname;
      const changed = new URL('./fixtures/windowed-counts-v2.ts', import.meta.url).pathname;

      const clean = await runPipeline(original, reference, ['--no-checkpoints']);
      assert.equal(clean.code, 0, clean.output);
      const expected = await readTopics(reference, ['window-totals', 'events-late']);

      // The original runs live (it has read everything and waits for more) when the savepoint is taken.
      const live = startSluice([
        'run',
        original,
        '--data-dir',
        upgraded,
        '--no-kafka',
        '--no-http',
        '--checkpoint-interval',
        '0',
      ]);
      await live.waitFor(/sluice run: pipeline windowed-counts/);
      const saved = await sluice(
        ['savepoint', 'windowed-counts', '--data-dir', upgraded, '--name', 'v1'],
        undefined,
        30_000,
      );
      assert.equal(saved.code, 0, saved.stderr);
      assert.match(saved.stdout.toString(), /v1 written to .*savepoints\/v1\.ckpt/);
      assert.equal(await live.stop('SIGTERM'), 0);

      const again = await sluice(['savepoint', 'windowed-counts', '--data-dir', upgraded, '--name', 'bad name!']);
      assert.equal(again.code, 2, 'an invalid savepoint name is a usage error');

      const resumed = await runPipeline(changed, upgraded, ['--from-savepoint', 'v1', '--checkpoint-interval', '0']);
      assert.equal(resumed.code, 0, resumed.output);
      assert.match(resumed.output, /restored from .*v1\.ckpt/);
      assert.deepEqual(await readTopics(upgraded, ['window-totals', 'events-late']), expected);
    },
  );
});
