// A pipeline in this process under the supervisor: the first build's failure is final, a rebuild that fails after
// a failure is restarted, and every instance it rebuilds shares the first one's history, so the restarts and their
// causes stay on record (the engine's supervise() is this, for code that builds pipelines by hand).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collect, fromArrays, Pipeline } from '../engine/index.ts';
import { createLogger } from '../logger.ts';
import { InProcessHost } from './in-process.ts';
import { Supervisor } from './supervisor.ts';

const logger = createLogger('test');

/** A bounded pipeline whose records fail it on the first `failures` builds. */
function failing(failures: number, built: Pipeline[] = []) {
  return async (attempt: number) => {
    const p = new Pipeline({ name: 'flaky', bounded: true, onError: 'fail' });
    p.source(fromArrays([[1, 2, 3]]))
      .map((v) => {
        if (attempt < failures) throw new Error(`boom ${attempt + 1}`);
        return v;
      })
      .sinkTo(collect());
    built.push(p);
    return p;
  };
}

describe('in-process host under the supervisor', () => {
  it('fails at once, with the cause, when the first build fails', async () => {
    let builds = 0;
    const host = new InProcessHost({
      build: async () => {
        builds++;
        throw new Error('no such topic');
      },
    });
    const supervisor = new Supervisor({ host, name: 'pipeline', logger, restart: { initialDelayMs: 5_000 } }).start();
    await assert.rejects(supervisor.done, { message: 'no such topic' });
    assert.equal(builds, 1, 'not rebuilt');
    assert.equal(supervisor.state, 'failed');
  });

  it('restarts a pipeline that ran, even when a rebuild fails, and finishes', async () => {
    const build = failing(1);
    const host = new InProcessHost({
      build: async (attempt) => {
        if (attempt === 1) throw new Error('broker restarting');
        return build(attempt);
      },
    });
    const supervisor = new Supervisor({
      host,
      name: 'pipeline',
      logger,
      restart: { initialDelayMs: 1, maxDelayMs: 2 },
    });
    await supervisor.start().done;
    assert.equal(supervisor.state, 'finished');
    assert.equal(supervisor.restarts(), 2);
  });

  it('keeps one history, with the restarts and their causes, across the instances it rebuilds', async () => {
    const built: Pipeline[] = [];
    const host = new InProcessHost({ build: failing(2, built) });
    const supervisor = new Supervisor({
      host,
      name: 'pipeline',
      logger,
      restart: { initialDelayMs: 5, maxDelayMs: 20 },
    });
    await supervisor.start().done;
    const last = host.current()!;
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
    assert.equal(last.metrics().restarts, 2);
    assert.equal(built[0]!.history, last.history, 'one history for every instance');
    assert.equal(supervisor.views()[0]!.metrics().restarts, 2, 'the view counts them once');
  });

  it('gives up on a crash loop, the last failure followed by no restart', async () => {
    const host = new InProcessHost({ build: failing(100) });
    const supervisor = new Supervisor({
      host,
      name: 'pipeline',
      logger,
      restart: { initialDelayMs: 1, maxDelayMs: 2, maxFailures: 3 },
    });
    await assert.rejects(supervisor.start().done, { code: 'PIPELINE_CRASH_LOOP', message: /failed 4 times.*boom 4/ });
    assert.equal(host.current()!.history.snapshot().restarts.at(-1)!.restartInMs, null);
  });
});
