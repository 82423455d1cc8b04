// `sluice produce <topic>`: NDJSON on stdin becomes records, sent idempotently with acks=all in batches.
import readline from 'node:readline';
import { Producer } from '@platformatic/kafka';
import type { Command } from 'commander';
import { SluiceError } from '../../errors.ts';
import { defaultBootstrap, positiveIntOption } from '../common.ts';
import { type ClientFlags, explainClientError, withAdmin } from '../kafka-client.ts';

interface ProduceFlags extends ClientFlags {
  /** Create the topic when it does not exist: `true` (bare flag) for one partition, or a partition count. */
  create?: true | number;
  keyField?: string;
  key?: string;
  raw?: boolean;
  batchSize: number;
}

interface Outgoing {
  topic: string;
  key?: Buffer;
  value: Buffer;
}

/** Validates one input line and turns it into a record; the error names the line. */
export function recordFromLine(topic: string, line: string, lineNumber: number, flags: ProduceFlags): Outgoing {
  let key: Buffer | undefined = flags.key === undefined ? undefined : Buffer.from(flags.key);
  if (!flags.raw) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new SluiceError('INVALID_RECORD', `line ${lineNumber}: not valid JSON (${(error as Error).message})`, {
        line: lineNumber,
      });
    }
    if (flags.keyField !== undefined) {
      const value = (parsed as Record<string, unknown> | null)?.[flags.keyField];
      if (value === undefined || value === null || typeof value === 'object') {
        throw new SluiceError(
          'INVALID_RECORD',
          `line ${lineNumber}: key field '${flags.keyField}' is missing or not a string/number`,
          { line: lineNumber },
        );
      }
      key = Buffer.from(String(value));
    }
  }
  return { topic, key, value: Buffer.from(line) };
}

export function registerProduce(program: Command): void {
  program
    .command('produce <topic>')
    .description('send NDJSON lines from stdin to a topic (acks=all, idempotent); prints the count to stderr')
    .option('--bootstrap <host:port>', 'broker to talk to (env SLUICE_BOOTSTRAP)', defaultBootstrap())
    .option('--key-field <field>', 'use this top-level JSON field as the record key (same key, same partition)')
    .option('--key <key>', 'use this fixed key for every record')
    .option('--raw', 'send each line as it is, without checking that it is JSON')
    .option('--batch-size <n>', 'records per produce request', positiveIntOption, 1000)
    .option(
      '--create [partitions]',
      'create the topic first if it does not exist (default 1 partition)',
      positiveIntOption,
    )
    .addHelpText(
      'after',
      `
The topic must exist (exit code 3 otherwise, before reading any line), unless --create is given.
An invalid line stops the command with exit code 2 and names the line; the lines before it were sent.

Examples:
  $ echo '{"key":"a","ts":1700000000000,"value":3}' | sluice produce events --key-field key
  $ sluice produce clicks --create 6 < clicks.ndjson`,
    )
    .action(async (topic: string, flags: ProduceFlags) => {
      await requireTopic(topic, flags);
      const producer = new Producer({
        clientId: 'sluice-cli',
        bootstrapBrokers: [flags.bootstrap],
        idempotent: true,
        acks: -1,
        retries: 2,
        connectTimeout: 3_000,
        // A broker that creates topics on demand (sluice broker, many Kafka set-ups) would turn a typo into a topic.
        autocreateTopics: false,
      });
      let sent = 0;
      let batch: Outgoing[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const messages = batch;
        batch = [];
        await producer.send({ messages }).catch((error: unknown) => {
          throw explainClientError(error, flags.bootstrap, `produce to ${topic}`);
        });
        sent += messages.length;
      };
      try {
        const lines = readline.createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
        let lineNumber = 0;
        for await (const line of lines) {
          lineNumber++;
          if (line.trim() === '') continue;
          let record: Outgoing;
          try {
            record = recordFromLine(topic, line, lineNumber, flags);
          } catch (error) {
            await flush(); // the valid lines before the bad one are sent, as the help says
            throw error;
          }
          batch.push(record);
          if (batch.length >= flags.batchSize) await flush();
        }
        await flush();
      } finally {
        process.stderr.write(`produced ${sent} record(s) to ${topic}\n`);
        await producer.close().catch(() => {});
      }
    });
}

/**
 * Refuses a topic that does not exist, as HTTP ingest does, before a line is read (so nothing is sent); with
 * `--create`, creates it (another client creating it meanwhile is as good).
 */
async function requireTopic(topic: string, flags: ProduceFlags): Promise<void> {
  const created = await withAdmin(
    flags.bootstrap,
    async (admin) => {
      if ((await admin.listTopics()).includes(topic)) return undefined;
      if (flags.create === undefined) {
        throw new SluiceError(
          'UNKNOWN_TOPIC',
          `topic ${topic} does not exist; nothing was sent. Create it with --create [partitions] or ` +
            `'sluice topics create ${topic}'`,
          { topic },
        );
      }
      const partitions = flags.create === true ? 1 : flags.create;
      try {
        await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
      } catch (error) {
        if ((explainClientError(error) as { code?: string }).code === 'TOPIC_ALREADY_EXISTS') return undefined;
        throw error;
      }
      return partitions;
    },
    `produce to ${topic}`,
  );
  if (created !== undefined) process.stderr.write(`created topic ${topic} with ${created} partition(s)\n`);
}
