// `sluice run --group/--parallelism`: a pipeline scaled out as one task per input partition (src/scale). On the
// embedded log, `--parallelism N` runs the tasks in N worker threads of this process, which keeps the log. Against a
// cluster (`--bootstrap`), or with `--group`, a member process joins the pipeline's group on the cluster holding its
// input and runs the tasks the group gives it, with checkpoints in the data directory's shared store; `--parallelism
// N` then starts N member processes and restarts any that dies. Embedded with `--group`, this process also hosts the
// log and its broker, and the members (and members on other hosts) connect to it.
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectKafkaLog } from '../connectors/index.ts';
import { type PipelineDefinition, type PipelineLog, RestartBudget, sleep } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import { createLogger, type Logger } from '../logger.ts';
import { siblingModule } from '../modules.ts';
import { buildPipeline, isStartupFailure } from '../orchestrate/index.ts';
import {
  inspectPipeline,
  joinTaskGroup,
  requireTaskSavepoints,
  startTaskThreads,
  TaskRunner,
  type TaskThreads,
} from '../scale/index.ts';
import { describeFailure, paint, untilShutdownSignal } from './common.ts';
import { openEmbedded } from './run-log.ts';
import type { HttpFlags } from './services.ts';

export interface MemberOptions {
  file: string;
  define: PipelineDefinition;
  log: PipelineLog;
  bootstrap: string;
  group?: string;
  dataDir: string;
  intervalMs: number;
  fromSavepoint?: string;
  allowNonRestoredState?: boolean;
  sessionTimeoutMs?: number;
}

/** One member of the group: runs its share of the tasks until SIGINT/SIGTERM (then hands them over cleanly). */
export async function runMember(options: MemberOptions): Promise<void> {
  const build = () =>
    buildPipeline(options.file, options.define, { log: options.log, bounded: false, dataDir: options.dataDir });
  const { name, topics, partitions } = await inspectPipeline(build, options.log);
  const checkpointRoot = path.join(options.dataDir, 'checkpoints');
  if (options.fromSavepoint !== undefined) {
    requireTaskSavepoints(checkpointRoot, name, partitions, options.fromSavepoint);
  }
  const logger = createLogger('run', { pipeline: name, member: process.pid });
  const runner = new TaskRunner({
    define: build,
    pipeline: name,
    checkpointRoot,
    intervalMs: options.intervalMs,
    fromSavepoint: options.fromSavepoint,
    allowNonRestoredState: options.allowNonRestoredState,
    logger,
  });
  const group = options.group ?? name;
  const membership = await joinTaskGroup({
    bootstrap: options.bootstrap,
    group,
    topics,
    onAssign: (owned) => {
      runner.assign(owned).then(
        () => console.log(`sluice run: ${name} tasks [${owned.join(',')}] of ${partitions}`),
        (error: unknown) => logger.error({ err: error }, 'task reassignment failed'),
      );
    },
    sessionTimeoutMs: options.sessionTimeoutMs,
    logger,
  });
  console.log(
    `${paint('bold', 'sluice run')}: pipeline ${name} from ${options.file}, member of group ${group} on ` +
      `${paint('cyan', options.bootstrap)} (${partitions} partition tasks; Ctrl-C hands them over)`,
  );
  const stop = new AbortController();
  void untilShutdownSignal().then(() => stop.abort());
  // Started by `--parallelism`: a member does not outlive its supervisor (killed, it cannot pass the signal on).
  if (process.send) process.once('disconnect', () => stop.abort());
  try {
    while (!stop.signal.aborted && runner.failed === undefined) await sleep(200, stop.signal);
  } finally {
    // Tasks first (a last checkpoint each, leases released), then the group: the partitions' next owners start at
    // once from those checkpoints.
    await runner.close();
    logger.debug('tasks stopped');
    await membership.leave();
  }
  if (runner.failed !== undefined) throw runner.failed;
}

export interface SpawnMembersOptions {
  count: number;
  /** The arguments of `sluice run` for one member (file, --bootstrap, --group, --data-dir, ...). */
  args: string[];
  logger?: Logger;
}

/** What a member started by superviseMembers tells it before exiting when it could not load or build the pipeline. */
interface MemberStartupFailure {
  kind: 'sluice-member-startup-failed';
  error: { code: string; message: string };
}

