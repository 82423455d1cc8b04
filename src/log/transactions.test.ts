// Transactions in the log: the last stable offset, read_committed reads, markers, fencing, timeouts, and what a
// restart (clean or not) recovers — the coordinator's journal and each partition's open and aborted transactions.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { isSluiceError } from '../errors.ts';
import { encodeRecordBatch, type IsolationLevel, type Log, openLog, type TransactionalProducer } from './index.ts';

const dirs: string[] = [];
const logs: Log[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-txn-'));
  dirs.push(dir);
  return dir;
}

async function open(dataDir: string): Promise<Log> {
  const log = await openLog({ dataDir });
  logs.push(log);
  return log;
}

async function close(log: Log): Promise<void> {
  logs.splice(logs.indexOf(log), 1);
  await log.close();
}

afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A transactional producer's batch, as a Kafka client encodes it. */
function txnBatch(producer: TransactionalProducer, sequence: number, ...values: string[]): Buffer {
  return encodeRecordBatch(
    values.map((v) => ({ key: null, value: Buffer.from(v) })),
    {
      producerId: producer.producerId,
      producerEpoch: producer.producerEpoch,
      baseSequence: sequence,
      transactional: true,
    },
  );
}

/** Every value a reader at `isolation` sees, page by page (one read stays within one segment). */
function values(log: Log, topic: string, partition: number, isolation: IsolationLevel): string[] {
  const out: string[] = [];
  for (let offset = log.describeTopic(topic).partitions[partition]!.logStartOffset; ; ) {
    const page = log.readRecords(topic, partition, offset, { isolation });
    for (const r of page.records) out.push(r.value!.toString());
    if (page.nextOffset === offset) return out;
    offset = page.nextOffset;
  }
}

const committed = (log: Log, topic: string, partition = 0) => values(log, topic, partition, 'read_committed');
const uncommitted = (log: Log, topic: string, partition = 0) => values(log, topic, partition, 'read_uncommitted');

async function rejectsWith(promise: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  await assert.rejects(
    async () => (typeof promise === 'function' ? promise() : promise),
    (error) => isSluiceError(error) && error.code === code,
  );
}

