// `sluice topics create|list|describe|delete` against a running broker.
import type { Command } from 'commander';
import { isSluiceError, SluiceError } from '../../errors.ts';
import { defaultBootstrap, paint, positiveIntOption } from '../common.ts';
import { type ClientFlags, withAdmin } from '../kafka-client.ts';

interface CreateFlags extends ClientFlags {
  partitions: number;
  retentionMs?: number;
  retentionBytes?: number;
  ifNotExists?: boolean;
}

export function registerTopics(program: Command): void {
  const topics = program
    .command('topics')
    .description('create, list, describe and delete topics on a running broker')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice topics create clicks --partitions 6 --retention-ms 86400000
  $ sluice topics list
  $ sluice topics describe clicks --json
  $ sluice topics delete clicks`,
    );
  const bootstrapFlag = ['--bootstrap <host:port>', 'broker to talk to (env SLUICE_BOOTSTRAP)'] as const;

  topics
    .command('create <topic>')
    .description('create a topic')
    .option(...bootstrapFlag, defaultBootstrap())
    .option('-p, --partitions <n>', 'number of partitions', positiveIntOption, 1)
    .option('--retention-ms <ms>', 'delete segments older than this (-1: keep forever)', Number)
    .option('--retention-bytes <bytes>', 'keep at most this many bytes per partition (-1: no limit)', Number)
    .option('--if-not-exists', 'succeed quietly when the topic already exists')
    .action(async (topic: string, flags: CreateFlags) => {
      const configs: { name: string; value: string }[] = [];
      if (flags.retentionMs !== undefined) configs.push({ name: 'retention.ms', value: String(flags.retentionMs) });
      if (flags.retentionBytes !== undefined)
        configs.push({ name: 'retention.bytes', value: String(flags.retentionBytes) });
      await withAdmin(
        flags.bootstrap,
        async (admin) => {
          if (flags.ifNotExists && (await admin.listTopics()).includes(topic)) return;
          await admin.createTopics({ topics: [topic], partitions: flags.partitions, replicas: 1, configs });
        },
        `create ${topic}`,
      ).catch((error: unknown) => {
        if (isSluiceError(error, 'TOPIC_ALREADY_EXISTS')) {
          throw new SluiceError('TOPIC_ALREADY_EXISTS', `topic ${topic} already exists`, { topic });
        }
        throw error;
      });
      console.log(`created topic ${paint('bold', topic)} with ${flags.partitions} partition(s)`);
    });

  topics
    .command('list')
    .description('list topics')
    .option(...bootstrapFlag, defaultBootstrap())
    .option('--json', 'print a JSON array')
    .action(async (flags: ClientFlags & { json?: boolean }) => {
      const names = (await withAdmin(flags.bootstrap, (admin) => admin.listTopics(), 'list topics')).sort();
      if (flags.json) console.log(JSON.stringify(names));
      else for (const name of names) console.log(name);
    });

  topics
    .command('describe <topic>')
    .description('show partitions with their earliest and latest offsets')
    .option(...bootstrapFlag, defaultBootstrap())
    .option('--json', 'print JSON')
    .action(async (topic: string, flags: ClientFlags & { json?: boolean }) => {
      const description = await withAdmin(
        flags.bootstrap,
        async (admin) => {
          const metadata = await admin.metadata({ topics: [topic] });
          const info = metadata.topics.get(topic);
          if (info === undefined) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic ${topic}`);
          const indexes = info.partitions.map((_, i) => i);
          const offsets = async (timestamp: bigint) => {
            const listed = await admin.listOffsets({
              topics: [{ name: topic, partitions: indexes.map((partitionIndex) => ({ partitionIndex, timestamp })) }],
            });
            return new Map(listed[0]!.partitions.map((p) => [p.partitionIndex, Number(p.offset)]));
          };
          const [earliest, latest] = await Promise.all([offsets(-2n), offsets(-1n)]);
          return {
            topic,
            id: info.id,
            partitions: indexes.map((partition) => ({
              partition,
              leader: info.partitions[partition]!.leader,
              earliestOffset: earliest.get(partition) ?? -1,
              latestOffset: latest.get(partition) ?? -1,
            })),
          };
        },
        `describe ${topic}`,
      ).catch((error: unknown) => {
        throw unknownTopic(error, topic);
      });
      if (flags.json) {
        console.log(JSON.stringify(description));
        return;
      }
      console.log(`${paint('bold', topic)}  ${description.partitions.length} partition(s)`);
      console.table(
        description.partitions.map((p) => ({
          partition: p.partition,
          earliest: p.earliestOffset,
          latest: p.latestOffset,
          records: p.latestOffset - p.earliestOffset,
        })),
      );
    });

  topics
    .command('delete <topic>')
    .description('delete a topic and all its data')
    .option(...bootstrapFlag, defaultBootstrap())
    .action(async (topic: string, flags: ClientFlags) => {
      await withAdmin(flags.bootstrap, (admin) => admin.deleteTopics({ topics: [topic] }), `delete ${topic}`).catch(
        (error: unknown) => {
          throw unknownTopic(error, topic);
        },
      );
      console.log(`deleted topic ${paint('bold', topic)}`);
    });
}

/** The topic's absence said plainly (Kafka's words for it are about topic-partitions and servers). */
function unknownTopic(error: unknown, topic: string): unknown {
  return isSluiceError(error, 'UNKNOWN_TOPIC_OR_PARTITION')
    ? new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${topic} does not exist`, { topic }, { cause: error })
    : error;
}
