import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it, mock } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import { encodeRecordBatch, type Log, type LogOptions, openLog } from './index.ts';

const dirs: string[] = [];
const logs: Log[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-log-'));
  dirs.push(dir);
  return dir;
}

async function open(dataDir: string, options: Partial<LogOptions> = {}): Promise<Log> {
  const log = await openLog({ dataDir, ...options });
  logs.push(log);
  return log;
}

afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const rec = (value: string, timestamp?: number) => ({ key: null, value: Buffer.from(value), timestamp });
/** Every value from `from` to the end, reading page by page (one read stays within one segment). */
function values(log: Log, topic: string, partition: number, from: number): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  for (let offset = from; ; ) {
    const page = log.readRecords(topic, partition, offset, { maxBytes: 1 << 20 });
    if (page.records.length === 0) return out;
    for (const r of page.records) out.push(r.value?.toString());
    offset = page.nextOffset;
  }
}

describe('topics', () => {
  it('creates, lists, describes and deletes topics', async () => {
    const log = await open(tempDir());
    await log.createTopic('orders', { partitions: 3, config: { retentionMs: 1000 } });
    await log.createTopic('a.b_c-d', { partitions: 1 });
    assert.deepEqual(
      log.listTopics().map((t) => t.name),
      ['a.b_c-d', 'orders'],
    );
    const info = log.describeTopic('orders');
    assert.equal(info.partitions.length, 3);
    assert.equal(info.config.retentionMs, 1000);
    assert.match(info.id, /^[0-9a-f]{32}$/);
    await log.append('orders', 2, [rec('x')]);
    await log.groups.commit('g', [{ topic: 'orders', partition: 2, offset: 1 }]);
    await log.deleteTopic('orders');
    assert.equal(log.hasTopic('orders'), false);
    assert.equal(log.groups.fetchOne('g', 'orders', 2), undefined);
    await assert.rejects(log.append('orders', 0, [rec('x')]), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    await log.createTopic('orders', { partitions: 1 });
    assert.equal(log.describeTopic('orders').partitions[0]!.logEndOffset, 0);
  });

  it('rejects invalid names, partition counts, configs and duplicates with precise codes', async () => {
    const log = await open(tempDir());
    for (const name of ['', '.', '..', 'a/b', 'x'.repeat(250), 'spaces no']) {
      await assert.rejects(log.createTopic(name, { partitions: 1 }), { code: 'INVALID_TOPIC_NAME' });
    }
    await assert.rejects(log.createTopic('t', { partitions: 0 }), { code: 'INVALID_PARTITIONS' });
    await assert.rejects(log.createTopic('t', { partitions: 1.5 }), { code: 'INVALID_PARTITIONS' });
    await assert.rejects(log.createTopic('t', { partitions: 1, config: { segmentBytes: 10 } }), {
      code: 'INVALID_CONFIG',
      message: /segmentBytes/,
    });
    await log.createTopic('t', { partitions: 1 });
    await assert.rejects(log.createTopic('t', { partitions: 1 }), { code: 'TOPIC_ALREADY_EXISTS' });
    await assert.rejects(log.append('t', 1, [rec('x')]), { code: 'UNKNOWN_TOPIC_OR_PARTITION', message: /has 1/ });
    assert.throws(() => log.describeTopic('nope'), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
  });

  it('keeps topics, records and offsets across a restart', async () => {
    const dir = tempDir();
    const log = await open(dir);
    await log.createTopic('t', { partitions: 2 });
    await log.append('t', 1, [rec('a'), rec('b')]);
    await log.groups.commit('group-1', [{ topic: 't', partition: 1, offset: 2, metadata: 'm' }]);
    await log.close();
    const again = await open(dir);
    assert.deepEqual(values(again, 't', 1, 0), ['a', 'b']);
    assert.equal(again.groups.fetchOne('group-1', 't', 1)?.offset, 2);
    assert.equal(again.groups.fetchOne('group-1', 't', 1)?.metadata, 'm');
    assert.deepEqual(again.groups.listGroups(), ['group-1']);
    assert.deepEqual((await again.append('t', 1, [rec('c')])).baseOffset, 2);
  });

  it('locks its data directory against a second opener, and takes over a lock whose owner died', async () => {
    const dir = tempDir();
    const log = await open(dir);
    await assert.rejects(openLog({ dataDir: dir }), { code: 'DATA_DIR_LOCKED' });
    await log.close();
    // A lock file left by a process that no longer exists (pid 2^22 + 1 is above Linux's default pid_max).
    fs.writeFileSync(path.join(dir, 'LOCK'), String(2 ** 22 + 1));
    const again = await open(dir);
    assert.deepEqual(again.listTopics(), []);
  });
});

describe('topic settings and partition count', () => {
  it('changes retention durably, applies it at the next check, resets it to the default, refuses the rest', async () => {
    const dir = tempDir();
    let log = await open(dir, { topicDefaults: { retentionMs: 86_400_000 } });
    await log.createTopic('t', { partitions: 2, config: { segmentBytes: 2048 } });
    assert.deepEqual([...log.topicConfig('t').overridden], ['segmentBytes']);
    const now = Date.now();
    for (let i = 0; i < 60; i++) await log.append('t', 0, [rec(`v${i}`.padEnd(80, '.'), now - 3_600_000)]);
    const retention = (l: Log) => (l as unknown as { enforceRetention(now: number): void }).enforceRetention(now);
    retention(log);
    assert.equal(log.describeTopic('t').partitions[0]!.logStartOffset, 0, 'a day of retention keeps an hour-old log');
    await assert.rejects(log.alterTopicConfig('t', { segmentBytes: 4096 }), { code: 'INVALID_CONFIG' });
    await assert.rejects(log.alterTopicConfig('t', { retentionMs: -5 }), { code: 'INVALID_CONFIG' });
    await assert.rejects(log.alterTopicConfig('nope', { retentionMs: 1 }), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    await log.alterTopicConfig('t', { retentionMs: 60_000 }, { validateOnly: true });
    assert.equal(log.describeTopic('t').config.retentionMs, 86_400_000, 'validateOnly changes nothing');
    await log.alterTopicConfig('t', { retentionMs: 60_000, retentionBytes: 1_000_000 });
    assert.deepEqual([...log.topicConfig('t').overridden].sort(), ['retentionBytes', 'retentionMs', 'segmentBytes']);
    await log.close();
    log = await open(dir, { topicDefaults: { retentionMs: 86_400_000 } });
    assert.equal(log.describeTopic('t').config.retentionMs, 60_000, 'the change survives a restart');
    retention(log);
    const after = log.describeTopic('t').partitions[0]!;
    assert.ok(after.logStartOffset > 0, 'retention applied the new setting');
    assert.equal(after.logEndOffset, 60);
    await log.alterTopicConfig('t', { retentionMs: null });
    assert.equal(log.describeTopic('t').config.retentionMs, 86_400_000);
    assert.deepEqual([...log.topicConfig('t').overridden].sort(), ['retentionBytes', 'segmentBytes']);
  });

  it('grows a topic durably, keeping its records, and refuses to shrink it', async () => {
    const dir = tempDir();
    let log = await open(dir);
    await log.createTopic('g', { partitions: 2 });
    await log.append('g', 1, [rec('kept')]);
    await assert.rejects(log.createPartitions('g', 2), { code: 'INVALID_PARTITIONS' });
    await assert.rejects(log.createPartitions('g', 1), { code: 'INVALID_PARTITIONS' });
    await assert.rejects(log.createPartitions('g', 10_001), { code: 'INVALID_PARTITIONS' });
    await log.createPartitions('g', 3, { validateOnly: true });
    assert.equal(log.describeTopic('g').partitions.length, 2);
    // A grow that crashed before its metadata was written leaves a directory behind: it must not leak into the topic.
    fs.mkdirSync(path.join(dir, 'topics', 'g', '3'));
    fs.writeFileSync(path.join(dir, 'topics', 'g', '3', `${'0'.repeat(20)}.log`), 'garbage');
    const info = await log.createPartitions('g', 5);
    assert.deepEqual(
      info.partitions.map((p) => p.logEndOffset),
      [0, 1, 0, 0, 0],
    );
    await log.append('g', 4, [rec('new')]);
    await log.close();
    log = await open(dir);
    assert.equal(log.describeTopic('g').partitions.length, 5);
    assert.deepEqual(values(log, 'g', 1, 0), ['kept']);
    assert.deepEqual(values(log, 'g', 3, 0), []);
    assert.deepEqual(values(log, 'g', 4, 0), ['new']);
  });
});

describe('append and read', () => {
  it('assigns contiguous offsets and reads from any offset, bounded by bytes but at least one batch', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 1 });
    for (let i = 0; i < 50; i++) {
      const r = await log.append('t', 0, [rec(`${i}a`), rec(`${i}b`)]);
      assert.equal(r.baseOffset, i * 2);
      assert.equal(r.lastOffset, i * 2 + 1);
    }
    assert.deepEqual(values(log, 't', 0, 97), ['48b', '49a', '49b']);
    const small = log.readRecords('t', 0, 11, { maxBytes: 1 });
    assert.deepEqual(
      small.records.map((r) => r.offset),
      [11],
    );
    assert.equal(small.nextOffset, 12);
    assert.equal(log.readRecords('t', 0, 100).records.length, 0);
    assert.throws(() => log.readRecords('t', 0, 101), { code: 'OFFSET_OUT_OF_RANGE' });
    assert.throws(() => log.readRecords('t', 0, -1), { code: 'OFFSET_OUT_OF_RANGE' });
    // Raw reads return whole stored batches that decode to the same records.
    const raw = log.readRaw('t', 0, 0, { maxBytes: 1 << 20 });
    assert.equal(raw.nextOffset, 100);
    assert.equal(raw.highWatermark, 100);
  });

  it('reads across many segments and finds offsets by timestamp', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 1, config: { segmentBytes: 2048 } });
    for (let i = 0; i < 200; i++) await log.append('t', 0, [rec(`v${i}`.padEnd(40, '.'), 10_000 + i * 10)]);
    const info = log.describeTopic('t').partitions[0]!;
    assert.ok(info.segments > 3, `expected several segments, got ${info.segments}`);
    let offset = 0;
    let seen = 0;
    while (offset < 200) {
      const page = log.readRecords('t', 0, offset, { maxBytes: 700 });
      for (const r of page.records) assert.equal(r.offset, seen++);
      offset = page.nextOffset;
    }
    assert.equal(seen, 200);
    assert.equal(log.offsetForTimestamp('t', 0, 0), 0);
    assert.equal(log.offsetForTimestamp('t', 0, 10_000 + 137 * 10), 137);
    assert.equal(log.offsetForTimestamp('t', 0, 10_000 + 137 * 10 - 5), 137);
    assert.equal(log.offsetForTimestamp('t', 0, 99_999), null);
  });

  it('indexes batches whose header max timestamp is -1 (sarama) by their records, compressed or not', async () => {
    const dir = tempDir();
    let log = await open(dir);
    await log.createTopic('ts', { partitions: 1 });
    for (const [i, compression] of (['none', 'gzip', 'zstd'] as const).entries()) {
      const records = [rec(`a${i}`, 1_000 + i * 100), rec(`b${i}`, 1_050 + i * 100), rec(`c${i}`, 1_020 + i * 100)];
      const batch = encodeRecordBatch(records, { compression });
      batch.writeBigInt64BE(-1n, 35); // the max timestamp, as sarama leaves it
      batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
      await log.appendRaw('ts', 0, batch);
    }
    const check = (l: Log) => {
      assert.equal(l.offsetForTimestamp('ts', 0, 1_040), 1);
      assert.equal(l.offsetForTimestamp('ts', 0, 1_100), 3);
      assert.equal(l.offsetForTimestamp('ts', 0, 1_240), 7);
      assert.equal(l.offsetForTimestamp('ts', 0, 1_251), null);
    };
    check(log);
    const stored = log.readRaw('ts', 0, 0).batches;
    assert.equal(stored.readBigInt64BE(35), 1_050n, "the stored header carries the records' max timestamp");
    await log.close();
    log = await open(dir);
    check(log);
    // Indexes rebuilt from the data (as after a crash) find the same offsets.
    await log.close();
    for (const f of fs.readdirSync(path.join(dir, 'topics', 'ts', '0')))
      if (f.endsWith('index')) fs.rmSync(path.join(dir, 'topics', 'ts', '0', f));
    log = await open(dir);
    check(log);
  });

  it('truncates at a batch boundary across segments, then appends from there, also after a restart', async () => {
    const dir = tempDir();
    const log = await open(dir);
    await log.createTopic('t', { partitions: 1, config: { segmentBytes: 2048 } });
    for (let i = 0; i < 100; i++) await log.append('t', 0, [rec(`v${i}`.padEnd(40, '.')), rec(`w${i}`)]);
    assert.ok(log.describeTopic('t').partitions[0]!.segments > 3);
    await assert.rejects(log.truncate('t', 0, 51), { code: 'INVALID_OFFSET' });
    await log.truncate('t', 0, 60);
    assert.equal(log.describeTopic('t').partitions[0]!.logEndOffset, 60);
    await log.append('t', 0, [rec('after')]);
    const all = values(log, 't', 0, 0);
    assert.equal(all.length, 61);
    assert.equal(all[59], 'w29');
    assert.equal(all[60], 'after');
    assert.equal(log.offsetForTimestamp('t', 0, Date.now() + 60_000), null);
    await log.close();
    logs.length = 0;
    const reopened = await open(dir);
    assert.deepEqual(values(reopened, 't', 0, 0), all);
    await reopened.truncate('t', 0, 0);
    assert.deepEqual(values(reopened, 't', 0, 0), []);
    await reopened.truncate('t', 0, 0); // nothing left: a no-op
  });

  it('rejects oversize batches and empty appends without writing anything', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 1, config: { maxMessageBytes: 200 } });
    await assert.rejects(log.append('t', 0, [rec('x'.repeat(500))]), { code: 'RECORD_TOO_LARGE' });
    await assert.rejects(log.append('t', 0, []), { code: 'INVALID_RECORD' });
    assert.equal(log.describeTopic('t').partitions[0]!.logEndOffset, 0);
  });

  it('verifies raw batches and refuses a request with any bad batch, writing none of it', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 1 });
    const good = encodeRecordBatch([rec('good')]);
    const bad = encodeRecordBatch([rec('bad')]);
    bad[bad.length - 1]! ^= 1;
    await assert.rejects(log.appendRaw('t', 0, Buffer.concat([good, bad])), {
      code: 'CORRUPT_MESSAGE',
      message: /CRC/,
    });
    await assert.rejects(log.appendRaw('t', 0, good.subarray(0, good.length - 2)), { code: 'CORRUPT_MESSAGE' });
    assert.equal(log.describeTopic('t').partitions[0]!.logEndOffset, 0);
    const r = await log.appendRaw('t', 0, Buffer.concat([good, encodeRecordBatch([rec('two'), rec('three')])]));
    assert.deepEqual([r.baseOffset, r.lastOffset], [0, 2]);
    assert.deepEqual(values(log, 't', 0, 0), ['good', 'two', 'three']);
  });
});

