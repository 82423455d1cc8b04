// `sluice dev`: everything embedded in one process, on the default ports, for a laptop.
import type { Command } from 'commander';
import { startBroker } from '../../kafka/index.ts';
import { openLog } from '../../log/index.ts';
import { DEFAULTS, paint, portOption, untilShutdownSignal } from '../common.ts';

interface DevFlags {
  dataDir: string;
  host: string;
  kafkaPort: number;
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run everything embedded in one process: the log, its Kafka listener and the demo')
    .option('--data-dir <dir>', 'where all state lives', DEFAULTS.dataDir)
    .option('--host <host>', 'interface to listen on', DEFAULTS.host)
    .option('--kafka-port <port>', 'Kafka protocol port', portOption, DEFAULTS.kafkaPort)
    .addHelpText('after', '\nExample:\n  $ npm start            # the same as: sluice dev')
    .action(async (flags: DevFlags) => {
      const log = await openLog({ dataDir: flags.dataDir });
      const broker = await startBroker({ log, host: flags.host, port: flags.kafkaPort, autoCreateTopics: true });
      console.log(`${paint('bold', 'sluice dev')} — data in ${log.dataDir}`);
      console.log(`  Kafka protocol   ${broker.address}   (try: kcat -b ${broker.address} -L)`);
      await untilShutdownSignal();
      await broker.close();
      await log.close();
    });
}
