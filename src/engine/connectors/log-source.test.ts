// The log source hands a page on in slices, straight from the record batches: the slices, a checkpoint in the
// middle of a page (a restore hands on the very same batches), dead letters, giving pages back, the path for
// logs without raw reads, and partition idleness (caught up for the idle timeout, never with records unread).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SluiceError } from '../../errors.ts';
import { type Log, openLog, type RawReadResult } from '../../log/index.ts';
import type { SourceBatch } from '../connector.ts';
import type { PipelineLog } from '../define.ts';
import type { DeadLetter } from '../types.ts';
import { bytes, json } from './formats.ts';
import { DEFAULT_IDLE_TIMEOUT_MS, type LogSourceOptions, logSource } from './log-source.ts';

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

describe('partition idleness', () => {
  let topics = 0;
  /** A fresh topic of two partitions, with `records` values {p, n} in each partition as given. */
  async function quietTopic(records: [number, number]): Promise<string> {
    const topic = `quiet-${topics++}`;
    await log.createTopic(topic, { partitions: 2 });
    for (const p of [0, 1]) await append(topic, p, 0, records[p]!);
    return topic;
  }
  async function append(topic: string, p: number, from: number, count: number): Promise<void> {
    if (count === 0) return;
    const values = Array.from({ length: count }, (_, i) => Buffer.from(JSON.stringify({ p, n: from + i })));
    await log.append(
      topic,
      p,
      values.map((value) => ({ key: null, value })),
    );
  }
  /** A streaming source on a manual clock (`clock.now`). */
  async function streaming(topic: string, options: Options = {}) {
    const clock = { now: 1_000_000 };
    const source = logSource({ log, topic, format: json<{ p: number; n: number }>(), ...options });
    await source.open({ bounded: false, deadLetter: () => {}, clock: () => clock.now });
    return { source, clock };
  }
  /**
   * One pass over the partitions, without waiting: the batch the source hands on, as "p:records" or "p:idle", or
   * "-" for none. (An aborted signal makes a caught-up poll return at once.)
   */
  async function pass(source: Awaited<ReturnType<typeof streaming>>['source']): Promise<string> {
    const batch = (await source.poll(AbortSignal.abort()))!;
    if (batch.values.length > 0) return `${batch.channel}:${batch.values.length}`;
    return batch.channelIdle ? `${batch.channel}:idle` : '-';
  }
  const idleSince = (source: Awaited<ReturnType<typeof streaming>>['source']) =>
    source.channelStatus().map((c) => c.idleSince);

  for (const [name, logFor] of [
    ['raw reads', () => log],
    ['without raw reads (a Kafka cluster)', withoutRawReads],
  ] as const) {
    it(`reports a partition idle once caught up for the default timeout, active again with records (${name})`, async () => {
      const topic = await quietTopic([0, 3]);
      const { source, clock } = await streaming(topic, { log: logFor() });
      const start = clock.now;
      assert.equal(await pass(source), '1:3', 'partition 0 is at its end: partition 1 hands on its records');
      assert.equal(await pass(source), '-');
      clock.now = start + DEFAULT_IDLE_TIMEOUT_MS - 1;
      assert.equal(await pass(source), '-', 'not before the timeout');
      assert.deepEqual(idleSince(source), [null, null]);
      clock.now = start + DEFAULT_IDLE_TIMEOUT_MS;
      const idle = [await pass(source), await pass(source)].sort();
      assert.deepEqual(idle, ['0:idle', '1:idle'], 'each partition once');
      assert.equal(await pass(source), '-', 'reported once');
      assert.deepEqual(idleSince(source), [clock.now, clock.now]);

      await append(topic, 0, 0, 2);
      assert.equal(await pass(source), '0:2', 'records wake it, and are handed on');
      assert.deepEqual(idleSince(source), [null, clock.now]);
      const caughtUp = clock.now;
      assert.equal(await pass(source), '-');
      clock.now = caughtUp + DEFAULT_IDLE_TIMEOUT_MS - 1;
      assert.equal(await pass(source), '-', 'the timeout counts again from when it was caught up');
      clock.now = caughtUp + DEFAULT_IDLE_TIMEOUT_MS;
      assert.equal(await pass(source), '0:idle');
    });
  }

  it('never reports a partition idle while it has records unread, however late the next poll', async () => {
    const topic = await quietTopic([0, 1]);
    const { source, clock } = await streaming(topic, { maxRecordsPerBatch: 100, idleTimeout: '1s' });
    assert.equal(await pass(source), '1:1'); // partition 0 found at its end now
    // Records arrive in partition 0 while the pipeline is busy (backpressure, a GC pause, a slow checkpoint).
    await append(topic, 0, 0, 1000);
    clock.now += 60_000;
    const seen: string[] = [];
    for (let got = 0; got < 1000; ) {
      const batch = await pass(source);
      seen.push(batch);
      if (batch.startsWith('0:') && batch !== '0:idle') got += Number(batch.slice(2));
    }
    assert.ok(!seen.includes('0:idle'), `partition 0 was never idle with records unread: ${seen}`);
    assert.deepEqual(
      seen.filter((b) => b.startsWith('0:')),
      Array(10).fill('0:100'),
    );
    assert.equal(idleSince(source)[0], null);
    assert.notEqual(await pass(source), '0:idle', 'caught up only now: its timeout starts now');
    clock.now += 1000;
    assert.deepEqual([await pass(source), await pass(source)].sort(), ['0:idle', '1:idle']);
  });

  it('is not idle where the log says there is more (an empty page below the high watermark)', async () => {
    const topic = await quietTopic([0, 0]);
    const stalled: PipelineLog = {
      ...withoutRawReads(),
      // Partition 0 reads empty although its end is ahead (as a fetch that returned nothing yet would).
      readRecords: (t, p, offset, options) => {
        const page = log.readRecords(t, p, offset, options);
        return p === 0 ? { ...page, records: [], highWatermark: offset + 1 } : page;
      },
    };
    const { source, clock } = await streaming(topic, { log: stalled, idleTimeout: '1s' });
    assert.equal(await pass(source), '-');
    clock.now += 5000;
    assert.deepEqual([await pass(source), await pass(source)], ['1:idle', '-']);
    assert.deepEqual(idleSince(source), [null, clock.now]);
  });

  it('never reports idleness in a bounded run, nor with idleTimeout: false', async () => {
    const topic = await quietTopic([0, 5]);
    const clock = { now: 0 };
    const bounded = logSource({ log, topic, format: json(), idleTimeout: '1ms' });
    await bounded.open({ bounded: true, deadLetter: () => {}, clock: () => clock.now });
    const batches: SourceBatch<unknown>[] = [];
    for (let b = await bounded.poll(AbortSignal.abort()); b !== null; b = await bounded.poll(AbortSignal.abort())) {
      batches.push(b);
      clock.now += 60_000;
    }
    assert.deepEqual(
      batches.map((b) => [b.channel, b.values.length, b.channelIdle]),
      [[1, 5, undefined]],
    );

    const { source, clock: manual } = await streaming(topic, { idleTimeout: false });
    assert.equal(await pass(source), '1:5');
    for (let i = 0; i < 3; i++) {
      manual.now += 3_600_000;
      assert.equal(await pass(source), '-');
    }
    assert.deepEqual(idleSince(source), [null, null]);
  });

  it('starts active after a restore: idleness is not in the checkpoint', async () => {
    const topic = await quietTopic([0, 2]);
    const { source, clock } = await streaming(topic, { idleTimeout: '1s' });
    assert.deepEqual([await pass(source), await pass(source)], ['1:2', '-']);
    clock.now += 1000;
    assert.deepEqual([await pass(source), await pass(source)].sort(), ['0:idle', '1:idle']);
    const checkpoint = structuredClone(source.snapshot());
    assert.doesNotMatch(JSON.stringify(checkpoint), /idle/i);
    const restored = logSource({ log, topic, format: json(), idleTimeout: '1s' });
    restored.restore(checkpoint);
    await restored.open({ bounded: false, deadLetter: () => {}, clock: () => clock.now });
    assert.deepEqual(
      restored.channelStatus().map((c) => c.idleSince),
      [null, null],
    );
    assert.equal(await pass(restored as typeof source), '-');
    clock.now += 1000;
    assert.deepEqual([await pass(restored as typeof source), await pass(restored as typeof source)].sort(), [
      '0:idle',
      '1:idle',
    ]);
  });

  it('a waiting poll wakes up for a partition due to go idle (real clock)', async () => {
    const topic = await quietTopic([0, 0]);
    const source = logSource({ log, topic, format: json(), idleTimeout: '50ms' });
    await source.open({ bounded: false, deadLetter: () => {} });
    const batch = await source.poll(new AbortController().signal);
    assert.deepEqual([batch!.values.length, batch!.channelIdle], [0, true]);
  });

  it('refuses an idle timeout of 0 or a bad duration', () => {
    for (const idleTimeout of [0, '0s', 'soon', -5]) {
      assert.throws(
        () => logSource({ log, topic: 'in', format: json(), idleTimeout }),
        (error: SluiceError) => error.code === 'INVALID_DURATION',
      );
    }
  });
});

