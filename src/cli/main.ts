// The `sluice` command line: one subcommand per file under commands/, errors mapped to stable exit codes.
import { Command, CommanderError } from 'commander';
import { setLogLevel } from '../logger.ts';
import { registerBackfill } from './commands/backfill.ts';
import { registerBroker } from './commands/broker.ts';
import { registerConsume } from './commands/consume.ts';
import { registerDev } from './commands/dev.ts';
import { registerInit } from './commands/init.ts';
import { registerProduce } from './commands/produce.ts';
import { registerQuery } from './commands/query.ts';
import { registerReplay } from './commands/replay.ts';
import { registerRun } from './commands/run.ts';
import { registerSavepoint } from './commands/savepoint.ts';
import { registerServe } from './commands/serve.ts';
import { registerStatus } from './commands/status.ts';
import { registerTopics } from './commands/topics.ts';
import { registerUp } from './commands/up.ts';
import { describeFailure, EXIT, exitQuietlyWhenOutputCloses, outputHasClosed, paint } from './common.ts';
import { packageInfo } from './package-info.ts';

export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Sluice: a durable Kafka-compatible log, a streaming engine and a real-time SQL store')
    .version(packageInfo().version)
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (env SLUICE_LOG_LEVEL)', 'warn')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  program.hook('preAction', (command) => setLogLevel(command.opts().logLevel));
  registerInit(program);
  registerDev(program);
  registerBroker(program);
  registerRun(program);
  registerUp(program);
  registerStatus(program);
  registerReplay(program);
  registerBackfill(program);
  registerSavepoint(program);
  registerServe(program);
  registerQuery(program);
  registerTopics(program);
  registerProduce(program);
  registerConsume(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  exitQuietlyWhenOutputCloses();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    // A command may set its own exit code (`status` reports health through it).
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are successes; everything else commander reports is a usage error (already printed).
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    // A command cut short because its reader went away (`| head`) did what was asked of it.
    if (outputHasClosed()) return EXIT.OK;
    const { message, exitCode } = describeFailure(error);
    process.stderr.write(`${paint('red', 'error', process.stderr)} ${message}\n`);
    return exitCode;
  }
}

process.exitCode = await main(process.argv);