describe('idempotent producers', () => {
  const batch = (seq: number, epoch = 0, n = 1) =>
    encodeRecordBatch(
      Array.from({ length: n }, (_, i) => rec(`s${seq + i}`)),
      { producerId: 42, producerEpoch: epoch, baseSequence: seq },
    );

  it('writes a retried batch once and returns its original offsets, also after a restart', async () => {
    const dir = tempDir();
    const log = await open(dir);
    await log.createTopic('t', { partitions: 1 });
    await log.append('t', 0, [rec('other')]);
    const first = await log.appendRaw('t', 0, batch(0, 0, 3));
    const retry = await log.appendRaw('t', 0, batch(0, 0, 3));
    assert.deepEqual([retry.baseOffset, retry.lastOffset], [first.baseOffset, first.lastOffset]);
    await log.appendRaw('t', 0, batch(3));
    await log.close();
    const again = await open(dir);
    const retryAfterRestart = await again.appendRaw('t', 0, batch(3));
    assert.equal(retryAfterRestart.baseOffset, 4);
    assert.deepEqual(values(again, 't', 0, 0), ['other', 's0', 's1', 's2', 's3']);
  });

  it('refuses sequence gaps and stale epochs, and accepts a new epoch from sequence 0', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 1 });
    await log.appendRaw('t', 0, batch(0));
    await assert.rejects(log.appendRaw('t', 0, batch(2)), { code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    await log.appendRaw('t', 0, batch(0, 1));
    await assert.rejects(log.appendRaw('t', 0, batch(1, 0)), { code: 'INVALID_PRODUCER_EPOCH' });
    await assert.rejects(log.appendRaw('t', 0, batch(5, 2)), { code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    assert.equal(log.describeTopic('t').partitions[0]!.logEndOffset, 2);
  });
});

describe('durability and recovery', () => {
  async function logWithData(dir: string, segmentBytes = 1 << 20): Promise<string> {
    const log = await open(dir);
    await log.createTopic('t', { partitions: 1, config: { segmentBytes } });
    for (let i = 0; i < 30; i++) await log.append('t', 0, [rec(`r${i}`.padEnd(60, '-'), 1000 + i)]);
    // Simulate a crash: no close(), so no clean-shutdown marker and no persisted indexes for the active segment;
    // the dead process's lock is stale, which here means removing it by hand.
    logs.splice(logs.indexOf(log), 1);
    fs.rmSync(path.join(dir, 'LOCK'));
    return path.join(dir, 'topics', 't', '0');
  }
  const lastSegment = (partitionDir: string) =>
    path.join(
      partitionDir,
      fs
        .readdirSync(partitionDir)
        .filter((f) => f.endsWith('.log'))
        .sort()
        .at(-1)!,
    );

  it('truncates a torn tail after a crash and keeps every complete batch', async () => {
    const dir = tempDir();
    const partitionDir = await logWithData(dir);
    const file = lastSegment(partitionDir);
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 7); // the last batch loses its end
    const log = await open(dir);
    assert.equal(log.describeTopic('t').partitions[0]!.logEndOffset, 29);
    assert.equal(values(log, 't', 0, 0).length, 29);
    assert.equal((await log.append('t', 0, [rec('next')])).baseOffset, 29);
  });

  it('truncates at a corrupt batch (CRC mismatch) and at trailing garbage', async () => {
    const dir = tempDir();
    const partitionDir = await logWithData(dir);
    const file = lastSegment(partitionDir);
    const bytes = fs.readFileSync(file);
    const batchSize = bytes.length / 30;
    bytes[batchSize * 25 + 70]! ^= 0xff; // inside batch 25's records
    fs.writeFileSync(file, Buffer.concat([bytes, Buffer.from('garbage that is not a batch')]));
    const log = await open(dir);
    assert.equal(log.describeTopic('t').partitions[0]!.logEndOffset, 25);
    assert.equal(fs.statSync(file).size, batchSize * 25);
  });

  it('rebuilds missing or damaged indexes', async () => {
    const dir = tempDir();
    const log = await open(dir);
    await log.createTopic('t', { partitions: 1, config: { segmentBytes: 4096 } });
    for (let i = 0; i < 300; i++) await log.append('t', 0, [rec(`r${i}`.padEnd(60, '-'), 5000 + i)]);
    await log.close();
    const partitionDir = path.join(dir, 'topics', 't', '0');
    const indexes = fs.readdirSync(partitionDir).filter((f) => f.endsWith('index'));
    assert.ok(indexes.length >= 4);
    fs.rmSync(path.join(partitionDir, indexes[0]!));
    fs.writeFileSync(path.join(partitionDir, indexes[2]!), Buffer.from('not an index at all!'));
    fs.writeFileSync(path.join(partitionDir, indexes[3]!), Buffer.alloc(16, 0x7f));
    const again = await open(dir);
    assert.equal(values(again, 't', 0, 0).length, 300);
    assert.equal(again.readRecords('t', 0, 211, { maxBytes: 1 }).records[0]!.value?.toString().slice(0, 4), 'r211');
    assert.equal(again.offsetForTimestamp('t', 0, 5123), 123);
  });

  it('acknowledges appends under every fsync policy and shares one fsync among concurrent appends', async () => {
    for (const fsync of [{ mode: 'batch' }, { mode: 'interval', intervalMs: 5 }, { mode: 'none' }] as const) {
      const log = await open(tempDir(), { fsync });
      await log.createTopic('t', { partitions: 1 });
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => log.append('t', 0, [rec(`c${i}`)])));
      assert.deepEqual(
        results.map((r) => r.baseOffset),
        Array.from({ length: 100 }, (_, i) => i),
      );
      assert.equal(values(log, 't', 0, 0).length, 100);
    }
  });
});

