// The restart policy's one exception: a definition that cannot build its pipeline the first time fails supervision
// at once with its own error, while a failure after the pipeline ran (and a rebuild that fails then) is restarted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../logger.ts';
import { collect, fromArrays, Pipeline, supervise } from './index.ts';

const logger = createLogger('test');
const slowPolicy = { initialDelayMs: 5_000, maxDelayMs: 5_000 };

describe('supervise', () => {
  it('fails at once, with the cause, when the first build fails', async () => {
    let builds = 0;
    const started = performance.now();
    const run = supervise(
      async () => {
        builds++;
        throw new Error('no such topic');
      },
      slowPolicy,
      logger,
    );
    await assert.rejects(run.done, { message: 'no such topic' });
    assert.equal(builds, 1, 'not rebuilt');
    assert.equal(run.restarts(), 0);
    assert.ok(performance.now() - started < 2_000, 'no backoff before giving up');
  });

  it('keeps restarting a pipeline that ran, even when a rebuild fails', async () => {
    let builds = 0;
    const run = supervise(
      async () => {
        const attempt = ++builds;
        if (attempt === 2) throw new Error('broker restarting');
        const p = new Pipeline({ name: 'flaky', bounded: true, onError: 'fail' });
        p.source(fromArrays([[1, 2, 3]]))
          .map((v) => {
            if (attempt === 1) throw new Error('boom');
            return v;
          })
          .sinkTo(collect());
        return p;
      },
      { initialDelayMs: 1, maxDelayMs: 2 },
      logger,
    );
    await run.done;
    assert.equal(builds, 3, 'built, failed running; rebuild failed; rebuilt and finished');
    assert.equal(run.restarts(), 2);
  });
});
