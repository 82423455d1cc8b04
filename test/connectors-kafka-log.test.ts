// KafkaClusterLog against a real broker (Sluice's, in this process over a temp log): metadata, topics, appends and
// reads with headers, long polls, timestamps, and the errors a PipelineLog caller relies on.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectKafkaLog, type KafkaClusterLog } from '../src/connectors/index.ts';
import type { SluiceError } from '../src/errors.ts';
import { decodeRecordBatches } from '../src/log/index.ts';
import { startTestBroker, type TestBroker } from './helpers/broker.ts';

let t: TestBroker;
let log: KafkaClusterLog;
before(async () => {
  t = await startTestBroker();
  await t.log.createTopic('existing', { partitions: 3 });
  await t.log.append('existing', 1, [
    { key: null, value: Buffer.from('a') },
    { key: null, value: Buffer.from('b') },
  ]);
  log = await connectKafkaLog({ bootstrap: t.bootstrap, clientId: 'test' });
});
after(async () => {
  await log.close();
  await t.close();
});

const code = (error: unknown) => (error as SluiceError).code;

describe('KafkaClusterLog', () => {
  it('loads every topic at connect, with start and end offsets', () => {
    assert.equal(log.hasTopic('existing'), true);
    assert.equal(log.hasTopic('missing'), false);
    const info = log.describeTopic('existing');
    assert.deepEqual(
      info.partitions.map((p) => [p.logStartOffset, p.logEndOffset]),
      [
        [0, 0],
        [0, 2],
        [0, 0],
      ],
    );
    assert.equal(info.config.maxMessageBytes > 0, true);
    assert.throws(() => log.describeTopic('missing'), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    assert.equal(log.supportsTruncate, false);
  });

  it('creates topics, refusing one that exists with the embedded log code', async () => {
    const info = await log.createTopic('created', { partitions: 2 });
    assert.equal(info.partitions.length, 2);
    assert.equal(t.log.describeTopic('created').partitions.length, 2);
    await assert.rejects(log.createTopic('created', { partitions: 2 }), { code: 'TOPIC_ALREADY_EXISTS' });
    await assert.rejects(log.createTopic('bad name!', { partitions: 1 }), { code: 'INVALID_TOPIC_NAME' });
  });

  it('appends and reads back keys, values, nulls, headers and timestamps', async () => {
    await log.createTopic('round-trip', { partitions: 2 });
    const records = [
      {
        key: Buffer.from('k1'),
        value: Buffer.from('v1'),
        timestamp: 1_000,
        headers: [
          { key: 'h', value: Buffer.from('1') },
          { key: 'h', value: null },
        ],
      },
      { key: null, value: null, timestamp: 2_000 },
      { key: Buffer.alloc(0), value: Buffer.from([0, 255]), timestamp: 3_000 },
    ];
    const first = await log.append('round-trip', 1, records);
    assert.deepEqual([first.baseOffset, first.lastOffset], [0, 2]);
    const second = await log.append('round-trip', 1, [{ key: null, value: Buffer.from('more'), timestamp: 4_000 }]);
    assert.equal(second.baseOffset, 3);
    assert.equal(log.describeTopic('round-trip').partitions[1]!.logEndOffset, 4);

    const page = await log.readRecords('round-trip', 1, 0);
    assert.deepEqual(
      page.records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString('hex') ?? null]),
      [
        [0, 1_000, 'k1', Buffer.from('v1').toString('hex')],
        [1, 2_000, null, null],
        [2, 3_000, '', '00ff'],
        [3, 4_000, null, Buffer.from('more').toString('hex')],
      ],
    );
    assert.deepEqual(
      page.records[0]!.headers.map((h) => [h.key, h.value?.toString() ?? null]),
      [
        ['h', '1'],
        ['h', null],
      ],
    );
    assert.deepEqual([page.nextOffset, page.highWatermark], [4, 4]);
    const from = await log.readRecords('round-trip', 1, 2);
    assert.deepEqual(
      from.records.map((r) => r.offset),
      [2, 3],
    );
    // The embedded log sees the very same records.
    assert.deepEqual(
      t.log.readRecords('round-trip', 1, 0).records.map((r) => r.value?.toString('hex') ?? null),
      page.records.map((r) => r.value?.toString('hex') ?? null),
    );
  });

  it('keeps concurrent appends to one partition in call order', async () => {
    await log.createTopic('ordered', { partitions: 1 });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => log.append('ordered', 0, [{ key: null, value: Buffer.from(String(i)) }])),
    );
    assert.deepEqual(
      results.map((r) => r.baseOffset),
      Array.from({ length: 50 }, (_, i) => i),
    );
    const values = t.log.readRecords('ordered', 0, 0).records.map((r) => Number(r.value!.toString()));
    assert.deepEqual(
      values,
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  it('reads past the end as OFFSET_OUT_OF_RANGE, at the end as nothing, an unknown partition as such', async () => {
    await log.createTopic('bounds', { partitions: 1 });
    await log.append('bounds', 0, [{ key: null, value: Buffer.from('x') }]);
    assert.deepEqual((await log.readRecords('bounds', 0, 1)).records, []);
    await assert.rejects(log.readRecords('bounds', 0, 5), { code: 'OFFSET_OUT_OF_RANGE' });
    await assert.rejects(log.readRecords('bounds', 7, 0), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
  });

  it('waitForData wakes on an append, times out, and honours its abort signal', async () => {
    await log.createTopic('waits', { partitions: 2 });
    const woken = log.waitForData('waits', 1, 0, { timeoutMs: 10_000 });
    const other = log.waitForData('waits', 0, 0, { timeoutMs: 300 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await t.log.append('waits', 1, [{ key: null, value: Buffer.from('late') }]); // another producer
    assert.equal(await woken, true);
    assert.equal(await other, false);

    const started = Date.now();
    assert.equal(await log.waitForData('waits', 0, 0, { timeoutMs: 250 }), false);
    assert.ok(Date.now() - started >= 200, 'waited out its timeout');

    const controller = new AbortController();
    const aborted = log.waitForData('waits', 0, 0, { timeoutMs: 10_000, signal: controller.signal });
    const abortAt = Date.now();
    setTimeout(() => controller.abort(), 50);
    assert.equal(await aborted, false);
    assert.ok(Date.now() - abortAt < 1_000, 'returned promptly on abort');

    // Already there: at once.
    assert.equal(await log.waitForData('waits', 1, 0, { timeoutMs: 10_000 }), true);
    const page = await log.readRecords('waits', 1, 0);
    assert.equal(page.records[0]!.value!.toString(), 'late');
  });

  it('finds offsets by timestamp (null when none is that late)', async () => {
    await log.createTopic('times', { partitions: 1 });
    await log.append(
      'times',
      0,
      [10, 20, 30].map((ts) => ({ key: null, value: Buffer.from('v'), timestamp: ts })),
    );
    assert.equal(await log.offsetForTimestamp('times', 0, 0), 0);
    assert.equal(await log.offsetForTimestamp('times', 0, 15), 1);
    assert.equal(await log.offsetForTimestamp('times', 0, 30), 2);
    assert.equal(await log.offsetForTimestamp('times', 0, 31), null);
  });

  it('reads raw pages ahead and lends them: every record once, memory given back is read into again', async () => {
    await log.createTopic('ahead', { partitions: 1 });
    for (let i = 0; i < 6; i++) await log.append('ahead', 0, [{ key: null, value: Buffer.from(`v${i}`) }]);
    const values: string[] = [];
    const given = new Set<ArrayBufferLike>();
    let reused = 0;
    // A page a batch (maxBytes 1: the first batch comes whole), each the next one read ahead of it.
    for (let offset = 0; offset < 6; ) {
      const page = await log.readRaw('ahead', 0, offset, { maxBytes: 1, lend: true, isolation: 'read_committed' });
      for (const r of decodeRecordBatches(page.batches, offset)) values.push(r.value!.toString());
      if (given.has(page.batches.buffer)) reused++;
      given.add(page.batches.buffer);
      log.release(page.batches);
      offset = page.nextOffset;
    }
    assert.deepEqual(values, ['v0', 'v1', 'v2', 'v3', 'v4', 'v5']);
    assert.ok(reused > 0, 'a page given back was read into again');
    // A read elsewhere than the page read ahead (a restore): its own records, and the reads after it follow on.
    const first = await log.readRecords('ahead', 0, 1, { maxBytes: 1 });
    assert.deepEqual(
      first.records.map((r) => r.value!.toString()),
      ['v1'],
    );
    const next = await log.readRecords('ahead', 0, first.nextOffset, { maxBytes: 1 });
    assert.deepEqual(
      next.records.map((r) => r.value!.toString()),
      ['v2'],
    );
  });

  it('refuses to truncate, saying why', async () => {
    await assert.rejects(log.truncate('existing', 0, 0), (error) => {
      assert.equal(code(error), 'UNSUPPORTED');
      assert.match((error as Error).message, /cannot remove records/);
      return true;
    });
  });

  it('refresh() picks up topics created by others', async () => {
    await t.log.createTopic('from-elsewhere', { partitions: 4 });
    assert.equal(log.hasTopic('from-elsewhere'), false);
    await log.refresh();
    assert.equal(log.describeTopic('from-elsewhere').partitions.length, 4);
  });

  it('names the address when no broker answers', async () => {
    await assert.rejects(connectKafkaLog({ bootstrap: '127.0.0.1:1' }), (error) => {
      assert.equal(code(error), 'BROKER_UNAVAILABLE');
      assert.match((error as Error).message, /127\.0\.0\.1:1/);
      return true;
    });
  });
});
