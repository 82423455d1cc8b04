// The supervisor over a scripted host: the moves it makes through the lifecycle table for each outcome of an
// incarnation — up, crashed, unable to build, stopped, finished — and what it decides: restart after a delay, give
// up once the budget is spent, fail at once on a first start that cannot build, stop without starting anew.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PipelineView } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import type { HostEvents, HostExit, Incarnation, PipelineHost } from './host.ts';
import { RestartBudget } from './policy.ts';
import type { SupervisorState } from './states.ts';
import { Supervisor, type SupervisorOptions } from './supervisor.ts';

const logger = createLogger('test');

interface Scripted {
  events: HostEvents;
  exit(exit: HostExit): void;
  stops: { checkpoint?: boolean }[];
}

/** A host whose incarnations do what the test says. */
class ScriptedHost implements PipelineHost {
  readonly kind = 'worker-process';
  readonly incarnations: Scripted[] = [];
  view: PipelineView | undefined;
  /** Whether an incarnation asked to stop exits at once, stopped (else the test ends it). */
  stopsAtOnce = true;

  start(events: HostEvents): Incarnation {
    const exited = Promise.withResolvers<HostExit>();
    const scripted: Scripted = { events, exit: exited.resolve, stops: [] };
    this.incarnations.push(scripted);
    return {
      exited: exited.promise,
      views: () => (this.view ? [this.view] : []),
      stop: (options = {}) => {
        scripted.stops.push(options);
        if (this.stopsAtOnce) exited.resolve({ kind: 'stopped' });
      },
      kill: () => {
        exited.resolve({ kind: 'failed', phase: 'run', error: new Error('killed') });
        return true;
      },
    };
  }

  get last(): Scripted {
    return this.incarnations.at(-1)!;
  }
}

function supervised(options: Partial<SupervisorOptions> = {}) {
  const host = new ScriptedHost();
  const moves: string[] = [];
  const supervisor = new Supervisor({
    host,
    name: 'pipeline p',
    logger,
    restart: { initialDelayMs: 1, maxDelayMs: 2 },
    onTransition: (from, event, to) =>
      moves.push(`${from} -${event.type === 'failed' ? `failed:${event.phase}` : event.type}-> ${to}`),
    ...options,
  });
  return { host, supervisor, moves };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));
const until = async (done: () => boolean) => {
  for (let i = 0; i < 500 && !done(); i++) await tick();
  assert.ok(done());
};
const crash = (error = new Error('boom')): HostExit => ({ kind: 'failed', phase: 'run', error });