describe('deferred durability', () => {
  it('acknowledges appends made with durable: false before any fsync, and shows them with the next one', async () => {
    const log = await open(tempDir(), { fsync: { mode: 'batch', deferredMs: 60_000 } });
    await log.createTopic('t', { partitions: 2 });
    const fdatasync = mock.method(fs, 'fdatasync');
    try {
      for (let i = 0; i < 3; i++) await log.append('t', 0, [rec(`n${i}`)], { durable: false });
      await log.appendRaw('t', 1, encodeRecordBatch([rec('raw')]), { durable: false });
      assert.equal(fdatasync.mock.callCount(), 0);
      assert.deepEqual(values(log, 't', 0, 0), [], 'readers see only fsynced records');
      assert.equal(await log.waitForData('t', 1, 0, { timeoutMs: 0 }), false);
      await log.flush('t');
      assert.equal(fdatasync.mock.callCount(), 2, 'one fsync per partition written to');
      assert.deepEqual(values(log, 't', 0, 0), ['n0', 'n1', 'n2']);
      assert.equal(await log.waitForData('t', 1, 0, { timeoutMs: 0 }), true);
      await log.flush('t');
      assert.equal(fdatasync.mock.callCount(), 2, 'nothing left to sync');
      await log.append('t', 0, [rec('later')], { durable: false });
      await log.append('t', 0, [rec('durable')]);
      assert.equal(fdatasync.mock.callCount(), 3, "a durable append's fsync covers the deferred one before it");
      assert.deepEqual(values(log, 't', 0, 3), ['later', 'durable']);
    } finally {
      fdatasync.mock.restore();
    }
  });

  it('syncs deferred appends by itself within deferredMs, many appends sharing one fsync', async () => {
    const log = await open(tempDir(), { fsync: { mode: 'batch', deferredMs: 30 } });
    await log.createTopic('t', { partitions: 1 });
    const fdatasync = mock.method(fs, 'fdatasync');
    try {
      const started = performance.now();
      // All in one turn: the timer cannot fire between them, however slow the machine.
      await Promise.all(Array.from({ length: 20 }, (_, i) => log.append('t', 0, [rec(`d${i}`)], { durable: false })));
      assert.equal(await log.waitForData('t', 0, 19, { timeoutMs: 5_000 }), true);
      assert.ok(performance.now() - started >= 25, 'not before the timer');
      assert.equal(fdatasync.mock.callCount(), 1);
      assert.equal(values(log, 't', 0, 0).length, 20);
    } finally {
      fdatasync.mock.restore();
    }
  });
});

