// `sluice run <pipeline.ts>`: runs a pipeline file with the log embedded in this process and its Kafka listener
// open, so that any Kafka client can feed the pipeline's inputs and read its outputs.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import type { PipelineDefinition } from '../../engine/index.ts';
import { SluiceError } from '../../errors.ts';
import { startBroker } from '../../kafka/index.ts';
import { openLog } from '../../log/index.ts';
import { DEFAULTS, paint, portOption, untilShutdownSignal } from '../common.ts';

interface RunFlags {
  dataDir: string;
  host: string;
  kafkaPort: number;
  bounded?: boolean;
}

export async function loadPipelineFile(file: string): Promise<PipelineDefinition> {
  const module = (await import(pathToFileURL(path.resolve(file)).href).catch((error: unknown) => {
    throw new SluiceError('INVALID_PIPELINE', `cannot load ${file}: ${(error as Error).message}`, { file });
  })) as { default?: unknown };
  if (typeof module.default !== 'function') {
    throw new SluiceError(
      'INVALID_PIPELINE',
      `${file} must export default definePipeline(({ log }) => ...) returning a Pipeline`,
      { file },
    );
  }
  return module.default as PipelineDefinition;
}

export function registerRun(program: Command): void {
  program
    .command('run <pipeline>')
    .description('run a pipeline file with the log embedded and its Kafka listener open')
    .option('--data-dir <dir>', 'where the log and state live', DEFAULTS.dataDir)
    .option('--host <host>', 'interface for the Kafka listener', DEFAULTS.host)
    .option('--kafka-port <port>', 'Kafka protocol port (0 picks a free one)', portOption, DEFAULTS.kafkaPort)
    .option('--bounded', 'process what is in the log now, then exit (a batch run)')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice run examples/windowed-counts.ts --data-dir /tmp/wc --kafka-port 19092
  $ sluice run examples/windowed-counts.ts --bounded`,
    )
    .action(async (file: string, flags: RunFlags) => {
      const define = await loadPipelineFile(file);
      const log = await openLog({ dataDir: flags.dataDir });
      const broker = await startBroker({ log, host: flags.host, port: flags.kafkaPort, autoCreateTopics: true });
      try {
        const pipeline = await define({ log, bounded: flags.bounded ?? false, dataDir: log.dataDir });
        console.log(
          `${paint('bold', 'sluice run')}: pipeline ${pipeline.name} from ${file}; Kafka protocol on ${paint('cyan', broker.address)}` +
            (flags.bounded ? ' (bounded)' : ' (Ctrl-C stops)'),
        );
        const running = pipeline.run();
        if (!flags.bounded) {
          const stopped = untilShutdownSignal().then(() => pipeline.stop());
          await Promise.race([running, stopped]);
        }
        await running;
        const m = pipeline.metrics();
        console.log(
          `sluice run: stopped; ${m.operators.map((o) => `${o.name} ${o.recordsIn}`).join(', ')}; dead letters ${m.deadLetters}`,
        );
      } finally {
        await broker.close();
        await log.close();
      }
    });
}
