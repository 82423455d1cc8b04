// A checkpoint written by an older engine (fixtures/legacy-v1.ckpt: operator kinds were class names then, and each
// operator had its own state format) restores into today's engine, which finishes the run with exactly the results
// of an uninterrupted run.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { buildLegacyPipeline, feed } from './fixtures/legacy-pipeline.ts';
import { readCheckpointFile } from './store.ts';

const fixtures = path.join(import.meta.dirname, 'fixtures');

async function uninterrupted(): Promise<string[]> {
  const { p, sources, out } = buildLegacyPipeline({ bounded: true });
  const done = p.run();
  await feed(sources);
  await done;
  return out.values;
}

describe('a checkpoint of an older engine', () => {
  it('restores every operator and finishes with the results of an uninterrupted run', async () => {
    const file = path.join(fixtures, 'legacy-v1.ckpt');
    const saved = readCheckpointFile(file);
    assert.equal(saved.operators.tumbling?.kind, 'PaneWindowOperator', 'written when kinds were class names');
    const { before } = JSON.parse(fs.readFileSync(path.join(fixtures, 'legacy-v1.json'), 'utf8')) as {
      before: string[];
    };

    const { p, sources, out } = buildLegacyPipeline({ bounded: true });
    p.restore(saved);
    const done = p.run();
    await feed(sources);
    await done;

    const want = await uninterrupted();
    assert.ok(out.values.length > 1000 && before.length > 1000, 'results on both sides of the checkpoint');
    const kinds = ['tumbling', 'sliding', 'sessions', 'rolling-time', 'rolling-count', 'process', 'interval'];
    for (const kind of [...kinds, 'window-join', 'enrich', 'temporal']) {
      assert.ok(
        out.values.some((v) => v.startsWith(`${kind} `)),
        `${kind} emits after the restore`,
      );
    }
    assert.deepEqual([...before, ...out.values].sort(), [...want].sort());
  });
});
