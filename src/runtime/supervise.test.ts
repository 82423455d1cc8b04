// The restart policy's one exception: a definition that cannot build its pipeline the first time fails supervision
// at once with its own error, while a failure after the pipeline ran (and a rebuild that fails then) is restarted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collect, fromArrays, Pipeline } from '../engine/index.ts';
import { createLogger } from '../logger.ts';
import { supervise } from './supervise.ts';

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

describe('supervise and the pipeline history', () => {
  it('keeps restarts and their causes across the supervisor rebuilding the pipeline', async () => {
    let builds = 0;
    const built: Pipeline[] = [];
    const build = async () => {
      const attempt = ++builds;
      const p = new Pipeline({ name: 'flaky', bounded: true, onError: 'fail' });
      p.source(fromArrays([[1, 2, 3]]))
        .map((v) => {
          if (attempt <= 2) throw new Error(`boom ${attempt}`);
          return v;
        })
        .sinkTo(collect());
      built.push(p);
      return p;
    };
    const run = supervise(build, { initialDelayMs: 5, maxDelayMs: 20 }, createLogger('test'));
    await run.done;
    const last = run.current()!;
    assert.equal(last, built[2]);
    const { restarts } = last.history.snapshot();
    assert.deepEqual(
      restarts.map((r) => [r.code, r.failures]),
      [
        ['BAD_RECORD', 1],
        ['BAD_RECORD', 2],
      ],
    );
    assert.match(restarts[0]!.message, /boom 1/);
    assert.ok(restarts.every((r) => r.restartInMs !== null && r.restartInMs >= 0));
    assert.equal(last.metrics().restarts, 2);
    assert.equal(built[0]!.history, last.history, 'one history for every instance');

    const loop = supervise(
      async () => {
        const p = new Pipeline({ name: 'doomed', bounded: true, onError: 'fail' });
        p.source(fromArrays([[1]]))
          .map(() => {
            throw new Error('always');
          })
          .sinkTo(collect());
        return p;
      },
      { initialDelayMs: 1, maxDelayMs: 2, maxFailures: 1 },
      createLogger('test'),
    );
    await assert.rejects(loop.done, { code: 'PIPELINE_CRASH_LOOP' });
    const gaveUp = loop.current()!.history.snapshot().restarts.at(-1)!;
    assert.equal(gaveUp.restartInMs, null, 'the last failure was not followed by a restart');
  });
});

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