describe('transactions in the log', () => {
  it('holds the last stable offset at an open transaction and shows its records once it commits', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 1 });
    await log.append('t', 0, [{ key: null, value: Buffer.from('plain') }]);
    const producer = await log.transactions.initProducer('app-1', 60_000);
    await log.transactions.addPartitions(producer, [{ topic: 't', partition: 0 }]);
    log.transactions.verifyPartition(producer, 't', 0);
    await log.appendRaw('t', 0, txnBatch(producer, 0, 'a', 'b'));
    await log.append('t', 0, [{ key: null, value: Buffer.from('after') }]);

    const info = log.describeTopic('t').partitions[0]!;
    assert.equal(info.logEndOffset, 4);
    assert.equal(info.lastStableOffset, 1, 'the open transaction starts at offset 1');
    assert.deepEqual(committed(log, 't'), ['plain']);
    assert.deepEqual(uncommitted(log, 't'), ['plain', 'a', 'b', 'after']);
    const raw = log.readRaw('t', 0, 1, { isolation: 'read_committed' });
    assert.equal(raw.batches.length, 0);
    assert.equal(raw.nextOffset, 1);

    const woken = log.waitForData('t', 0, 1, { isolation: 'read_committed', timeoutMs: 10_000 });
    await log.transactions.endTransaction(producer, true);
    assert.equal(await woken, true);
    const after = log.describeTopic('t').partitions[0]!;
    assert.equal(after.logEndOffset, 5, 'the commit marker takes an offset');
    assert.equal(after.lastStableOffset, 5);
    assert.deepEqual(committed(log, 't'), ['plain', 'a', 'b', 'after']);
    assert.equal(log.transactions.describe('app-1')?.state, 'CompleteCommit');
  });

  it('skips an aborted transaction for read_committed readers, before and after a restart', async () => {
    const dir = tempDir();
    let log = await open(dir);
    await log.createTopic('t', { partitions: 1 });
    const producer = await log.transactions.initProducer('app', 60_000);
    await log.transactions.addPartitions(producer, [{ topic: 't', partition: 0 }]);
    await log.appendRaw('t', 0, txnBatch(producer, 0, 'x1', 'x2'));
    await log.transactions.endTransaction(producer, false);
    await log.transactions.addPartitions(producer, [{ topic: 't', partition: 0 }]);
    await log.appendRaw('t', 0, txnBatch(producer, 2, 'y1'));
    await log.transactions.endTransaction(producer, true);
    const raw = log.readRaw('t', 0, 0, { isolation: 'read_committed' });
    assert.deepEqual(raw.abortedTransactions, [{ producerId: producer.producerId, firstOffset: 0, lastOffset: 2 }]);
    assert.deepEqual(committed(log, 't'), ['y1']);
    assert.deepEqual(uncommitted(log, 't'), ['x1', 'x2', 'y1']);

    // Sealed in a segment of its own (its aborted index persisted), then a clean restart.
    (log as unknown as { roll(topic: string, partition: number): void }).roll('t', 0);
    await close(log);
    log = await open(dir);
    assert.deepEqual(committed(log, 't'), ['y1']);

    // An unclean restart: the active segment's index is rebuilt from its data.
    await log.transactions.addPartitions(producer, [{ topic: 't', partition: 0 }]);
    await log.appendRaw('t', 0, txnBatch(producer, 3, 'z1'));
    await log.transactions.endTransaction(producer, false);
    await close(log);
    fs.rmSync(path.join(dir, 'topics', 't', '0', '.clean-shutdown'));
    log = await open(dir);
    assert.deepEqual(committed(log, 't'), ['y1']);
    assert.deepEqual(uncommitted(log, 't'), ['x1', 'x2', 'y1', 'z1']);
    assert.equal(
      log.describeTopic('t').partitions[0]!.lastStableOffset,
      log.describeTopic('t').partitions[0]!.logEndOffset,
    );
  });

  it('fences an older instance of the same transactional id and aborts what it left open', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 2 });
    const zombie = await log.transactions.initProducer('app', 60_000);
    await log.transactions.addPartitions(zombie, [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ]);
    await log.appendRaw('t', 0, txnBatch(zombie, 0, 'zombie'));

    const successor = await log.transactions.initProducer('app', 60_000);
    assert.equal(successor.producerId, zombie.producerId);
    assert.ok(successor.producerEpoch > zombie.producerEpoch);
    assert.deepEqual(committed(log, 't'), [], "the zombie's open transaction was aborted");
    assert.equal(log.describeTopic('t').partitions[0]!.lastStableOffset, 2);

    await rejectsWith(log.transactions.addPartitions(zombie, [{ topic: 't', partition: 0 }]), 'PRODUCER_FENCED');
    await rejectsWith(log.transactions.endTransaction(zombie, true), 'PRODUCER_FENCED');
    await rejectsWith(() => log.transactions.verifyPartition(zombie, 't', 0), 'PRODUCER_FENCED');
    // The partition itself refuses the old epoch once a marker carried the new one.
    await rejectsWith(log.appendRaw('t', 0, txnBatch(zombie, 1, 'late')), 'INVALID_PRODUCER_EPOCH');

    await log.transactions.addPartitions(successor, [{ topic: 't', partition: 1 }]);
    await log.appendRaw('t', 1, txnBatch(successor, 0, 'fresh'));
    await log.transactions.endTransaction(successor, true);
    assert.deepEqual(committed(log, 't', 1), ['fresh']);
    await log.transactions.endTransaction(successor, true); // a retry whose answer was lost: the same outcome
    await rejectsWith(log.transactions.endTransaction(successor, false), 'INVALID_TXN_STATE');
  });

  it('refuses what does not fit: unknown ids, bad timeouts, writes outside the transaction', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 1 });
    await rejectsWith(log.transactions.initProducer('app', 0), 'INVALID_TRANSACTION_TIMEOUT');
    await rejectsWith(log.transactions.initProducer('app', 16 * 60_000), 'INVALID_TRANSACTION_TIMEOUT');
    const producer = await log.transactions.initProducer('app', 1000);
    const stranger = { ...producer, transactionalId: 'other' };
    await rejectsWith(
      log.transactions.addPartitions(stranger, [{ topic: 't', partition: 0 }]),
      'INVALID_PRODUCER_ID_MAPPING',
    );
    await rejectsWith(() => log.transactions.verifyPartition(producer, 't', 0), 'INVALID_TXN_STATE');
    await rejectsWith(
      log.transactions.addPartitions(producer, [{ topic: 't', partition: 7 }]),
      'UNKNOWN_TOPIC_OR_PARTITION',
    );
    await rejectsWith(log.transactions.endTransaction(producer, true), 'INVALID_TXN_STATE');
    await rejectsWith(
      log.transactions.commitOffsets(producer, 'g', [{ topic: 't', partition: 0, offset: 1 }]),
      'INVALID_TXN_STATE',
    );
    const control = encodeRecordBatch([{ key: null, value: null }], { control: true, transactional: true });
    await rejectsWith(log.appendRaw('t', 0, control), 'INVALID_RECORD');
  });

  it('commits group offsets with the transaction, and only when it commits', async () => {
    const log = await open(tempDir());
    await log.createTopic('in', { partitions: 1 });
    await log.createTopic('out', { partitions: 1 });
    const producer = await log.transactions.initProducer('ctp', 60_000);
    for (const [sequence, offset, commit] of [
      [0, 5, false],
      [1, 7, true],
    ] as const) {
      await log.transactions.addPartitions(producer, [{ topic: 'out', partition: 0 }]);
      await log.appendRaw('out', 0, txnBatch(producer, sequence, `out-${offset}`));
      await log.transactions.addGroup(producer, 'g');
      await log.transactions.commitOffsets(producer, 'g', [{ topic: 'in', partition: 0, offset }]);
      assert.equal(log.groups.fetchOne('g', 'in', 0), undefined, 'not before the transaction commits');
      await log.transactions.endTransaction(producer, commit);
    }
    assert.equal(log.groups.fetchOne('g', 'in', 0)?.offset, 7);
    assert.deepEqual(committed(log, 'out'), ['out-7']);
  });

  it('aborts a transaction that runs past its timeout, fencing its producer', async () => {
    const log = await open(tempDir());
    await log.createTopic('t', { partitions: 1 });
    const producer = await log.transactions.initProducer('slow', 100);
    await log.transactions.addPartitions(producer, [{ topic: 't', partition: 0 }]);
    await log.appendRaw('t', 0, txnBatch(producer, 0, 'stale'));
    assert.equal(
      await log.waitForData('t', 0, 0, { isolation: 'read_committed', timeoutMs: 30_000 }),
      true,
      'the abort moves the last stable offset',
    );
    assert.deepEqual(committed(log, 't'), []);
    while (log.transactions.describe('slow')?.state !== 'CompleteAbort') await new Promise((r) => setTimeout(r, 10));
    await rejectsWith(log.transactions.endTransaction(producer, true), 'PRODUCER_FENCED');
    // KIP-360: the producer may re-initialise with its last id and epoch and go on.
    const again = await log.transactions.initProducer('slow', 60_000, producer);
    assert.equal(again.producerId, producer.producerId);
  });

  it('keeps an open transaction across a restart and completes one a crash left committing', async () => {
    const dir = tempDir();
    let log = await open(dir);
    await log.createTopic('t', { partitions: 2 });
    const open1 = await log.transactions.initProducer('open', 60_000);
    await log.transactions.addPartitions(open1, [{ topic: 't', partition: 0 }]);
    await log.appendRaw('t', 0, txnBatch(open1, 0, 'pending'));
    const prepared = await log.transactions.initProducer('prepared', 60_000);
    await log.transactions.addPartitions(prepared, [{ topic: 't', partition: 1 }]);
    await log.appendRaw('t', 1, txnBatch(prepared, 0, 'decided'));
    const record = { ...log.transactions.describe('prepared')!, groups: [], updateTimeMs: Date.now() };
    await close(log);
    // A crash between PrepareCommit (durable) and the markers: the journal's last word is PrepareCommit.
    fs.appendFileSync(
      path.join(dir, 'transactions', 'transactions.jsonl'),
      `${JSON.stringify({ ...record, state: 'PrepareCommit' })}\n{"transactionalId":"torn`,
    );
    for (const p of ['0', '1']) fs.rmSync(path.join(dir, 'topics', 't', p, '.clean-shutdown'));
    log = await open(dir);
    assert.deepEqual(committed(log, 't', 1), ['decided'], 'the prepared commit was completed on open');
    assert.equal(log.transactions.describe('prepared')?.state, 'CompleteCommit');
    assert.equal(log.transactions.describe('open')?.state, 'Ongoing');
    assert.deepEqual(committed(log, 't', 0), [], 'still open after the restart');
    log.transactions.verifyPartition(open1, 't', 0);
    await log.transactions.endTransaction(open1, true);
    assert.deepEqual(committed(log, 't', 0), ['pending']);
  });

  it('aborts on open a transaction no coordinator record accounts for', async () => {
    const dir = tempDir();
    let log = await open(dir);
    await log.createTopic('t', { partitions: 1 });
    const orphan = { transactionalId: 'lost', producerId: 424242, producerEpoch: 3 };
    await log.appendRaw('t', 0, txnBatch(orphan, 0, 'orphan'));
    assert.equal(log.describeTopic('t').partitions[0]!.lastStableOffset, 0);
    await close(log);
    log = await open(dir);
    const info = log.describeTopic('t').partitions[0]!;
    assert.equal(info.lastStableOffset, info.logEndOffset);
    assert.deepEqual(committed(log, 't'), []);
  });

  it('knows what is open at a segment it rolled to', async () => {
    const dir = tempDir();
    let log = await open(dir);
    await log.createTopic('t', { partitions: 1 });
    const producer = await log.transactions.initProducer('roller', 60_000);
    await log.transactions.addPartitions(producer, [{ topic: 't', partition: 0 }]);
    await log.appendRaw('t', 0, txnBatch(producer, 0, 'first'));
    (log as unknown as { roll(topic: string, partition: number): void }).roll('t', 0);
    await log.append('t', 0, [{ key: null, value: Buffer.from('plain') }]);
    await close(log);
    fs.rmSync(path.join(dir, 'topics', 't', '0', '.clean-shutdown'));
    log = await open(dir);
    assert.equal(log.describeTopic('t').partitions[0]!.lastStableOffset, 0, 'the transaction is still open');
    await log.transactions.endTransaction(producer, false);
    assert.deepEqual(committed(log, 't'), ['plain']);
  });
});