/** Set in the environment of the members superviseMembers starts. */
const SUPERVISED_MEMBER = 'SLUICE_SUPERVISED_MEMBER';

/**
 * Runs `count` member processes until SIGINT/SIGTERM, restarting one that dies (its tasks move to the others
 * meanwhile) with backoff, and giving up — stopping the rest — when they crash in a loop, or at once when a member's
 * first start could not load the file or build the pipeline (the others would fail alike).
 */
export async function superviseMembers({
  count,
  args,
  logger = createLogger('run'),
}: SpawnMembersOptions): Promise<void> {
  const main = fileURLToPath(siblingModule(import.meta.url, 'main'));
  const stop = new AbortController();
  const children = new Set<ChildProcess>();
  const budget = new RestartBudget({ maxFailures: 5 * count });
  let failure: unknown;
  const member = async (index: number) => {
    for (let incarnation = 0; !stop.signal.aborted; incarnation++) {
      const child = fork(main, ['run', ...args], {
        stdio: 'inherit',
        env: { ...process.env, [SUPERVISED_MEMBER]: '1' },
      });
      children.add(child);
      let startup: MemberStartupFailure['error'] | undefined;
      child.on('message', (message: MemberStartupFailure) => {
        if (message?.kind === 'sluice-member-startup-failed') startup = message.error;
      });
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      children.delete(child);
      if (stop.signal.aborted) return;
      // A restarted member may meet a passing trouble rebuilding; a first start that fails would fail every time.
      if (startup && incarnation === 0) {
        failure ??= new SluiceError(startup.code, startup.message, { phase: 'build', member: index });
        stop.abort();
        return;
      }
      const error = new SluiceError('MEMBER_EXITED', `member ${index} exited with code ${code}`);
      let delay: number;
      try {
        delay = budget.failed(error, `member ${index}`);
      } catch (given) {
        failure = given;
        stop.abort();
        return;
      }
      // A restarted member that could not rebuild told only this process why (it exits without a word).
      const why = startup ? { reason: `${startup.code}: ${startup.message}` } : {};
      logger.error({ member: index, code, ...why, restartInMs: Math.round(delay) }, 'member exited; restarting it');
      await sleep(delay, stop.signal);
    }
  };
  // Stopping, on a signal or because one member gave up, stops every member (gracefully: it hands its tasks over).
  stop.signal.addEventListener('abort', () => {
    for (const child of children) child.kill('SIGTERM');
  });
  const running = Promise.all(Array.from({ length: count }, (_, i) => member(i)));
  await Promise.race([untilShutdownSignal(), running]);
  stop.abort();
  await running;
  if (failure !== undefined) throw failure;
}

export interface ScaledOutFlags extends HttpFlags {
  dataDir: string;
  kafkaPort: number;
  kafka: boolean;
  bootstrap?: string;
  group?: string;
  parallelism?: number;
  /** Task threads may move tasks to a thread with less backlog (default true; `--no-rebalance`). */
  rebalance?: boolean;
  bounded?: boolean;
  checkpointInterval: string;
  intervalMs: number;
  sessionTimeout: string;
  sessionTimeoutMs: number;
  fromSavepoint?: string;
  allowNonRestoredState?: boolean;
}

/** Embedded `--parallelism N`: this process keeps the log (and its listener, HTTP) and N task threads run the tasks. */
async function runThreads(file: string, define: PipelineDefinition, flags: ScaledOutFlags, count: number) {
  let threads: TaskThreads | undefined;
  const host = await openEmbedded(flags, () => threads?.views() ?? []);
  try {
    threads = await startTaskThreads({
      file,
      define,
      log: host.log,
      dataDir: host.dataDir,
      parallelism: count,
      intervalMs: flags.intervalMs,
      fromSavepoint: flags.fromSavepoint,
      allowNonRestoredState: flags.allowNonRestoredState,
      rebalance: flags.rebalance !== false,
    });
    const { shape, assignment } = threads;
    console.log(
      `${paint('bold', 'sluice run')}: pipeline ${shape.name} from ${file} in ${assignment.length} threads ` +
        `(${shape.partitions} partition tasks)` +
        (host.describe ? `; ${host.describe}` : '') +
        (host.http ? `; HTTP on ${paint('cyan', host.http.url)}` : '') +
        ' (Ctrl-C stops)',
    );
    await Promise.race([threads.started, untilShutdownSignal()]);
    for (const [i, tasks] of assignment.entries()) console.log(`sluice run: thread ${i} tasks [${tasks.join(',')}]`);
    await Promise.race([untilShutdownSignal(), threads.done.catch(() => {})]);
    await threads.stop();
    await threads.done;
  } finally {
    await host.close();
  }
}

