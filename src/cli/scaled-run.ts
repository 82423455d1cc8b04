// `sluice run --group/--parallelism`: a pipeline scaled out as one task per input partition (src/scale). On the
// embedded log, `--parallelism N` runs the tasks in N worker threads of this process, which keeps the log. Against a
// cluster (`--bootstrap`), or with `--group`, a member process joins the pipeline's group on the cluster holding its
// input and runs the tasks the group gives it, with checkpoints in the data directory's shared store; `--parallelism
// N` then starts N member processes, each on a group-member host under a supervisor (src/runtime) that restarts one
// that dies. Embedded with `--group`, this process also hosts the log and its broker, and the members (and members on
// other hosts) connect to it; the members report their tasks to it, for its HTTP API.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectKafkaLog } from '../connectors/index.ts';
import { logSavepointScopes, type PipelineDefinition, type PipelineLog, type PipelineView } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import { createLogger, type Logger } from '../logger.ts';
import { siblingModule } from '../modules.ts';
import { startViewLoaders, type ViewLoaders } from '../orchestrate/index.ts';
import {
  buildPipeline,
  connectToHost,
  GroupMemberHost,
  type HostLink,
  isStartupFailure,
  RestartBudget,
  reportOf,
  Supervisor,
  sleep,
} from '../runtime/index.ts';
import {
  inspectPipeline,
  joinTaskGroup,
  requireTaskSavepoints,
  startTaskThreads,
  TaskRunner,
  type TaskThreads,
} from '../scale/index.ts';
import { pipelineNameOf, scriptViewTables } from '../sql/index.ts';
import { describeFailure, paint, untilShutdownSignal } from './common.ts';
import { openEmbedded } from './run-log.ts';
import { type HttpFlags, openServing } from './services.ts';

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
  /** `log`: checkpoints and leases in the `<pipeline>-checkpoints` topic, no shared directory needed. */
  checkpointStore?: 'dir' | 'log';
}

/** Every task must have the savepoint in the log, or the rescaled run would start some tasks from scratch. */
async function requireLogSavepoints(log: PipelineLog, pipeline: string, partitions: number, name: string) {
  const found = new Set((await logSavepointScopes(log, pipeline, name)).with);
  const missing: number[] = [];
  for (let p = 0; p < partitions; p++) if (!found.has(`p${String(p).padStart(4, '0')}`)) missing.push(p);
  if (missing.length > 0) {
    throw new SluiceError(
      'SAVEPOINT_NOT_FOUND',
      `savepoint "${name}" of pipeline ${pipeline} is missing in the log for task(s) ${missing.join(', ')}`,
      { missing },
    );
  }
}

/** How often a member started by a host (`--parallelism`) reports its tasks' views to it. */
const REPORT_MS = 1000;

/**
 * One member of the group: runs its share of the tasks until SIGINT/SIGTERM (then hands them over cleanly). `link`:
 * the host that started it, told when its first tasks are built and shown their views.
 */
