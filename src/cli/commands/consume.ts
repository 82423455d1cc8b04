// `sluice consume <topic>`: prints record values, one per line, from a running broker.
import { randomUUID } from 'node:crypto';
import { Consumer } from '@platformatic/kafka';
import type { Command } from 'commander';
import { defaultBootstrap, nonNegativeIntOption, positiveIntOption, whenOutputClosed } from '../common.ts';
import { type ClientFlags, explainClientError } from '../kafka-client.ts';

interface ConsumeFlags extends ClientFlags {
  fromBeginning?: boolean;
  group?: string;
  maxMessages?: number;
  idleExitMs?: number;
  json?: boolean;
}

export function registerConsume(program: Command): void {
  program
    .command('consume <topic>')
    .description('print the records of a topic (values, one per line) as they arrive')
    .option('--bootstrap <host:port>', 'broker to talk to (env SLUICE_BOOTSTRAP)', defaultBootstrap())
    .option('--from-beginning', 'start at the earliest offset (default: only new records)')
    .option('--group <group>', 'consume as a member of this consumer group and commit offsets')
    .option('-n, --max-messages <n>', 'exit after this many records', positiveIntOption)
    .option('--idle-exit-ms <ms>', 'exit when no record arrives for this long', nonNegativeIntOption)
    .option('--json', 'print {partition, offset, timestamp, key, value} objects')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice consume window-totals --from-beginning
  $ sluice consume events --group audit -n 100 --json`,
    )
    .action(async (topic: string, flags: ConsumeFlags) => {
      // Without --group, a private group that never commits: reading does not disturb anyone's offsets.
      const groupId = flags.group ?? `sluice-cli-${randomUUID()}`;
      const consumer = new Consumer({
        clientId: 'sluice-cli',
        groupId,
        bootstrapBrokers: [flags.bootstrap],
        maxWaitTime: 200,
        retries: 2,
        connectTimeout: 3_000,
      });
      let count = 0;
      try {
        const stream = await consumer.consume({
          topics: [topic],
          autocommit: flags.group !== undefined,
          mode: flags.group !== undefined ? 'committed' : flags.fromBeginning ? 'earliest' : 'latest',
          fallbackMode: flags.fromBeginning ? 'earliest' : 'latest',
        });
        let idleTimer: NodeJS.Timeout | undefined;
        const armIdle = () => {
          if (flags.idleExitMs === undefined) return;
          clearTimeout(idleTimer);
          idleTimer = setTimeout(() => void stream.close(), flags.idleExitMs);
        };
        const stop = () => void stream.close();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        // `| head` has read enough: stop as on Ctrl-C (with --group, what was printed is committed).
        const undoOutputClosed = whenOutputClosed(stop);
        armIdle();
        for await (const message of stream) {
          const value = message.value === undefined || message.value === null ? '' : message.value.toString();
          if (flags.json) {
            console.log(
              JSON.stringify({
                partition: message.partition,
                offset: Number(message.offset),
                timestamp: Number(message.timestamp),
                key: message.key === undefined || message.key === null ? null : message.key.toString(),
                value,
              }),
            );
          } else console.log(value);
          count++;
          if (flags.maxMessages !== undefined && count >= flags.maxMessages) break;
          armIdle();
        }
        clearTimeout(idleTimer);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        undoOutputClosed();
        await stream.close().catch(() => {});
      } catch (error) {
        throw explainClientError(error, flags.bootstrap, `consume ${topic}`);
      } finally {
        await consumer.close(true).catch(() => {});
      }
    });
}
