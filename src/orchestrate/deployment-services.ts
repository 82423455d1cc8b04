// The deployment's services (long-running functions, e.g. the demo's producers): each runs in this process under a
// supervisor (src/runtime) until the deployment stops, and is restarted with backoff when it throws — the same
// lifecycle and restart policy as a pipeline, with the function for a host.
import type { Log } from '../log/index.ts';
import type { Logger } from '../logger.ts';
import { type HostExit, type Incarnation, type PipelineHost, Supervisor } from '../runtime/index.ts';
import type { ServiceFunction } from './spec.ts';

/** A service as a host: each incarnation calls the function, which runs until its signal aborts. */
class ServiceHost implements PipelineHost {
  readonly kind = 'in-process';
  private readonly run: ServiceFunction;
  private readonly log: Log;

  constructor(run: ServiceFunction, log: Log) {
    this.run = run;
    this.log = log;
  }

  start(events: { built(): void; healthy(): void }): Incarnation {
    const stop = new AbortController();
    const { signal } = stop;
    const exited = (async (): Promise<HostExit> => {
      events.built();
      events.healthy();
      try {
        await this.run({ log: this.log, signal });
        // A service that returns has done its work: it counts as running until the deployment stops.
        if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        return { kind: 'stopped' };
      } catch (error) {
        if (signal.aborted) return { kind: 'stopped' };
        return { kind: 'failed', phase: 'run', error: error instanceof Error ? error : new Error(String(error)) };
      }
    })();
    return {
      exited,
      views: () => [],
      stop: () => stop.abort(),
      kill: () => {
        stop.abort();
        return true;
      },
    };
  }
}

export class DeploymentServices {
  private readonly services = new Map<string, Supervisor>();
  private readonly log: Log;
  private readonly logger: Logger;

  constructor(log: Log, logger: Logger) {
    this.log = log;
    this.logger = logger;
  }

  start(name: string, run: ServiceFunction): void {
    const supervisor = new Supervisor({
      host: new ServiceHost(run, this.log),
      name: `service ${name}`,
      restart: { initialDelayMs: 500 },
      logger: this.logger,
      restartMessage: 'service failed; restarting',
    });
    supervisor.done.catch((error: unknown) => this.logger.error({ service: name, err: error }, 'service given up on'));
    this.services.set(name, supervisor.start());
  }

  status(): { name: string; state: string; restarts: number; lastError?: string }[] {
    return [...this.services].map(([name, s]) => ({
      name,
      state: s.state,
      restarts: s.restarts(),
      ...(s.lastError ? { lastError: s.lastError } : {}),
    }));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => s.stop()));
  }
}
