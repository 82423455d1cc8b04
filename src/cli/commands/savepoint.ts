// `sluice savepoint <pipeline>`: asks a running pipeline (`sluice run`, any process on this data directory) for a
// named snapshot of its state, and waits until the file is durable. Start from it with `--from-savepoint`. A pipeline
// that runs scaled out (`--group`, `--parallelism`) gets one savepoint per partition task, from whichever process
// runs each task; together they are the savepoint a rescaled run starts from. A pipeline that keeps its checkpoints
// in the log (`--checkpoint-store log`) is asked through the cluster instead (`--bootstrap`).

import path from 'node:path';
import type { Command } from 'commander';
import { connectKafkaLog } from '../../connectors/index.ts';
import { requestLogSavepoint, requestSavepoint } from '../../engine/index.ts';
import { taskDirs } from '../../scale/index.ts';
import { DEFAULTS, paint, positiveIntOption } from '../common.ts';
import { checkpointDir } from './run.ts';

interface SavepointFlags {
  dataDir: string;
  bootstrap?: string;
  name?: string;
  timeoutMs: number;
}

export function registerSavepoint(program: Command): void {
  program
    .command('savepoint <pipeline>')
    .description('take a named savepoint of a running pipeline (resume with sluice run --from-savepoint)')
    .option('--data-dir <dir>', 'the data directory the pipeline runs on', DEFAULTS.dataDir)
    .option('--name <name>', 'savepoint name (default: savepoint-<time>)')
    .option('--bootstrap <host:port>', 'the pipeline keeps its checkpoints in the log (--checkpoint-store log) there')
    .option('--timeout-ms <ms>', 'how long to wait for the pipeline', positiveIntOption, 60_000)
    .addHelpText(
      'after',
      `
Examples:
  $ sluice savepoint windowed-counts --name before-upgrade
  $ sluice run examples/windowed-counts.ts --from-savepoint before-upgrade
  $ sluice savepoint windowed-counts --name s1 --bootstrap kafka-1:9092    # checkpoints in the log`,
    )
    .action(async (pipeline: string, flags: SavepointFlags) => {
      const name = flags.name ?? `savepoint-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      if (flags.bootstrap !== undefined) {
        const log = await connectKafkaLog({ bootstrap: flags.bootstrap, clientId: 'sluice-savepoint' });
        try {
          const written = await requestLogSavepoint(log, pipeline, name, flags.timeoutMs);
          const where = written.length === 1 ? written[0] : `${written.length} tasks`;
          console.log(`${paint('bold', 'sluice savepoint')}: ${name} written to the log (${where})`);
        } finally {
          await log.close();
        }
        return;
      }
      const tasks = taskDirs(path.join(flags.dataDir, 'checkpoints'), pipeline);
      if (tasks.size > 0) {
        // Every task independently: tasks share no state, so their savepoints need no common barrier.
        await Promise.all([...tasks.values()].map((dir) => requestSavepoint(dir, name, flags.timeoutMs)));
        console.log(`${paint('bold', 'sluice savepoint')}: ${name} written for ${tasks.size} partition tasks`);
        return;
      }
      const file = await requestSavepoint(checkpointDir(flags.dataDir, pipeline), name, flags.timeoutMs);
      console.log(`${paint('bold', 'sluice savepoint')}: ${name} written to ${file}`);
    });
}