describe('Supervisor', () => {
  it('restarts a crashed pipeline after a delay, and stops it on request', async () => {
    const { host, supervisor, moves } = supervised();
    supervisor.start();
    host.last.events.built();
    await supervisor.ready;
    host.last.exit(crash());
    await until(() => host.incarnations.length === 2);
    host.last.events.built();
    assert.equal(supervisor.state, 'running');
    assert.equal(supervisor.restarts(), 1);
    const stopped = supervisor.stop();
    assert.deepEqual(host.last.stops, [{}]);
    host.last.exit({ kind: 'stopped' });
    await stopped;
    assert.deepEqual(moves, [
      'created -start-> starting',
      'starting -built-> running',
      'running -failed:run-> restarting',
      'restarting -restart-due-> recovering',
      'recovering -built-> running',
      'running -stop-> stopping',
      'stopping -exited-> stopped',
    ]);
    const [record] = supervisor.restartRecords();
    assert.equal(record?.message, 'boom');
    assert.ok(record!.restartInMs !== null && record!.restartInMs >= 0);
  });

  it('fails at once, without a restart, when the first start cannot load or build', async () => {
    for (const phase of ['load', 'build'] as const) {
      const { host, supervisor, moves } = supervised({ restart: { initialDelayMs: 5_000 } });
      supervisor.start();
      const error = new SluiceError('PIPELINE_BUILD_FAILED', 'no such topic', { phase });
      host.last.exit({ kind: 'failed', phase, error });
      await assert.rejects(supervisor.done, error);
      await assert.rejects(supervisor.ready, error);
      assert.deepEqual(moves, ['created -start-> starting', `starting -failed:${phase}-> failed`]);
      assert.equal(host.incarnations.length, 1);
      assert.equal(supervisor.lastError, 'no such topic');
    }
  });

  it('keeps restarting when a rebuild after a failure fails, until the budget is spent', async () => {
    const { host, supervisor, moves } = supervised({ restart: { maxFailures: 2, initialDelayMs: 1, maxDelayMs: 1 } });
    supervisor.start();
    host.last.events.built();
    host.last.exit(crash());
    await until(() => host.incarnations.length === 2);
    host.last.exit({ kind: 'failed', phase: 'build', error: new Error('broker restarting') });
    await until(() => host.incarnations.length === 3);
    host.last.exit(crash(new Error('boom again')));
    await assert.rejects(supervisor.done, { code: 'PIPELINE_CRASH_LOOP', message: /failed 3 times.*boom again/ });
    assert.deepEqual(moves.slice(-3), [
      'restarting -restart-due-> recovering',
      'recovering -failed:run-> restarting',
      'restarting -budget-exhausted-> failed',
    ]);
    assert.ok(moves.includes('recovering -failed:build-> restarting'));
    assert.equal(supervisor.restartRecords().at(-1)!.restartInMs, null, 'no restart followed the last failure');
  });

  it('shares a budget between supervisors', async () => {
    const budget = new RestartBudget({ maxFailures: 1, initialDelayMs: 1 });
    const { supervisor: a, host: hostA } = supervised({ budget });
    const { supervisor: b, host: hostB } = supervised({ budget });
    a.start();
    b.start();
    hostA.last.events.built();
    hostB.last.events.built();
    hostA.last.exit(crash());
    hostB.last.exit(crash());
    await assert.rejects(b.done, { code: 'PIPELINE_CRASH_LOOP' });
    await a.stop();
  });

  it('fails on the first failure when told not to restart', async () => {
    const { host, supervisor } = supervised({ restart: false });
    supervisor.start();
    host.last.events.built();
    host.last.exit(crash());
    await assert.rejects(supervisor.done, { code: 'PIPELINE_FAILED', message: 'pipeline p failed: boom' });
  });

  it('stops without a new incarnation while a restart is pending', async () => {
    const { host, supervisor, moves } = supervised({ restart: { initialDelayMs: 60_000 } });
    supervisor.start();
    host.last.events.built();
    host.last.exit(crash());
    await tick();
    await supervisor.stop();
    assert.equal(supervisor.state, 'stopped');
    assert.equal(host.incarnations.length, 1);
    assert.equal(moves.at(-1), 'restarting -stop-> stopped');
  });

  it('stops an incarnation that is still starting; a failure while stopping ends it stopped', async () => {
    const { host, supervisor } = supervised();
    host.stopsAtOnce = false;
    supervisor.start();
    const stopped = supervisor.stop({ checkpoint: false });
    assert.equal(supervisor.state, 'stopping');
    assert.deepEqual(host.last.stops, [{ checkpoint: false }]);
    host.last.events.built();
    host.last.exit(crash());
    await stopped;
    assert.equal(supervisor.state as SupervisorState, 'stopped');
    await assert.rejects(supervisor.ready, { code: 'PIPELINE_STOPPED' });
  });

  it('finishes a bounded run that reached its end', async () => {
    const { host, supervisor } = supervised();
    supervisor.start();
    host.last.events.built();
    host.last.exit({ kind: 'finished' });
    await supervisor.done;
    assert.equal(supervisor.state, 'finished');
  });

  it("treats an incarnation that ends unasked as a failure, and shows the restarts in a worker's views", async () => {
    const { host, supervisor } = supervised();
    host.view = {
      name: 'p',
      metrics: () => ({ name: 'p', restarts: 0 }) as never,
      topology: () => ({ name: 'p', nodes: [], edges: [] }),
      sourcePositions: () => [],
      history: { snapshot: () => ({ checkpoints: [], restarts: [] }) },
    };
    supervisor.start();
    host.last.events.built();
    host.last.exit({ kind: 'stopped' });
    await until(() => host.incarnations.length === 2);
    host.last.events.built();
    const [view] = supervisor.views();
    assert.equal(view!.state, 'running');
    assert.equal(view!.host, 'worker-process');
    assert.equal(view!.metrics().restarts, 1);
    assert.match(view!.history.snapshot().restarts[0]!.message, /ended unasked/);
    await supervisor.stop();
  });

  it('resolves healthy once an incarnation says so', async () => {
    const { host, supervisor } = supervised();
    supervisor.start();
    host.last.events.built();
    host.last.events.healthy();
    await supervisor.healthy;
    await supervisor.stop();
  });
});