describe('retention and roll', () => {
  it('deletes whole old segments by size and by time, never the active one', async () => {
    const log = await open(tempDir());
    await log.createTopic('size', { partitions: 1, config: { segmentBytes: 2048, retentionBytes: 5000 } });
    await log.createTopic('time', { partitions: 1, config: { segmentBytes: 2048, retentionMs: 60_000 } });
    const now = Date.now();
    for (let i = 0; i < 100; i++) {
      await log.append('size', 0, [rec(`s${i}`.padEnd(80, '.'))]);
      await log.append('time', 0, [rec(`t${i}`.padEnd(80, '.'), i < 60 ? now - 3_600_000 : now)]);
    }
    (log as unknown as { enforceRetention(now: number): void }).enforceRetention(now);
    const size = log.describeTopic('size').partitions[0]!;
    assert.ok(size.sizeBytes < 5000 + 2048, `size ${size.sizeBytes}`);
    assert.ok(size.logStartOffset > 0);
    assert.throws(() => log.readRecords('size', 0, 0), { code: 'OFFSET_OUT_OF_RANGE' });
    assert.equal(values(log, 'size', 0, size.logStartOffset)[0], `s${size.logStartOffset}`.padEnd(80, '.'));
    const time = log.describeTopic('time').partitions[0]!;
    assert.ok(time.logStartOffset > 0 && time.logStartOffset <= 60, `time start ${time.logStartOffset}`);
    assert.equal(time.logEndOffset, 100);
  });

  it('purges whole segments below an offset, never the active one nor past the end, and survives a restart', async () => {
    const dir = tempDir();
    const log = await open(dir);
    await log.createTopic('r', { partitions: 1, config: { segmentBytes: 2048, retentionMs: -1 } });
    for (let i = 0; i < 100; i++) await log.append('r', 0, [rec(`r${i}`.padEnd(80, '.'))]);
    const start = log.purgeBefore('r', 0, 50);
    assert.ok(start > 0 && start <= 50, `start ${start}`);
    assert.equal(log.describeTopic('r').partitions[0]!.logStartOffset, start);
    assert.throws(() => log.readRecords('r', 0, start - 1), { code: 'OFFSET_OUT_OF_RANGE' });
    assert.equal(values(log, 'r', 0, start)[0], `r${start}`.padEnd(80, '.'), 'the segment holding 50 stays whole');
    assert.equal(log.purgeBefore('r', 0, 50), start, 'again: nothing more');
    const all = log.purgeBefore('r', 0, 1_000_000);
    assert.ok(all > 50 && all < 100, `only up to the active segment: ${all}`);
    assert.equal(values(log, 'r', 0, all).at(-1), 'r99'.padEnd(80, '.'));
    assert.throws(() => log.purgeBefore('r', 0, -1), { code: 'INVALID_REQUEST' });
    assert.throws(() => log.purgeBefore('nope', 0, 1), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    await log.close();
    const again = await open(dir);
    assert.equal(again.describeTopic('r').partitions[0]!.logStartOffset, all);
    assert.equal(again.describeTopic('r').partitions[0]!.logEndOffset, 100);
  });

  it('rolls an old active segment so that retention can remove it', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 1, config: { segmentMs: 1, retentionMs: 1 } });
    await log.append('t', 0, [rec('old', Date.now() - 10_000)]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const retention = log as unknown as { enforceRetention(now: number): void };
    retention.enforceRetention(Date.now());
    retention.enforceRetention(Date.now());
    const p = log.describeTopic('t').partitions[0]!;
    assert.equal(p.logStartOffset, 1);
    assert.equal(p.logEndOffset, 1);
  });
});