/**
 * `sluice run --group/--parallelism`: one member here (`--bootstrap`, parallelism 1), or N supervised member
 * processes — reading from `--bootstrap`, or from the log this process then hosts with its broker (and HTTP API).
 */
export async function runScaledOut(file: string, define: PipelineDefinition, flags: ScaledOutFlags): Promise<void> {
  if (flags.bounded) {
    throw new SluiceError('INVALID_ARGUMENT', '--bounded runs in one process: leave out --group and --parallelism');
  }
  const count = flags.parallelism ?? 1;
  const memberArgs = (bootstrap: string) => [
    file,
    '--bootstrap',
    bootstrap,
    // One member each (the group defaults to the pipeline's name, which only the member learns).
    '--parallelism',
    '1',
    ...(flags.group === undefined ? [] : ['--group', flags.group]),
    '--data-dir',
    flags.dataDir,
    '--checkpoint-interval',
    flags.checkpointInterval,
    '--session-timeout',
    flags.sessionTimeout,
    '--no-http',
    ...(flags.fromSavepoint === undefined ? [] : ['--from-savepoint', flags.fromSavepoint]),
    ...(flags.allowNonRestoredState ? ['--allow-non-restored-state'] : []),
  ];
  if (flags.bootstrap !== undefined && count === 1) {
    const log = await connectKafkaLog({ bootstrap: flags.bootstrap, clientId: `sluice-member-${process.pid}` });
    try {
      await runMember({
        file,
        define,
        log,
        bootstrap: flags.bootstrap,
        group: flags.group,
        dataDir: flags.dataDir,
        intervalMs: flags.intervalMs,
        fromSavepoint: flags.fromSavepoint,
        allowNonRestoredState: flags.allowNonRestoredState,
        sessionTimeoutMs: flags.sessionTimeoutMs,
      });
    } catch (error) {
      // Started by `--parallelism`: the supervisor reports it once, for every member, and stops the others.
      if (process.env[SUPERVISED_MEMBER] && process.connected && isStartupFailure(error)) {
        const { code, message } = error as SluiceError;
        const report: MemberStartupFailure = { kind: 'sluice-member-startup-failed', error: { code, message } };
        await new Promise<void>((resolve) => process.send!(report, () => resolve()));
        process.exitCode = describeFailure(error).exitCode;
        return;
      }
      throw error;
    } finally {
      await log.close();
      // A member started by `--parallelism` has its supervisor's IPC channel open, which would keep it alive.
      if (process.connected) process.disconnect();
    }
    return;
  }
  if (flags.bootstrap !== undefined) {
    // A cluster that does not answer fails here, once, rather than every member in a restart loop.
    await (await connectKafkaLog({ bootstrap: flags.bootstrap, clientId: 'sluice-run' })).close();
    console.log(`${paint('bold', 'sluice run')}: ${count} member processes of ${file} on ${flags.bootstrap}`);
    await superviseMembers({ count, args: memberArgs(flags.bootstrap) });
    return;
  }
  if (flags.group === undefined) {
    await runThreads(file, define, flags, count);
    return;
  }
  // Embedded with a group: this process owns the log; the members reach it through its broker, as members on other
  // hosts would (they may join the same group).
  const host = await openEmbedded({ ...flags, kafka: true }, () => []);
  try {
    console.log(
      `${paint('bold', 'sluice run')}: ${count} member processes of ${file}; ${host.describe}` +
        (host.http ? `; HTTP on ${paint('cyan', host.http.url)}` : ''),
    );
    await superviseMembers({ count, args: memberArgs(host.bootstrap!) });
  } finally {
    await host.close();
  }
}
