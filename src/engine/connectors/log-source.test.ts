// The log source hands a page on in slices, straight from the record batches: the slices, a checkpoint in the
// middle of a page (a restore hands on the very same batches), dead letters, giving pages back, and the path for
// logs without raw reads.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { type Log, openLog, type RawReadResult } from '../../log/index.ts';
import type { SourceBatch } from '../connector.ts';
import type { PipelineLog } from '../define.ts';
import type { DeadLetter } from '../types.ts';
import { bytes, json } from './formats.ts';
import { type LogSourceOptions, logSource } from './log-source.ts';

let dir: string;
let log: Log;
const PER_PARTITION = 2500;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-source-'));
  log = await openLog({ dataDir: dir });
  await log.createTopic('in', { partitions: 2 });
  for (let p = 0; p < 2; p++) {
    // Appends of 100 records: the slices and pages below cut through batches, not only between them.
    for (let from = 0; from < PER_PARTITION; from += 100) {
      const records = Array.from({ length: 100 }, (_, i) => ({
        key: null,
        value: from + i === 1234 ? Buffer.from('not json') : Buffer.from(JSON.stringify({ p, n: from + i })),
        timestamp: 1_000 + from + i,
      }));
      await log.append('in', p, records);
    }
  }
});
after(async () => {
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

type Options = Partial<LogSourceOptions<{ p: number; n: number }>>;

async function open(options: Options = {}, restoreFrom?: unknown) {
  const letters: Omit<DeadLetter, 'operator'>[] = [];
  const source = logSource({ log, topic: 'in', format: json<{ p: number; n: number }>(), ...options });
  if (restoreFrom !== undefined) source.restore(restoreFrom);
  await source.open({ bounded: true, deadLetter: (letter) => letters.push(letter) });
  return { source, letters };
}

/** Every batch until the end, as "partition:first..last(count)". */
async function drain(source: Awaited<ReturnType<typeof open>>['source'], limit = Infinity): Promise<string[]> {
  const seen: string[] = [];
  for (let batch: SourceBatch<{ p: number; n: number }> | null; seen.length < limit; ) {
    batch = await source.poll(new AbortController().signal);
    if (batch === null) break;
    const ns = batch.values.map((v) => v.n);
    seen.push(`${batch.channel}:${ns[0]}..${ns.at(-1)}(${ns.length})`);
  }
  return seen;
}

it("hands a page on in slices of maxRecordsPerBatch, finishing a partition's page before the next turn", async () => {
  const { source } = await open({ maxRecordsPerBatch: 1000, maxBytesPerRead: 64 << 10 });
  const batches = await drain(source);
  // Values in order, each once, per partition; no batch over the bound; partitions alternate by page, not slice.
  for (const p of [0, 1]) {
    const mine = batches.filter((b) => b.startsWith(`${p}:`));
    const counts = mine.map((b) => Number(b.match(/\((\d+)\)/)![1]));
    assert.ok(counts.every((c) => c <= 1000));
    assert.equal(
      counts.reduce((a, b) => a + b),
      PER_PARTITION - 1, // one is not JSON
    );
  }
  assert.deepEqual(source.position(), [PER_PARTITION, PER_PARTITION]);
  const firstSwitch = batches.findIndex((b) => b.startsWith('1:'));
  assert.ok(firstSwitch >= 2, `a 64 KiB page of partition 0 came in several slices first: ${batches.slice(0, 4)}`);
});

it('restored from a checkpoint in the middle of a page, hands on the very same batches', async () => {
  const options: Options = { maxRecordsPerBatch: 700, maxBytesPerRead: 48 << 10 };
  const whole = await drain((await open(options)).source);
  for (const cut of [1, 2, 3, 5, 8]) {
    const first = await open(options);
    const before = await drain(first.source, cut);
    const checkpoint = JSON.parse(JSON.stringify(first.source.snapshot()));
    const rest = await drain((await open(options, checkpoint)).source);
    assert.deepEqual(
      [...before, ...rest],
      whole,
      `cut after ${cut} batches (checkpoint ${JSON.stringify(checkpoint)})`,
    );
  }
});

/** The embedded log as a log without raw reads (a Kafka cluster's client) sees it. */
function withoutRawReads(): PipelineLog {
  return {
    hasTopic: (...a) => log.hasTopic(...a),
    createTopic: (...a) => log.createTopic(...a),
    describeTopic: (...a) => log.describeTopic(...a),
    append: (...a) => log.append(...a),
    truncate: (...a) => log.truncate(...a),
    waitForData: (...a) => log.waitForData(...a),
    readRecords: (...a) => log.readRecords(...a),
    offsetForTimestamp: (...a) => log.offsetForTimestamp(...a),
  };
}

/** The embedded log, its raw reads recorded, `onRelease` told of each page given back. */
function recyclingLog(onRelease: (batches: Buffer) => void) {
  const reads: RawReadResult[] = [];
  const recycling: PipelineLog = {
    ...withoutRawReads(),
    readRaw: (...a) => {
      const read = log.readRaw(...a);
      reads.push(read);
      return read;
    },
    release: onRelease,
  };
  return { recycling, reads };
}

it('sends a value the format refuses to the dead letters, named by its place, as a copy of its bytes', async () => {
  // Pages are overwritten once given back, as the log's owner reads into them again.
  const { recycling } = recyclingLog((batches) => batches.fill(0));
  const { source, letters } = await open({ log: recycling });
  await drain(source);
  assert.equal(letters.length, 2);
  for (const [p, letter] of letters.entries()) {
    assert.match(letter.error, new RegExp(`^in/${p}@1234: `));
    assert.equal(String(letter.original), 'not json');
  }
});

it('gives each page back to the log once it is handed on, unless the format keeps views into it', async () => {
  for (const format of [json(), bytes()]) {
    const released: Buffer[] = [];
    const { recycling, reads } = recyclingLog((batches) => {
      assert.ok(!released.includes(batches), 'a page is given back once');
      released.push(batches);
    });
    const source = logSource({
      log: recycling,
      topic: 'in',
      format,
      maxRecordsPerBatch: 300,
      maxBytesPerRead: 16 << 10,
    });
    await source.open({ bounded: true, deadLetter: () => {} });
    let batches = 0;
    while ((await source.poll(new AbortController().signal)) !== null) {
      batches++;
      // Every page read so far is given back, except the one still being handed on.
      if (format.decodeRange) assert.ok(released.length >= reads.length - 1);
    }
    assert.ok(batches > reads.length, 'pages came in several slices');
    assert.deepEqual(released, format.decodeRange ? reads.map((r) => r.batches) : []);
  }
});

it('reads decoded records from a log without raw reads (a Kafka cluster)', async () => {
  const { source, letters } = await open({ log: withoutRawReads() });
  const batches = await drain(source);
  const total = batches.reduce((n, b) => n + Number(b.match(/\((\d+)\)/)![1]), 0);
  assert.equal(total, 2 * PER_PARTITION - 2);
  assert.equal(letters.length, 2);
  assert.deepEqual(source.position(), [PER_PARTITION, PER_PARTITION]);
});