describe('read committed', () => {
  for (const [how, raw] of [
    ['from raw batches', true],
    ['from decoded records (a log without raw reads)', false],
  ] as const) {
    it(`skips aborted transactions and markers, and a bounded run ends past them (${how})`, async () => {
      const topic = `txn-${raw ? 'raw' : 'records'}`;
      await log.createTopic(topic, { partitions: 1 });
      const write = async (values: number[], commit: boolean) => {
        const writer = await log.openTransactionalWriter(`${topic}-writer`);
        await writer.append(
          topic,
          0,
          values.map((n) => ({ key: null, value: Buffer.from(String(n)) })),
        );
        await writer.prepare();
        await (commit ? writer.commit() : writer.abort());
      };
      await write([1, 2], true);
      await write([3, 4], false);
      await write([5], false); // the topic ends in aborted records and a marker: the page holds nothing to hand on
      // One batch a page: some pages hold only a marker or aborted records.
      const source = logSource({
        log: raw ? log : withoutRawReads(),
        topic,
        format: json<number>(),
        maxBytesPerRead: 1,
      });
      await source.open({ bounded: true, deadLetter: () => {} });
      const seen: number[] = [];
      for (let batch = await source.poll(AbortSignal.abort()); batch !== null; ) {
        seen.push(...batch.values);
        batch = await source.poll(AbortSignal.abort());
      }
      assert.deepEqual(seen, [1, 2]);
      await source.close();
    });
  }
});
