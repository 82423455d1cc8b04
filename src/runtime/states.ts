// A supervised pipeline's lifecycle as one table: its states, the events that move it, and where each event leads.
// The supervisor (supervisor.ts) fires the events and acts on entering a state; nothing else changes a state. An
// event the table does not list for the current state is a bug in whoever fired it, and throws.
import { SluiceError } from '../errors.ts';

export const SUPERVISOR_STATES = [
  'created',
  'starting',
  'running',
  'restarting',
  'recovering',
  'stopping',
  'stopped',
  'finished',
  'failed',
] as const;
export type SupervisorState = (typeof SUPERVISOR_STATES)[number];

/** Where a pipeline failed: loading its file, building it (its definition threw), or running it. */
export type FailurePhase = 'load' | 'build' | 'run';

export type SupervisorEvent =
  /** Start the first incarnation. */
  | { type: 'start' }
  /** The incarnation built its pipeline and runs it (what "built" means per host: host.ts). */
  | { type: 'built' }
  /** The incarnation failed; the phase decides whether a first start is final. */
  | { type: 'failed'; phase: FailurePhase; error: Error; context?: Record<string, unknown> }
  /** The incarnation ended by itself at the end of its (bounded) input. */
  | { type: 'finished' }
  /** The incarnation ended as asked (after `stop`). */
  | { type: 'exited' }
  /** Stop requested: the incarnation is asked to stop gracefully (a last checkpoint). */
  | { type: 'stop' }
  /** The backoff delay after a failure is over: start the next incarnation. */
  | { type: 'restart-due' }
  /** Too many failures within the policy's window (or a policy that restarts nothing): give up. */
  | { type: 'budget-exhausted'; error: Error };

/** An event as the table knows it: a failure by its phase. */
export type EventKey = Exclude<SupervisorEvent['type'], 'failed'> | `failed:${FailurePhase}`;

export const EVENT_KEYS: readonly EventKey[] = [
  'start',
  'built',
  'failed:load',
  'failed:build',
  'failed:run',
  'finished',
  'exited',
  'stop',
  'restart-due',
  'budget-exhausted',
];

/**
 * Every legal move. `starting` is the first incarnation: a failure to load the file or build the pipeline there is
 * final (the same definition would fail the same way); `recovering` is an incarnation after a failure, where the
 * same failure may be a passing trouble (a broker restarting) and is restarted under the policy.
 */
export const TRANSITIONS = {
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
  // Stopping: the incarnation finishes its last checkpoint; however it ends, it is stopped (a failure is logged).
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
} as const satisfies Record<SupervisorState, Partial<Record<EventKey, SupervisorState>>>;

export function eventKey(event: SupervisorEvent): EventKey {
  return event.type === 'failed' ? `failed:${event.phase}` : event.type;
}

/** The state `event` leads to from `state`; throws (INTERNAL: a bug in the caller) when the table has no such move. */
export function nextState(state: SupervisorState, event: SupervisorEvent): SupervisorState {
  const key = eventKey(event);
  const to = (TRANSITIONS[state] as Partial<Record<EventKey, SupervisorState>>)[key];
  if (to === undefined) {
    throw new SluiceError('INTERNAL', `a supervised pipeline in state ${state} cannot take event ${key}`, {
      state,
      event: key,
    });
  }
  return to;
}

/** States a supervisor never leaves. */
export function isFinal(state: SupervisorState): boolean {
  return state === 'stopped' || state === 'finished' || state === 'failed';
}
