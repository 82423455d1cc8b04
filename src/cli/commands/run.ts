// `sluice run <pipeline.ts>`: runs a pipeline file with the log embedded in this process and its Kafka listener
// open, so that any Kafka client can feed the pipeline's inputs and read its outputs — or, with `--bootstrap`,
// against a Kafka-protocol cluster instead (src/cli/run-log.ts). The pipeline checkpoints into
// `<data dir>/checkpoints/<pipeline name>`, resumes from there after a crash, and is restarted with backoff when
// it fails — but a file that does not load, or a definition that throws before the pipeline first ran, fails the
// command at once. It runs on the in-process host under the runtime's supervisor (src/runtime).
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import {
  applyTrigger,
  type CheckpointStorage,
  checkpointTopic,
  type Duration,
  LogCheckpointStore,
  type PipelineMetrics,
  toMillis,
} from '../../engine/index.ts';
import { SluiceError } from '../../errors.ts';
import { createLogger } from '../../logger.ts';
import { buildPipeline, InProcessHost, loadPipelineFile, Supervisor } from '../../runtime/index.ts';
import { explainSql, isExplain, pipelineNameOf } from '../../sql/index.ts';
import {
  advertisedHostOption,
  advertisedPortOption,
  DEFAULTS,
  paint,
  portOption,
  positiveIntOption,
  untilShutdownSignal,
} from '../common.ts';
import { openRunLog, type RunLogFlags } from '../run-log.ts';
import { runScaledOut } from '../scaled-run.ts';

interface RunFlags extends RunLogFlags {
  bounded?: boolean;
  explain?: boolean;
  checkpoints: boolean;
  checkpointInterval: string;
  fromSavepoint?: string;
  allowNonRestoredState?: boolean;
  group?: string;
  parallelism?: number;
  rebalance: boolean;
  sessionTimeout: string;
  trigger?: string;
  checkpointStore: 'dir' | 'log';
}

export function checkpointDir(dataDir: string, pipeline: string): string {
  return path.join(dataDir, 'checkpoints', pipeline);
}

