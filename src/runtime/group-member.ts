// The group-member host: each incarnation is a member process of a consumer group (`sluice run --bootstrap …
// --parallelism 1`, forked with its arguments), which joins the group on the cluster holding the input and runs the
// partition tasks the group gives it (src/scale). It reads and writes through the cluster, not through this process:
// what passes between them is the worker protocol — built, its tasks' views, and why a first start failed. A stop is
// SIGTERM, which the member answers by handing its tasks over (a last checkpoint each) and leaving the group.
// connectToHost() is the member's end.
import { type ChildProcess, fork } from 'node:child_process';
import { SluiceError } from '../errors.ts';
import { childProcessPort, parentProcessPort } from './channel/ports.ts';
import {
  fromWireFailure,
  type HostEvents,
  type HostExit,
  type Incarnation,
  type PipelineHost,
  toWireFailure,
  type WireFailure,
} from './host.ts';
import { type FromWorkerMessage, hostEndpoint, workerEndpoint } from './protocol.ts';
import { type PipelineReport, reportView } from './view.ts';

/** Set in the environment of the members this host starts: they report to it (connectToHost). */
const SUPERVISED_MEMBER = 'SLUICE_SUPERVISED_MEMBER';

export interface GroupMemberHostOptions {
  /** The member's entry module (the CLI's main) and its arguments. */
  entry: string | URL;
  args: string[];
  /** The member's number among those of one run, in messages. */
  index: number;
}

export class GroupMemberHost implements PipelineHost {
  readonly kind = 'group-member';
  private readonly options: GroupMemberHostOptions;

  constructor(options: GroupMemberHostOptions) {
    this.options = options;
  }

  start(events: HostEvents): Incarnation {
    const { options } = this;
    const child: ChildProcess = fork(options.entry, options.args, {
      stdio: 'inherit',
      env: { ...process.env, [SUPERVISED_MEMBER]: '1' },
    });
    const member = hostEndpoint(childProcessPort(child));
    let reports: PipelineReport[] = [];
    let failure: WireFailure | undefined;
    let stopping = false;
    member.on({
      built: () => events.built(),
      healthy: () => events.healthy(),
      report: (message) => {
        reports = message.pipelines;
      },
      failed: (message) => {
        failure = message.error;
      },
    });
    const exited = (async (): Promise<HostExit> => {
      const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('exit', (c, s) => resolve({ code: c, signal: s }));
        child.once('error', () => resolve({ code: null, signal: null }));
      });
      reports = [];
      // Stopped as asked: it handed its tasks over, or the SIGTERM came before it could listen for it (starting).
      if (stopping && (code === 0 || signal === 'SIGTERM')) return { kind: 'stopped' };
      // A restarted member that could not rebuild told only this process why (it exits without a word).
      const context = {
        member: options.index,
        code,
        ...(failure ? { reason: `${failure.code}: ${failure.message}` } : {}),
      };
      if (failure && failure.phase !== 'run') {
        return { kind: 'failed', phase: failure.phase, error: fromWireFailure(failure), context };
      }
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const error = new SluiceError('MEMBER_EXITED', `member ${options.index} ${how}`);
      return { kind: 'failed', phase: 'run', error, context };
    })();
    return {
      exited,
      pid: child.pid,
      views: () => reports.map((report) => reportView(report)),
      stop() {
        stopping = true;
        child.kill('SIGTERM');
      },
      kill: () => child.kill('SIGKILL'),
    };
  }
}

/** A member's line to the host that started it (null when it was started by hand, or by no host). */
export interface HostLink {
  built(): void;
  report(pipelines: PipelineReport[]): void;
  /** Tells the host why this member is about to exit; resolves once the message is on its way. */
  failed(error: unknown): Promise<void>;
  /** Lets go of the channel (it would keep the member alive). */
  close(): void;
}

export function connectToHost(): HostLink | null {
  if (!process.env[SUPERVISED_MEMBER] || !process.connected || !process.send) return null;
  const host = workerEndpoint(parentProcessPort());
  return {
    built: () => host.send({ kind: 'built' }),
    report: (pipelines) => host.send({ kind: 'report', pipelines }),
    failed: (error) =>
      new Promise<void>((resolve) => {
        if (!process.connected) return resolve();
        const message: FromWorkerMessage = { kind: 'failed', error: toWireFailure(error, 'run') };
        process.send!(message, () => resolve());
      }),
    close: () => {
      if (process.connected) process.disconnect();
    },
  };
}
