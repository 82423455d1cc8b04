// `npm run bench -- connectors [--messages N] [--partitions P] [--values bytes|json]`: the engine's LogSource and a
// logSink-like writer over KafkaClusterLog, against `sluice broker` in its own process on loopback, beside the same
// over the embedded log in this process. 100-byte values (or small JSON events, decoded), appends of 1,000 records with one append in flight per partition (as
// logSink writes), reads of 1 MiB pages (LogSource's default) in bounded mode. Prints one JSON line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connectKafkaLog } from '../src/connectors/index.ts';
import { bytes, json, LogSource, type PipelineLog } from '../src/engine/index.ts';
import { type LogRecord, openLog } from '../src/log/index.ts';
import { startSluice } from '../support/processes.ts';

const { values: flags } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '3' },
    // `json`: values are small JSON events (as the scale bench's), decoded by the source: the read as a pipeline pays it.
    values: { type: 'string', default: 'bytes' },
  },
});
const MESSAGES = Number(flags.messages);
const PARTITIONS = Number(flags.partitions);
const BATCH = 1000;
const JSON_VALUES = flags.values === 'json';
const VALUE = Buffer.from('x'.repeat(100));
const valueAt = (i: number) =>
  JSON_VALUES ? Buffer.from(`{"key":"key-${i % 1000}","ts":${1_700_000_000_000 + i},"value":${i % 10}}`) : VALUE;

const perSec = (n: number, ms: number) => Math.round((n * 1000) / ms);

/** Appends MESSAGES records to `topic`, spread evenly over its partitions; records/s. */
async function appendRate(log: PipelineLog, topic: string): Promise<number> {
  const batch: LogRecord[] = Array.from({ length: BATCH }, (_, i) => ({
    key: Buffer.from(`k${i}`),
    value: valueAt(i),
  }));
  const perPartition = Math.ceil(MESSAGES / BATCH / PARTITIONS);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: PARTITIONS }, async (_, partition) => {
      for (let i = 0; i < perPartition; i++) await log.append(topic, partition, batch);
    }),
  );
  return perSec(perPartition * PARTITIONS * BATCH, performance.now() - start);
}

/**
 * Reads the whole topic through a bounded LogSource, as a pipeline would: records/s, and records per CPU-second of
 * this thread (what the reader itself spends, whatever else the machine runs).
 */
async function readRate(log: PipelineLog, topic: string): Promise<[number, number]> {
  const source = new LogSource<unknown>({ log, topic, format: JSON_VALUES ? json() : bytes() });
  const cpu = process.threadCpuUsage();
  const start = performance.now();
  await source.open({ bounded: true, deadLetter: () => {} });
  const signal = new AbortController().signal;
  let count = 0;
  for (let batch = await source.poll(signal); batch !== null; batch = await source.poll(signal)) {
    count += batch.values.length;
  }
  const ms = performance.now() - start;
  const used = process.threadCpuUsage(cpu);
  await source.close();
  return [perSec(count, ms), perSec(count, (used.user + used.system) / 1000)];
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-connectors-'));
const results: Record<string, unknown> = {
  messages: MESSAGES,
  partitions: PARTITIONS,
  values: JSON_VALUES ? 'json' : 'bytes',
  valueBytes: valueAt(0).length,
};
try {
  const embedded = await openLog({ dataDir: path.join(dir, 'embedded') });
  await embedded.createTopic('bench', { partitions: PARTITIONS });
  results.embeddedAppend = await appendRate(embedded, 'bench');
  [results.embeddedRead, results.embeddedReadPerCpuSecond] = await readRate(embedded, 'bench');
  await embedded.close();

  const broker = startSluice(['broker', '--data-dir', path.join(dir, 'broker'), '--kafka-port', '0']);
  try {
    const bootstrap = (await broker.waitFor(/Kafka protocol on (\S+),/))[1]!;
    const cluster = await connectKafkaLog({ bootstrap, clientId: 'bench' });
    try {
      await cluster.createTopic('bench', { partitions: PARTITIONS });
      results.clusterAppend = await appendRate(cluster, 'bench');
      // The cached last stable offsets (where a bounded read_committed source ends) move with fetches, not appends.
      await cluster.refresh('bench');
      [results.clusterRead, results.clusterReadPerCpuSecond] = await readRate(cluster, 'bench');
    } finally {
      await cluster.close();
    }
  } finally {
    await broker.stop('SIGTERM');
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(results));