export function registerRun(program: Command): void {
  program
    .command('run <pipeline>')
    .description('run a pipeline file with the log embedded and its Kafka listener open')
    .option('--data-dir <dir>', 'where the log and state live', DEFAULTS.dataDir)
    .option('--host <host>', 'interface for the Kafka listener', DEFAULTS.host)
    .option('--kafka-port <port>', 'Kafka protocol port (0 picks a free one)', portOption, DEFAULTS.kafkaPort)
    .addOption(advertisedHostOption())
    .addOption(advertisedPortOption())
    .option('--bounded', 'process what is in the log now, then exit (a batch run)')
    .option('--explain', 'print the operator graph of a .sql pipeline and exit (as EXPLAIN in the script does)')
    .option('--checkpoint-interval <duration>', 'period of checkpoints (e.g. 10s, 500ms; 0 = on demand only)', '10s')
    .option('--no-checkpoints', 'run without checkpoints (a crash replays from the start, at-least-once)')
    .option('--from-savepoint <name|file>', 'start from a savepoint (by name or file) instead of the latest checkpoint')
    .option('--allow-non-restored-state', 'start from a savepoint that has state for operators the pipeline lost')
    .option('--no-kafka', 'do not open the Kafka listener')
    .option('--bootstrap <host:port>', 'run against this Kafka-protocol cluster: no embedded log, no listener')
    .option('--group <id>', 'run scaled out as a member of this group: one task per input partition (docs/scale.md)')
    .option(
      '--parallelism <n>',
      'run the partition tasks in n threads (embedded log) or n member processes (--bootstrap, --group)',
      positiveIntOption,
    )
    .option('--no-rebalance', 'task threads keep their tasks: no moves to a thread with less backlog (docs/scale.md)')
    .option('--session-timeout <duration>', 'a scaled-out member silent this long loses its tasks', '10s')
    .option(
      '--trigger <duration>',
      'micro-batches instead of continuous processing: read, process and commit (a checkpoint) every <duration>, ' +
        "as Spark's processing-time trigger (docs/engine.md)",
    )
    .option(
      '--checkpoint-store <dir|log>',
      'keep checkpoints (and task leases) in the data directory, or in the log: a <pipeline>-checkpoints topic ' +
        'that members on hosts without a shared directory reach through --bootstrap (docs/scale.md)',
      checkpointStoreOption,
      'dir',
    )
    .option(
      '--http-port <port>',
      'HTTP API port (SQL, ingest, metrics; 0 picks a free one)',
      portOption,
      DEFAULTS.httpPort,
    )
    .option('--no-http', 'do not start the HTTP API')
    .option('--auth-token <token>', 'require this bearer token on HTTP (env SLUICE_AUTH_TOKEN)')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice run examples/windowed-counts.ts --data-dir /tmp/wc --kafka-port 19092
  $ sluice run examples/windowed-counts.ts --bounded
  $ sluice savepoint windowed-counts --name before-upgrade      # in another terminal
  $ sluice run examples/windowed-counts.ts --from-savepoint before-upgrade
  $ sluice run examples/windowed-counts.ts --parallelism 4                 # all cores: 4 task threads
  $ sluice run examples/windowed-counts.ts --trigger 1s                    # micro-batches every second
  $ sluice run examples/windowed-counts.ts --bootstrap kafka-1.internal:9092 --data-dir /var/lib/wc
  $ sluice run pipeline.sql --explain                                      # streaming SQL (docs/sql.md)`,
    )
    .action(async (file: string, flags: RunFlags, command: Command) => {
      if (/\.sql$/i.test(file)) {
        const text = await fs.readFile(file, 'utf8');
        if (flags.explain || (await isExplain(text))) {
          console.log(await explainSql(text, { name: pipelineNameOf(file) }));
          return;
        }
      } else if (flags.explain) {
        throw new SluiceError('USAGE', '--explain takes a .sql pipeline');
      }
      const define = await loadPipelineFile(file);
      const intervalMs = parseInterval(flags.checkpointInterval);
      const triggerMs = flags.trigger === undefined ? undefined : parseTrigger(flags.trigger);
      if (
        triggerMs !== undefined &&
        (flags.group !== undefined || flags.parallelism !== undefined || flags.bootstrap !== undefined || flags.bounded)
      ) {
        throw new SluiceError(
          'USAGE',
          '--trigger runs a streaming pipeline in one process on the embedded log: leave out --group, --parallelism, ' +
            '--bootstrap and --bounded',
        );
      }
      if (flags.group !== undefined || flags.parallelism !== undefined) {
        return runScaledOut(file, define, {
          ...flags,
          intervalMs,
          sessionTimeoutMs: parseDuration(flags.sessionTimeout),
        });
      }
      let supervisor: Supervisor | undefined;
      const target = await openRunLog(flags, command, () => supervisor?.views() ?? []);
      const { log, dataDir, store, http } = target;
      const logger = createLogger('run');
      const build = async (attempt: number) => {
        const first = attempt === 0;
        const pipeline = await buildPipeline(file, define, {
          log,
          bounded: flags.bounded ?? false,
          dataDir,
          serving: store,
        });
        if (flags.checkpoints) {
          const dir = checkpointDir(dataDir, pipeline.name);
          const storage: CheckpointStorage | undefined =
            flags.checkpointStore === 'log'
              ? new LogCheckpointStore({ log, topic: checkpointTopic(pipeline.name), scope: 'main', retain: 3, logger })
              : undefined;
          pipeline.enableCheckpoints({
            ...(storage ? { storage } : { dir }),
            // With a trigger, a checkpoint ends each micro-batch instead (applyTrigger).
            intervalMs: triggerMs === undefined ? intervalMs : 0,
            // A savepoint is where the first run starts; restarts resume from the newer checkpoints.
            restoreFrom:
              first && flags.fromSavepoint
                ? storage
                  ? { savepoint: flags.fromSavepoint }
                  : { file: savepointFile(dir, flags.fromSavepoint) }
                : 'latest',
            allowNonRestoredState: flags.allowNonRestoredState ?? false,
          });
        }
        if (triggerMs !== undefined) applyTrigger(pipeline, { interval: triggerMs, checkpoint: flags.checkpoints });
        if (first) {
          console.log(
            `${paint('bold', 'sluice run')}: pipeline ${pipeline.name} from ${file}` +
              (target.describe ? `; ${target.describe}` : '') +
              (http ? `; HTTP on ${paint('cyan', http.url)}` : '') +
              (triggerMs !== undefined ? `; micro-batches every ${triggerMs} ms` : '') +
              (flags.bounded ? ' (bounded)' : ' (Ctrl-C stops)'),
          );
        }
        return pipeline;
      };
      try {
        const host = new InProcessHost({ build });
        const run = new Supervisor({ host, name: 'pipeline', logger });
        supervisor = run.start();
        if (!flags.bounded) {
          const stopped = untilShutdownSignal().then(() => run.stop());
          await Promise.race([run.done, stopped]);
        }
        await run.done;
        const pipeline = host.current();
        if (pipeline) report(pipeline.metrics());
      } finally {
        await target.close();
      }
    });
}

function report(m: PipelineMetrics): void {
  const restored = m.checkpoints.restoredFrom ? `; restored from ${m.checkpoints.restoredFrom}` : '';
  console.log(
    `sluice run: stopped; ${m.operators.map((o) => `${o.name} ${o.recordsIn}`).join(', ')}; dead letters ${m.deadLetters}; ` +
      `checkpoints ${m.checkpoints.completed}${restored}`,
  );
}

function checkpointStoreOption(value: string): 'dir' | 'log' {
  if (value !== 'dir' && value !== 'log') {
    throw new SluiceError('USAGE', `--checkpoint-store is dir or log, not "${value}"`);
  }
  return value;
}

function parseDuration(value: string): number {
  return /^\d+$/.test(value) ? Number(value) : toMillis(value as Duration, '--session-timeout');
}

function parseTrigger(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : toMillis(value as Duration, '--trigger');
  if (ms === 0) throw new SluiceError('USAGE', '--trigger takes a duration > 0 (e.g. 1s)');
  return ms;
}

function parseInterval(value: string): number {
  if (value === '0') return 0;
  return /^\d+$/.test(value) ? Number(value) : toMillis(value as Duration, '--checkpoint-interval');
}

/** A savepoint given by name (in the pipeline's checkpoint directory) or by path. */
export function savepointFile(dir: string, nameOrFile: string): string {
  return nameOrFile.includes('/') || nameOrFile.endsWith('.ckpt')
    ? path.resolve(nameOrFile)
    : path.join(dir, 'savepoints', `${nameOrFile}.ckpt`);
}
