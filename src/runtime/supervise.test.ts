// supervise(), the in-process host under the supervisor for code and tests that build pipelines by hand: it
// restarts with backoff and reports a crash loop (the host's own cases are in in-process.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collect, fromArrays, Pipeline } from '../engine/index.ts';
import { createLogger } from '../logger.ts';
import { supervise } from './supervise.ts';

describe('restart policy', () => {
  it('restarts a failing pipeline with backoff, then reports a crash loop', async () => {
    let builds = 0;
    const failing = (failures: number) => async () => {
      const attempt = ++builds;
      const p = new Pipeline({ name: 'flaky', bounded: true, onError: 'fail' });
      p.source(fromArrays([[1, 2, 3]]))
        .map((v) => {
          if (attempt <= failures) throw new Error(`boom ${attempt}`);
          return v;
        })
        .sinkTo(collect());
      return p;
    };
    const logger = createLogger('test');
    const ok = supervise(failing(2), { initialDelayMs: 5, maxDelayMs: 20 }, logger);
    await ok.done;
    assert.equal(ok.restarts(), 2);
    assert.equal(builds, 3);

    builds = 0;
    const loop = supervise(failing(100), { initialDelayMs: 1, maxDelayMs: 5, maxFailures: 3 }, logger);
    await assert.rejects(loop.done, { code: 'PIPELINE_CRASH_LOOP', message: /failed 4 times.*boom 4/ });
    assert.equal(builds, 4);
  });
});
