// `sluice broker`: the durable log behind its Kafka-protocol listener, and nothing else.
import type { Command } from 'commander';
import { startBroker } from '../../kafka/index.ts';
import { openLog } from '../../log/index.ts';
import {
  type AdvertisedFlags,
  advertisedHostOption,
  advertisedOf,
  advertisedPortOption,
  DEFAULTS,
  listenerAddress,
  paint,
  portOption,
  positiveIntOption,
  untilShutdownSignal,
} from '../common.ts';

interface BrokerFlags extends AdvertisedFlags {
  dataDir: string;
  host: string;
  kafkaPort: number;
  autoCreateTopics: boolean;
  defaultPartitions: number;
  fsync: string;
}

export function registerBroker(program: Command): void {
  program
    .command('broker')
    .description('run the log with its Kafka-protocol listener (any Kafka client can produce and consume)')
    .option('--data-dir <dir>', 'where topics, segments and group offsets live', DEFAULTS.dataDir)
    .option('--host <host>', 'interface to listen on', DEFAULTS.host)
    .option('--kafka-port <port>', 'Kafka protocol port (0 picks a free one)', portOption, DEFAULTS.kafkaPort)
    .addOption(advertisedHostOption())
    .addOption(advertisedPortOption())
    .option('--no-auto-create-topics', 'refuse produce/metadata requests for topics that do not exist')
    .option('--default-partitions <n>', 'partitions of auto-created topics', positiveIntOption, 1)
    .option('--fsync <policy>', "'batch' (fsync before every acknowledgement) or an interval in ms", 'batch')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice broker
  $ sluice broker --data-dir /var/lib/sluice --kafka-port 19092
  $ sluice broker --host 0.0.0.0 --advertised-host kafka.internal --advertised-port 19092   # behind NAT or a proxy
  $ kcat -b 127.0.0.1:9092 -L`,
    )
    .action(async (flags: BrokerFlags) => {
      const fsync =
        flags.fsync === 'batch'
          ? ({ mode: 'batch' } as const)
          : ({ mode: 'interval', intervalMs: positiveIntOption(flags.fsync) } as const);
      const log = await openLog({ dataDir: flags.dataDir, fsync });
      const broker = await startBroker({
        log,
        host: flags.host,
        port: flags.kafkaPort,
        ...advertisedOf(flags),
        autoCreateTopics: flags.autoCreateTopics,
        defaultPartitions: flags.defaultPartitions,
      }).catch(async (error: unknown) => {
        await log.close();
        throw error;
      });
      const where = listenerAddress(broker);
      // Listening for the signal before saying we are up: whoever waits for that line may stop us at once.
      const shutdown = untilShutdownSignal();
      console.log(
        `${paint('bold', 'sluice broker')}: Kafka protocol on ${paint('cyan', where)}, data in ${log.dataDir}` +
          ` (Ctrl-C stops)`,
      );
      await shutdown;
      await broker.close();
      await log.close();
      console.log('sluice broker: stopped');
    });
}
