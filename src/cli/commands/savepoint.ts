// `sluice savepoint <pipeline>`: asks a running pipeline (`sluice run`, any process on this data directory) for a
// named snapshot of its state, and waits until the file is durable. Start from it with `--from-savepoint`.
import type { Command } from 'commander';
import { requestSavepoint } from '../../engine/index.ts';
import { DEFAULTS, paint, positiveIntOption } from '../common.ts';
import { checkpointDir } from './run.ts';

interface SavepointFlags {
  dataDir: string;
  name?: string;
  timeoutMs: number;
}

export function registerSavepoint(program: Command): void {
  program
    .command('savepoint <pipeline>')
    .description('take a named savepoint of a running pipeline (resume with sluice run --from-savepoint)')
    .option('--data-dir <dir>', 'the data directory the pipeline runs on', DEFAULTS.dataDir)
    .option('--name <name>', 'savepoint name (default: savepoint-<time>)')
    .option('--timeout-ms <ms>', 'how long to wait for the pipeline', positiveIntOption, 60_000)
    .addHelpText(
      'after',
      `
Examples:
  $ sluice savepoint windowed-counts --name before-upgrade
  $ sluice run examples/windowed-counts.ts --from-savepoint before-upgrade`,
    )
    .action(async (pipeline: string, flags: SavepointFlags) => {
      const name = flags.name ?? `savepoint-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      const file = await requestSavepoint(checkpointDir(flags.dataDir, pipeline), name, flags.timeoutMs);
      console.log(`${paint('bold', 'sluice savepoint')}: ${name} written to ${file}`);
    });
}
