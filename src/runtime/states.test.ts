// The lifecycle table, checked whole: every legal move leads where the docs say (docs/orchestrate.md, "The runtime"),
// and every other pair of state and event throws.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import {
  EVENT_KEYS,
  type EventKey,
  nextState,
  SUPERVISOR_STATES,
  type SupervisorEvent,
  type SupervisorState,
  TRANSITIONS,
} from './states.ts';

const LEGAL: Record<SupervisorState, Partial<Record<EventKey, SupervisorState>>> = {
  created: { start: 'starting', stop: 'stopped' },
  starting: {
    built: 'running',
    'failed:load': 'failed',
    'failed:build': 'failed',
    'failed:run': 'restarting',
    finished: 'finished',
    stop: 'stopping',
  },
  running: {
    'failed:load': 'restarting',
    'failed:build': 'restarting',
    'failed:run': 'restarting',
    finished: 'finished',
    stop: 'stopping',
  },
  restarting: { 'restart-due': 'recovering', 'budget-exhausted': 'failed', stop: 'stopped' },
  recovering: {
    built: 'running',
    'failed:load': 'restarting',
    'failed:build': 'restarting',
    'failed:run': 'restarting',
    finished: 'finished',
    stop: 'stopping',
  },
  stopping: {
    built: 'stopping',
    exited: 'stopped',
    'failed:load': 'stopped',
    'failed:build': 'stopped',
    'failed:run': 'stopped',
    finished: 'finished',
    stop: 'stopping',
  },
  stopped: {},
  finished: {},
  failed: {},
};

function eventOf(key: EventKey): SupervisorEvent {
  const error = new Error('boom');
  if (key.startsWith('failed:')) return { type: 'failed', phase: key.slice(7) as 'load' | 'build' | 'run', error };
  if (key === 'budget-exhausted') return { type: key, error };
  return { type: key } as SupervisorEvent;
}

it('is the table the docs describe', () => {
  assert.deepEqual(TRANSITIONS, LEGAL);
});

it('takes every legal move and throws on every other', () => {
  let legal = 0;
  for (const state of SUPERVISOR_STATES) {
    for (const key of EVENT_KEYS) {
      const to = LEGAL[state][key];
      if (to !== undefined) {
        assert.equal(nextState(state, eventOf(key)), to, `${state} --${key}-->`);
        legal++;
      } else {
        assert.throws(() => nextState(state, eventOf(key)), {
          code: 'INTERNAL',
          message: new RegExp(`${state}.*${key}`),
        });
      }
    }
  }
  assert.equal(legal, 29);
});

it('makes a first start that cannot load or build final, and the same failure after a restart not', () => {
  for (const phase of ['load', 'build'] as const) {
    const event: SupervisorEvent = { type: 'failed', phase, error: new Error(phase) };
    assert.equal(nextState('starting', event), 'failed');
    assert.equal(nextState('recovering', event), 'restarting');
    assert.equal(nextState('running', event), 'restarting');
  }
  assert.equal(nextState('starting', { type: 'failed', phase: 'run', error: new Error('run') }), 'restarting');
});

it('ends in stopped, finished or failed, which take no event', () => {
  for (const state of ['stopped', 'finished', 'failed'] as const) {
    assert.equal(Object.keys(TRANSITIONS[state]).length, 0);
  }
});
