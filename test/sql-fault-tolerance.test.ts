// Streaming SQL under SIGKILL: `sluice run examples/windowed-counts.sql` (a materialized view written to a topic and
// a serving table, allowed lateness, late data to a topic) is killed at random instants and restarted from its
// checkpoints until it completes; its topics and its serving table must equal those of an uninterrupted run.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ServingStore } from '../src/serve/index.ts';
import { killUntilDone, readTopics, runPipeline, writeInput } from './helpers/crash.ts';

const SQL = new URL('../examples/windowed-counts.sql', import.meta.url).pathname;
const OUTPUTS = ['window-totals', 'events-late'];

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
function copyOf(from?: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sql-fault-'));
  dirs.push(dir);
  if (from) fs.cpSync(from, dir, { recursive: true });
  return dir;
}

/** The serving table's rows: a count and an order-free hash of them. */
async function tableOf(dataDir: string): Promise<string> {
  const store = await ServingStore.open({ dir: path.join(dataDir, 'serve') });
  try {
    const result = await store.query(
      'SELECT count(*) AS n, bit_xor(hash(window_start, key, cnt, total, kind)) AS h FROM window_totals',
    );
    return JSON.stringify(result.rows);
  } finally {
    await store.close();
  }
}

describe('streaming SQL under SIGKILL', () => {
  it('windowed-counts.sql over 150,000 disordered events: killed 15 times, topics and table equal', {
    timeout: 600_000,
  }, async () => {
    const input = copyOf();
    await writeInput(
      input,
      [
        {
          topic: 'events',
          partitions: 3,
          records: (rand, i) => {
            const key = `k${Math.floor(rand() * 40)}`;
            const late = rand() < 0.01 ? (rand() < 0.5 ? 20_000 : 60_000) : 0;
            return {
              key,
              value: { key, ts: 1_700_000_000_000 + i * 5 - Math.floor(rand() * 4000) - late, value: i % 97 },
            };
          },
        },
      ],
      150_000,
    );
    const reference = copyOf(input);
    const clean = await runPipeline(SQL, reference, ['--no-checkpoints']);
    assert.equal(clean.code, 0, clean.output);
    const expected = await readTopics(reference, OUTPUTS);
    assert.ok(expected['window-totals']!.length > 300, 'the reference run produced results');
    assert.ok(
      expected['window-totals']!.some((r) => r.includes('"kind":"update"')),
      'updates within the lateness',
    );
    assert.ok(expected['events-late']!.length > 0, 'late events');

    const crashed = copyOf(input);
    await killUntilDone({ file: SQL, crashed, pristine: input, kills: 15, seed: 11, maxDelayMs: 600 });
    const actual = await readTopics(crashed, OUTPUTS);
    for (const topic of OUTPUTS) {
      assert.equal(
        actual[topic]!.length,
        expected[topic]!.length,
        `${topic}: as many records as the uninterrupted run`,
      );
      assert.deepEqual(actual[topic], expected[topic], `${topic}: the same records`);
    }
    assert.equal(await tableOf(crashed), await tableOf(reference), 'the serving table: the same rows');
  });
});
