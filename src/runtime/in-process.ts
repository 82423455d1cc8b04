// The in-process host: builds the pipeline in this process and runs it here (`sluice run`, `sluice dev`, a partition
// task inside a task thread or member process, a table loader). The instances rebuilt after failures share the
// first one's history, so the checkpoints and restarts before a failure stay on record.
import type { Pipeline, PipelineHistory, RestartRecord } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { HostEvents, HostExit, Incarnation, PipelineHost } from './host.ts';

export interface InProcessHostOptions {
  /**
   * Builds a fresh instance of the pipeline (`attempt` 0: the first), checkpoints enabled as wanted. Whatever it
   * throws is a build failure: final on the first start.
   */
  build: (attempt: number) => Promise<Pipeline>;
}

export class InProcessHost implements PipelineHost {
  readonly kind = 'in-process';
  private readonly options: InProcessHostOptions;
  private pipeline: Pipeline | undefined;
  private history: PipelineHistory | undefined;

  constructor(options: InProcessHostOptions) {
    this.options = options;
  }

  /** The latest instance built (after a failure: the one that failed, until it is rebuilt). */
  current(): Pipeline | undefined {
    return this.pipeline;
  }

  recordRestart(record: RestartRecord): void {
    this.history?.recordRestart(record);
  }

  start(events: HostEvents, attempt: number): Incarnation {
    let pipeline: Pipeline | undefined;
    let stopping: { checkpoint?: boolean } | undefined;
    let killed = false;
    const exited = (async (): Promise<HostExit> => {
      try {
        pipeline = await this.options.build(attempt);
      } catch (error) {
        return { kind: 'failed', phase: 'build', error: asError(error) };
      }
      this.pipeline = pipeline;
      if (this.history) pipeline.adoptHistory(this.history);
      else this.history = pipeline.history;
      if (stopping) return { kind: 'stopped' };
      const running = pipeline.run();
      events.built();
      events.healthy();
      try {
        await running;
      } catch (error) {
        return { kind: 'failed', phase: 'run', error: asError(error) };
      }
      if (killed)
        return {
          kind: 'failed',
          phase: 'run',
          error: new SluiceError('PIPELINE_FAILED', `pipeline ${pipeline.name} was killed`),
        };
      return stopping ? { kind: 'stopped' } : { kind: 'finished' };
    })();
    return {
      exited,
      views: () => (pipeline ? [pipeline] : []),
      stop(options = {}) {
        stopping = options;
        pipeline?.stop(options);
      },
      kill() {
        if (!pipeline || stopping) return false;
        killed = true;
        pipeline.stop({ checkpoint: false });
        return true;
      },
    };
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