describe('waiting readers', () => {
  it('wakes on append, times out, and honours abort', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 1 });
    assert.equal(await log.waitForData('t', 0, 0, { timeoutMs: 10 }), false);
    const woken = log.waitForData('t', 0, 0, { timeoutMs: 5000 });
    await log.append('t', 0, [rec('x')]);
    assert.equal(await woken, true);
    assert.equal(await log.waitForData('t', 0, 0), true);
    const controller = new AbortController();
    const aborted = log.waitForData('t', 0, 1, { signal: controller.signal });
    controller.abort();
    assert.equal(await aborted, false);
  });

  it('releases waiters on close and refuses calls afterwards', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 1 });
    const waiting = log.waitForData('t', 0, 0);
    await log.close();
    assert.equal(await waiting, false);
    await assert.rejects(log.append('t', 0, [rec('x')]), { code: 'LOG_CLOSED' });
  });
});

describe('group offsets', () => {
  it('commits atomically, validates input and survives restart', async () => {
    const dir = tempDir();
    const log = await open(dir);
    await Promise.all([
      log.groups.commit('g', [{ topic: 'a', partition: 0, offset: 5 }]),
      log.groups.commit('g', [{ topic: 'a', partition: 1, offset: 7 }]),
      log.groups.commit('weird/group name', [{ topic: 'b', partition: 0, offset: 1 }]),
    ]);
    await assert.rejects(log.groups.commit('', []), { code: 'INVALID_GROUP_ID' });
    await assert.rejects(log.groups.commit('g', [{ topic: 'a', partition: 0, offset: -3 }]), {
      code: 'INVALID_COMMIT_OFFSET',
    });
    await log.close();
    const again = await open(dir);
    const g = again.groups.fetch('g');
    assert.equal(g.get('a')?.get(0)?.offset, 5);
    assert.equal(g.get('a')?.get(1)?.offset, 7);
    assert.deepEqual(again.groups.listGroups(), ['g', 'weird/group name']);
    await again.groups.deleteGroup('g');
    assert.equal(again.groups.fetch('g').size, 0);
  });
});
