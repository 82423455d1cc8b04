// Structured logging for every part of Sluice: one pino root, a child per component. Quiet by default in tests.
import { type Logger, pino } from 'pino';

export type { Logger };

const level = process.env.SLUICE_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'silent' : 'info');

const root: Logger = pino({ level, base: undefined }, pino.destination({ dest: 2, sync: false }));

/** A logger for one component, e.g. `createLogger('kafka.server')`. */
export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return root.child({ component, ...bindings });
}

/** Changes the level of every logger (the CLI's `--log-level`); SLUICE_LOG_LEVEL still wins when set. */
export function setLogLevel(newLevel: string): void {
  if (process.env.SLUICE_LOG_LEVEL === undefined) root.level = newLevel;
}