export async function runMember(options: MemberOptions, link: HostLink | null = null): Promise<void> {
  const build = () =>
    buildPipeline(options.file, options.define, { log: options.log, bounded: false, dataDir: options.dataDir });
  const { name, topics, partitions } = await inspectPipeline(build, options.log);
  const checkpointRoot = path.join(options.dataDir, 'checkpoints');
  const inLog = options.checkpointStore === 'log';
  if (options.fromSavepoint !== undefined) {
    if (inLog) await requireLogSavepoints(options.log, name, partitions, options.fromSavepoint);
    else requireTaskSavepoints(checkpointRoot, name, partitions, options.fromSavepoint);
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
    ...(inLog
      ? {
          checkpointStore: 'log' as const,
          log: options.log,
          partitions,
          // A member silent this long has lost its tasks in the group too: its lease goes with them.
          leaseMs: options.sessionTimeoutMs ?? 10_000,
        }
      : {}),
  });
  const group = options.group ?? name;
  let assignedOnce = false;
  const membership = await joinTaskGroup({
    bootstrap: options.bootstrap,
    group,
    topics,
    onAssign: (owned) => {
      const first = !assignedOnce;
      assignedOnce = true;
      runner.assign(owned).then(
        () => {
          console.log(`sluice run: ${name} tasks [${owned.join(',')}] of ${partitions}`);
          // Built once its first tasks are: a first start that cannot build them fails before, for good.
          if (first && link) void runner.built().then(() => runner.failed === undefined && link.built());
        },
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
  const report = link
    ? setInterval(() => {
        link.report([...runner.pipelines()].map(([partition, pipeline]) => reportOf(pipeline, partition)));
      }, REPORT_MS)
    : undefined;
  try {
    while (!stop.signal.aborted && runner.failed === undefined) await sleep(200, stop.signal);
  } finally {
    clearInterval(report);
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

export interface SupervisedMembers {
  /** Settles once every member has stopped: rejects with why, when one could not start or they crashed in a loop. */
  done: Promise<void>;
  /** The tasks the members run, as they last reported them (for this process's HTTP API). */
  views(): PipelineView[];
  stop(): Promise<void>;
}

/**
 * Starts `count` member processes, each on a group-member host under its own supervisor, all sharing one restart
 * budget: one that dies is restarted with backoff (its tasks move to the others meanwhile); a crash loop, or a member
 * whose first start could not load the file or build the pipeline (the others would fail alike), stops them all.
 */
export function startMembers({ count, args, logger = createLogger('run') }: SpawnMembersOptions): SupervisedMembers {
  const main = fileURLToPath(siblingModule(import.meta.url, 'main'));
  const budget = new RestartBudget({ maxFailures: 5 * count });
  const supervisors = Array.from(
    { length: count },
    (_, index) =>
      new Supervisor({
        host: new GroupMemberHost({ entry: main, args: ['run', ...args], index }),
        name: `member ${index}`,
        budget,
        logger,
        restartMessage: 'member exited; restarting it',
      }),
  );
  let failure: unknown;
  // Stopping, on a signal or because one member gave up, stops every member (gracefully: it hands its tasks over).
  const stop = async () => {
    await Promise.all(supervisors.map((s) => s.stop()));
  };
  for (const supervisor of supervisors) {
    supervisor.done.catch((error: unknown) => {
      failure ??= error;
      void stop();
    });
    supervisor.start();
  }
  const done = Promise.allSettled(supervisors.map((s) => s.done)).then(() => {
    if (failure !== undefined) throw failure;
  });
  return { done, views: () => supervisors.flatMap((s) => s.views()), stop };
}

/** Runs `count` supervised member processes (startMembers) until SIGINT/SIGTERM or until they give up. */
export async function superviseMembers(options: SpawnMembersOptions & { members?: (m: SupervisedMembers) => void }) {
  const members = startMembers(options);
  options.members?.(members);
  await Promise.race([untilShutdownSignal(), members.done.catch(() => {})]);
  await members.stop();
  await members.done;
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
  checkpointStore?: 'dir' | 'log';
}

/** Embedded `--parallelism N`: this process keeps the log (and its listener, HTTP) and N task threads run the tasks. */
async function runThreads(file: string, define: PipelineDefinition, flags: ScaledOutFlags, count: number) {
  let threads: TaskThreads | undefined;
  let views: ViewLoaders | undefined;
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
    // The views' tables: the tasks write each view's changelog topic, this process loads it (it has the store).
    views = await startViewLoaders({
      file,
      log: host.log,
      store: host.store,
      dataDir: host.dataDir,
      logger: createLogger('run'),
    });
    // One promise for both waits: a signal while the threads start must also end the second one.
    const shutdown = untilShutdownSignal();
    await Promise.race([threads.started, shutdown]);
    for (const [i, tasks] of assignment.entries()) console.log(`sluice run: thread ${i} tasks [${tasks.join(',')}]`);
    await Promise.race([shutdown, threads.done.catch(() => {})]);
    await threads.stop();
    await threads.done;
  } finally {
    await stopViewLoaders(views);
    await host.close();
  }
}

/** Lets the view loaders load what the tasks committed last (their last checkpoints), then stops them. */
async function stopViewLoaders(views: ViewLoaders | undefined): Promise<void> {
  if (!views) return;
  await views.settle(VIEW_SETTLE_MS);
  await views.stop();
}

/** How long a stopping run waits for its view loaders to load the tasks' last results. */
const VIEW_SETTLE_MS = 5000;

/** Whether the pipeline file is a SQL script with materialized views (whose tables a serving process loads). */
async function hasViews(file: string): Promise<boolean> {
  if (!/\.sql$/i.test(file)) return false;
  return (await scriptViewTables(await fs.readFile(file, 'utf8'), pipelineNameOf(file))).length > 0;
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
    '--checkpoint-store',
    flags.checkpointStore ?? 'dir',
    '--no-http',
    ...(flags.fromSavepoint === undefined ? [] : ['--from-savepoint', flags.fromSavepoint]),
    ...(flags.allowNonRestoredState ? ['--allow-non-restored-state'] : []),
  ];
  if (flags.bootstrap !== undefined && count === 1) {
    // Started by `--parallelism`: the host that started it hears how its start went, and its tasks' views.
    const link = connectToHost();
    const log = await connectKafkaLog({ bootstrap: flags.bootstrap, clientId: `sluice-member-${process.pid}` });
    try {
      await runMember(
        {
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
          checkpointStore: flags.checkpointStore,
        },
        link,
      );
    } catch (error) {
      // Started by `--parallelism`: the supervisor reports it once, for every member, and stops the others.
      if (link && isStartupFailure(error)) {
        await link.failed(error);
        process.exitCode = describeFailure(error).exitCode;
        return;
      }
      throw error;
    } finally {
      await log.close();
      // A member started by `--parallelism` has its supervisor's IPC channel open, which would keep it alive.
      link?.close();
    }
    return;
  }
  if (flags.bootstrap !== undefined) {
    // A cluster that does not answer fails here, once, rather than every member in a restart loop.
    const log = await connectKafkaLog({ bootstrap: flags.bootstrap, clientId: 'sluice-run' });
    if (!(await hasViews(file))) {
      await log.close();
      console.log(`${paint('bold', 'sluice run')}: ${count} member processes of ${file} on ${flags.bootstrap}`);
      await superviseMembers({ count, args: memberArgs(flags.bootstrap) });
      return;
    }
    // A script with materialized views: this process serves their tables (a serving store and the HTTP API in the
    // data directory), loading each from the changelog topic the members write on the cluster.
    let members: SupervisedMembers | undefined;
    let views: ViewLoaders | undefined;
    let serving: Awaited<ReturnType<typeof openServing>> | undefined;
    try {
      const dataDir = path.resolve(flags.dataDir);
      serving = await openServing(dataDir, log, flags, () => members?.views() ?? []);
      views = await startViewLoaders({ file, log, store: serving.store, dataDir, logger: createLogger('run') });
      console.log(
        `${paint('bold', 'sluice run')}: ${count} member processes of ${file} on ${flags.bootstrap}` +
          (serving.http ? `; HTTP on ${paint('cyan', serving.http.url)}` : ''),
      );
      await superviseMembers({
        count,
        args: memberArgs(flags.bootstrap),
        members: (m) => {
          members = m;
        },
      });
    } finally {
      await stopViewLoaders(views);
      await serving?.close();
      await log.close();
    }
    return;
  }
  if (flags.group === undefined) {
    if (flags.checkpointStore === 'log') {
      throw new SluiceError(
        'USAGE',
        'task threads keep their checkpoints in the data directory: --checkpoint-store log is for members ' +
          '(--bootstrap or --group)',
      );
    }
    await runThreads(file, define, flags, count);
    return;
  }
  // Embedded with a group: this process owns the log; the members reach it through its broker, as members on other
  // hosts would (they may join the same group).
  let members: SupervisedMembers | undefined;
  let views: ViewLoaders | undefined;
  const host = await openEmbedded({ ...flags, kafka: true }, () => members?.views() ?? []);
  try {
    // The members write each view's changelog topic to this log; this process loads it (it has the store).
    views = await startViewLoaders({
      file,
      log: host.log,
      store: host.store,
      dataDir: host.dataDir,
      logger: createLogger('run'),
    });
    console.log(
      `${paint('bold', 'sluice run')}: ${count} member processes of ${file}; ${host.describe}` +
        (host.http ? `; HTTP on ${paint('cyan', host.http.url)}` : ''),
    );
    await superviseMembers({
      count,
      args: memberArgs(host.bootstrap!),
      members: (m) => {
        members = m;
      },
    });
  } finally {
    await stopViewLoaders(views);
    await host.close();
  }
}
