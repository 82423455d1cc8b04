// `npm run bench -- log [--seconds S]`: append throughput (100-byte records, batches of 1/100/1000, fsync per batch),
// p50/p99 append latency, read throughput, each beside a plain fs.writeSync + fdatasync loop of the same bytes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { encodeRecordBatch, type LogRecord, openLog } from '../src/log/index.ts';

const { values: flags } = parseArgs({ options: { seconds: { type: 'string', default: '2' } } });
const seconds = Number(flags.seconds);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-log-'));
const log = await openLog({ dataDir: dir, fsync: { mode: 'batch' } });

function records(n: number): LogRecord[] {
  return Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.alloc(100, 97 + (i % 26)) }));
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function appendCase(batchSize: number) {
  const topic = `append-${batchSize}`;
  await log.createTopic(topic, { partitions: 1 });
  const batch = records(batchSize);
  const latencies: number[] = [];
  let written = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const t0 = performance.now();
    await log.append(topic, 0, batch);
    latencies.push(performance.now() - t0);
    written += batchSize;
  }
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    recordsPerSec: Math.round(written / elapsed),
    p50Ms: +percentile(latencies, 0.5).toFixed(3),
    p99Ms: +percentile(latencies, 0.99).toFixed(3),
  };
}

/** Several producers appending at once: group commit lets them share each fsync. */
async function concurrentCase(batchSize: number, producers: number) {
  const topic = `concurrent-${batchSize}-${producers}`;
  await log.createTopic(topic, { partitions: 1 });
  const batch = records(batchSize);
  let written = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: producers }, async () => {
      while (performance.now() < deadline) {
        await log.append(topic, 0, batch);
        written += batchSize;
      }
    }),
  );
  return Math.round(written / ((performance.now() - start) / 1000));
}

/** The physical limit: the same encoded bytes written and fdatasynced by a plain loop. */
function baselineCase(batchSize: number) {
  const file = path.join(dir, `baseline-${batchSize}.bin`);
  const fd = fs.openSync(file, 'w');
  const bytes = encodeRecordBatch(records(batchSize));
  let written = 0;
  let position = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    fs.writeSync(fd, bytes, 0, bytes.length, position);
    fs.fdatasyncSync(fd);
    position += bytes.length;
    written += batchSize;
  }
  const elapsed = (performance.now() - start) / 1000;
  fs.closeSync(fd);
  return Math.round(written / elapsed);
}

async function readCase() {
  const topic = 'read';
  await log.createTopic(topic, { partitions: 1 });
  const batch = records(1000);
  for (let i = 0; i < 1000; i++) await log.append(topic, 0, batch);
  const total = 1_000_000;
  const timeRead = (decode: boolean) => {
    const start = performance.now();
    let count = 0;
    for (let offset = 0; offset < total; ) {
      if (decode) {
        const page = log.readRecords(topic, 0, offset, { maxBytes: 1 << 20 });
        count += page.records.length;
        offset = page.nextOffset;
      } else {
        const page = log.readRaw(topic, 0, offset, { maxBytes: 1 << 20 });
        count += page.nextOffset - offset;
        offset = page.nextOffset;
      }
    }
    return Math.round(count / ((performance.now() - start) / 1000));
  };
  timeRead(false); // warm the page cache and the JIT
  return { rawRecordsPerSec: timeRead(false), decodedRecordsPerSec: timeRead(true) };
}

const result: Record<string, unknown> = { bench: 'log', recordBytes: 100, fsync: 'per batch', seconds };
for (const batchSize of [1, 100, 1000]) {
  const ours = await appendCase(batchSize);
  const baseline = baselineCase(batchSize);
  result[`append_batch${batchSize}`] = {
    ...ours,
    baselineRecordsPerSec: baseline,
    ratioToBaseline: +(ours.recordsPerSec / baseline).toFixed(3),
  };
  console.error(
    `append batch ${batchSize}: ${ours.recordsPerSec} rec/s (baseline ${baseline}), p50 ${ours.p50Ms} ms, p99 ${ours.p99Ms} ms`,
  );
}
const concurrent = await concurrentCase(1000, 8);
result.append_batch1000_8producers = { recordsPerSec: concurrent };
console.error(`append batch 1000, 8 concurrent producers (group commit): ${concurrent} rec/s`);
result.read = await readCase();
console.error(`read: ${JSON.stringify(result.read)}`);
await log.close();
fs.rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(result));