describe("the log's transactional writer (two-phase commit)", () => {
  it('keeps a prepared transaction open across a restart, past its timeout, until it is committed', async () => {
    const dir = tempDir();
    let log = await open(dir);
    await log.createTopic('out', { partitions: 2 });
    const writer = await log.openTransactionalWriter('sink/0');
    await writer.append('out', 0, [{ key: null, value: Buffer.from('a') }]);
    await writer.append('out', 1, [{ key: null, value: Buffer.from('b') }]);
    await writer.append('out', 0, [{ key: null, value: Buffer.from('c') }]);
    await writer.append('out', 0, [{ key: null, value: Buffer.from('') }]);
    const prepared = await writer.prepare();
    assert.ok(prepared);
    await rejectsWith(writer.append('out', 0, [{ key: null, value: null }]), 'INVALID_TXN_STATE');
    assert.equal(log.transactions.describe('sink/0')?.prepared, true);
    assert.deepEqual(committed(log, 'out', 0), []);
    await close(log);
    log = await open(dir);
    assert.equal(log.transactions.describe('sink/0')?.state, 'Ongoing', 'a prepared transaction survives a restart');
    assert.deepEqual(log.transactionalIds('sink/'), ['sink/0']);
    assert.equal(await log.completePrepared(prepared, true), true);
    assert.deepEqual(committed(log, 'out', 0), ['a', 'c', '']);
    assert.deepEqual(committed(log, 'out', 1), ['b']);
    assert.equal(await log.completePrepared(prepared, true), true, 'committing twice changes nothing');
  });

  it('aborts what an earlier instance left open, prepared or not, when the id is opened again', async () => {
    const log = await open(tempDir());
    await log.createTopic('out', { partitions: 1 });
    const first = await log.openTransactionalWriter('sink/0');
    await first.append('out', 0, [{ key: null, value: Buffer.from('lost') }]);
    const prepared = await first.prepare();
    assert.ok(prepared);
    const second = await log.openTransactionalWriter('sink/0');
    assert.deepEqual(committed(log, 'out'), []);
    assert.equal(log.describeTopic('out').partitions[0]!.lastStableOffset, 2);
    assert.equal(await log.completePrepared(prepared, true), false, 'resolved by the later instance');
    await second.append('out', 0, [{ key: null, value: Buffer.from('kept') }]);
    assert.equal(await second.prepare().then((p) => p?.transactionalId), 'sink/0');
    await second.commit();
    assert.deepEqual(committed(log, 'out'), ['kept']);
  });
});
