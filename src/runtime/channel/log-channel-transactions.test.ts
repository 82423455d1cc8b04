// Transactions over the log channel: a worker's transactional writers are the owner's (by handle), its reads and
// waits go to the owner's log at their isolation level, and its cached topic metadata follows the last stable
// offset — so a pipeline in a worker writes and reads exactly as one on the embedded log does.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { type Log, openLog, type ReadOptions } from '../../log/index.ts';
import { type Port, RemoteLog, serveLog, threadPort } from './index.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function tempLog(): Promise<Log> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-channel-txn-'));
  const log = await openLog({ dataDir: dir });
  cleanups.push(
    () => fs.rmSync(dir, { recursive: true, force: true }),
    () => log.close(),
  );
  return log;
}

interface Channel {
  remote: RemoteLog;
  /** Ends the channel, as a worker's exit does. */
  close(): void;
}

/**
 * `owner` served to a worker over a message channel: as to a task thread, or (`transfers: false`) as over a worker
 * process's IPC channel, which moves no buffers and lends no pages.
 */
async function channelTo(
  owner: Log,
  options: { transfers?: boolean; renames?: Record<string, string> } = {},
): Promise<Channel> {
  const { port1, port2 } = new MessageChannel();
  const asPort = (port: MessagePort): Port => {
    const base = threadPort(port);
    if (options.transfers !== false) return base;
    return {
      post: (message) => base.post(message),
      listen: (listener) => base.listen(listener),
      onClose: (listener) => base.onClose(listener),
      get open() {
        return base.open;
      },
      transfers: false,
    };
  };
  const server = serveLog(asPort(port1), owner, options.renames);
  const remote = new RemoteLog(asPort(port2));
  const close = () => {
    server.close();
    port1.close();
  };
  cleanups.push(close);
  await remote.refresh();
  return { remote, close };
}

const record = (value: string, timestamp = 1) => ({ key: null, value: Buffer.from(value), timestamp });
const values = (records: { value: Buffer | null }[]) => records.map((r) => String(r.value));
const COMMITTED: ReadOptions = { isolation: 'read_committed' };

/** Resolves to the state of `promise` after the owner had time to answer. */
async function settledSoon<T>(promise: Promise<T>): Promise<'pending' | T> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 50))]);
}

for (const transfers of [true, false]) {
  const over = transfers ? 'a thread' : 'a process';
  it(`over ${over}: a transaction's records reach read_committed readers when it commits, not before`, async () => {
    const log = await tempLog();
    await log.createTopic('out', { partitions: 2 });
    const { remote } = await channelTo(log, { transfers });
    const writer = await remote.openTransactionalWriter('sink/out/0');
    assert.equal(writer.transactionalId, 'sink/out/0');
    const [first, second] = await Promise.all([
      writer.append('out', 0, [record('a0'), record('a1')]),
      writer.append('out', 1, [record('b0')], { compression: 'gzip' }),
    ]);
    assert.deepEqual([first!.baseOffset, first!.lastOffset, second!.baseOffset], [0, 1, 0]);
    const prepared = await writer.prepare();
    assert.equal(prepared?.transactionalId, 'sink/out/0');

    for (const partition of [0, 1]) {
      const raw = await remote.readRaw('out', partition, 0, COMMITTED);
      assert.deepEqual([raw.batches.length, raw.nextOffset, raw.lastStableOffset], [0, 0, 0]);
      assert.deepEqual(raw.abortedTransactions, []);
      const read = await remote.readRecords('out', partition, 0, COMMITTED);
      assert.deepEqual([read.records.length, read.nextOffset, read.lastStableOffset], [0, 0, 0]);
      assert.ok((await remote.readRecords('out', partition, 0)).records.length > 0, 'read_uncommitted sees them');
    }
    assert.equal(remote.describeTopic('out').partitions[0]!.lastStableOffset, 0);
    assert.equal(remote.describeTopic('out').partitions[0]!.logEndOffset, 2);

    // A read_committed wait resolves with the commit; one read uncommitted already has its data.
    const waiting = remote.waitForData('out', 0, 0, { isolation: 'read_committed', timeoutMs: 5000 });
    assert.equal(await remote.waitForData('out', 0, 0, { timeoutMs: 10 }), true);
    assert.equal(await settledSoon(waiting), 'pending');
    await writer.commit();
    assert.equal(await waiting, true);

    // The commit answered with the topics it ended: the cache has their new last stable offsets (past the markers).
    const cached = remote.describeTopic('out').partitions;
    assert.deepEqual(
      cached.map((p) => [p.logEndOffset, p.lastStableOffset]),
      log.describeTopic('out').partitions.map((p) => [p.logEndOffset, p.lastStableOffset]),
    );
    assert.deepEqual(
      cached.map((p) => p.lastStableOffset),
      [3, 2],
    );
    assert.deepEqual(values((await remote.readRecords('out', 0, 0, COMMITTED)).records), ['a0', 'a1']);
    assert.deepEqual(values((await remote.readRecords('out', 1, 0, COMMITTED)).records), ['b0']);
    assert.equal((await remote.readRaw('out', 0, 0, COMMITTED)).nextOffset, 3, 'the marker read past too');
    const onOwner = log.readRaw('out', 1, 0, COMMITTED).batches;
    assert.ok(onOwner.length > 0, 'the owner has the gzip batch');

    // The writer goes on: its next transaction, then a plain append moves the cached last stable offset along.
    await writer.append('out', 0, [record('a2')]);
    await writer.commit();
    await remote.append('out', 0, [record('plain')]);
    assert.deepEqual(values((await remote.readRecords('out', 0, 0, COMMITTED)).records), ['a0', 'a1', 'a2', 'plain']);
    const end = remote.describeTopic('out').partitions[0]!;
    assert.deepEqual([end.logEndOffset, end.lastStableOffset], [6, 6]);
  });

  it(`over ${over}: an aborted transaction is never read committed; its reads list it`, async () => {
    const log = await tempLog();
    await log.createTopic('out', { partitions: 1 });
    const { remote } = await channelTo(log, { transfers });
    const writer = await remote.openTransactionalWriter('sink/out/0');
    await writer.append('out', 0, [record('gone0'), record('gone1')]);
    await writer.abort();
    await remote.append('out', 0, [record('after')]);
    const raw = await remote.readRaw('out', 0, 0, COMMITTED);
    assert.equal(raw.abortedTransactions?.length, 1);
    assert.deepEqual(
      [raw.abortedTransactions![0]!.firstOffset, raw.abortedTransactions![0]!.lastOffset],
      [0, 2],
      'from its first record to its marker',
    );
    assert.equal(raw.nextOffset, 4);
    assert.deepEqual(values((await remote.readRecords('out', 0, 0, COMMITTED)).records), ['after']);
    assert.deepEqual(values((await remote.readRecords('out', 0, 0)).records), ['gone0', 'gone1', 'after']);
    assert.equal(await remote.waitForData('out', 0, 3, { isolation: 'read_committed', timeoutMs: 10 }), true);
  });
}

it('never serves a read_committed read a page read ahead uncommitted', async () => {
  const log = await tempLog();
  await log.createTopic('in', { partitions: 1 });
  await log.append('in', 0, [record('plain')]);
  const { remote } = await channelTo(log);
  const writer = await remote.openTransactionalWriter('sink/in/0');
  await writer.append('in', 0, [record('open0')]);
  await writer.append('in', 0, [record('open1')]);
  await writer.prepare(); // flushed: the high watermark is past them

  // One batch a page: the uncommitted read of offset 0 reads offset 1's page ahead, with the open transaction in it.
  const page = await remote.readRaw('in', 0, 0, { maxBytes: 1 });
  assert.equal(page.nextOffset, 1);
  const committed = await remote.readRaw('in', 0, 1, { maxBytes: 1, isolation: 'read_committed' });
  assert.deepEqual([committed.batches.length, committed.nextOffset, committed.lastStableOffset], [0, 1, 1]);
  // And the other way round: a committed page is never handed to an uncommitted read.
  const uncommitted = await remote.readRaw('in', 0, 1, { maxBytes: 1 });
  assert.equal(uncommitted.nextOffset, 2);
  await writer.abort();
});

it('reads committed ahead only up to the last stable offset', async () => {
  const log = await tempLog();
  await log.createTopic('in', { partitions: 1 });
  for (let i = 0; i < 3; i++) await log.append('in', 0, [record(`c${i}`)]);
  const reads: { offset: number; isolation: string | undefined }[] = [];
  const owner = new Proxy(log, {
    get: (object, name) =>
      name === 'readRaw'
        ? (topic: string, partition: number, offset: number, options: ReadOptions = {}) => {
            reads.push({ offset, isolation: options.isolation });
            return log.readRaw(topic, partition, offset, options);
          }
        : Reflect.get(object, name),
  });
  const { remote } = await channelTo(owner);
  const writer = await remote.openTransactionalWriter('sink/in/0');
  for (let i = 0; i < 3; i++) await writer.append('in', 0, [record(`t${i}`)]);
  await writer.prepare();
  let offset = 0;
  const read: string[] = [];
  for (;;) {
    const page = await remote.readRecords('in', 0, offset, { maxBytes: 1, isolation: 'read_committed' });
    if (page.nextOffset === offset) break;
    read.push(...values(page.records));
    offset = page.nextOffset;
  }
  assert.deepEqual(read, ['c0', 'c1', 'c2']);
  assert.deepEqual(
    reads.map((r) => `${r.offset}:${r.isolation}`),
    ['0:read_committed', '1:read_committed', '2:read_committed', '3:read_committed'],
    'each page read once (ahead), none past the last stable offset but the one that found it',
  );
  await writer.abort();
});

it("keeps a worker's prepared transaction when it goes, for the next one to commit from its ids", async () => {
  const log = await tempLog();
  await log.createTopic('out', { partitions: 2 });
  const first = await channelTo(log);
  const prepared = await first.remote.openTransactionalWriter('sink/out/0');
  await prepared.append('out', 0, [record('kept')]);
  const recorded = await prepared.prepare();
  assert.ok(recorded);
  const open = await first.remote.openTransactionalWriter('sink/out/1');
  await open.append('out', 1, [record('left open')]);

  first.close(); // the worker is gone: its handles are dropped, nothing aborted
  await new Promise((resolve) => setTimeout(resolve, 20));
  await assert.rejects(prepared.commit(), { code: 'LOG_CLOSED' });
  assert.equal(log.transactions.describe('sink/out/0')?.state, 'Ongoing');
  assert.equal(log.transactions.describe('sink/out/0')?.prepared, true);
  assert.equal(log.transactions.describe('sink/out/1')?.state, 'Ongoing');

  // The next instance: the ids it finds, the prepared transaction committed from what its checkpoint recorded,
  // and the id whose transaction was left open opened again, which aborts it.
  const next = (await channelTo(log)).remote;
  assert.deepEqual((await next.transactionalIds('sink/out/')).sort(), ['sink/out/0', 'sink/out/1']);
  assert.deepEqual(await next.transactionalIds('other/'), []);
  assert.equal(next.describeTopic('out').partitions[0]!.lastStableOffset, 0);
  assert.equal(await next.completePrepared(recorded, true), true);
  assert.equal(next.describeTopic('out').partitions[0]!.lastStableOffset, 2, 'its reply refreshed the cache');
  assert.equal(await next.completePrepared(recorded, true), true, 'committing again does nothing');
  assert.deepEqual(values((await next.readRecords('out', 0, 0, COMMITTED)).records), ['kept']);
  const reopened = await next.openTransactionalWriter('sink/out/1');
  assert.equal(log.describeTopic('out').partitions[1]!.lastStableOffset, 2, 'aborted: its record and the marker');
  assert.deepEqual(values((await next.readRecords('out', 1, 0, COMMITTED)).records), []);
  await reopened.append('out', 1, [record('new')]);
  await reopened.commit();
  assert.deepEqual(values((await next.readRecords('out', 1, 0, COMMITTED)).records), ['new']);

  // A later instance of the id aborted it: the recorded transaction is reported lost.
  const lost = await next.openTransactionalWriter('sink/out/2');
  await lost.append('out', 0, [record('lost')]);
  const lostRecord = await lost.prepare();
  await next.openTransactionalWriter('sink/out/2');
  assert.equal(await next.completePrepared(lostRecord!, true), false);
  assert.deepEqual(values((await next.readRecords('out', 0, 0, COMMITTED)).records), ['kept']);
});

it('fences a writer when its transactional id is opened again, on the same channel or another', async () => {
  const log = await tempLog();
  await log.createTopic('out', { partitions: 1 });
  const { remote } = await channelTo(log);
  const old = await remote.openTransactionalWriter('sink/out/0');
  await old.append('out', 0, [record('zombie')]);
  const current = await remote.openTransactionalWriter('sink/out/0');
  await assert.rejects(old.append('out', 0, [record('late')]), { code: 'PRODUCER_FENCED' });
  await assert.rejects(old.commit(), { code: 'PRODUCER_FENCED' });
  await current.append('out', 0, [record('live')]);
  const elsewhere = (await channelTo(log)).remote;
  await elsewhere.openTransactionalWriter('sink/out/0');
  await assert.rejects(current.commit(), { code: 'PRODUCER_FENCED' });
  assert.deepEqual(values((await remote.readRecords('out', 0, 0, COMMITTED)).records), []);
});

it("writes a renamed worker's transactions to the real topics, under transactional ids of its own", async () => {
  const log = await tempLog();
  await log.createTopic('out', { partitions: 1 });
  await log.createTopic('out.v2', { partitions: 1 });
  const live = (await channelTo(log)).remote;
  const replay = (await channelTo(log, { renames: { out: 'out.v2' } })).remote;
  // The same sink in both, so the same transactional id: neither fences the other.
  const liveWriter = await live.openTransactionalWriter('sink/out/0');
  const replayWriter = await replay.openTransactionalWriter('sink/out/0');
  await liveWriter.append('out', 0, [record('live')]);
  await replayWriter.append('out', 0, [record('replayed')]);
  const prepared = await replayWriter.prepare();
  assert.equal(prepared?.transactionalId, 'sink/out/0', 'the worker sees its own id');
  await liveWriter.commit();
  assert.equal(await replay.completePrepared(prepared!, true), true);
  assert.deepEqual(await replay.transactionalIds('sink/'), ['sink/out/0']);
  assert.deepEqual(await live.transactionalIds('sink/'), ['sink/out/0']);
  assert.equal(log.transactionalIds('').length, 2);

  assert.deepEqual(values(log.readRecords('out', 0, 0, COMMITTED).records), ['live']);
  assert.deepEqual(values(log.readRecords('out.v2', 0, 0, COMMITTED).records), ['replayed']);
  assert.deepEqual(values((await replay.readRecords('out', 0, 0, COMMITTED)).records), ['replayed']);
  assert.equal(replay.describeTopic('out').partitions[0]!.lastStableOffset, 2, 'the cache under the name it knows');
});

it('refuses malformed transactional calls', async () => {
  const log = await tempLog();
  await log.createTopic('out', { partitions: 1 });
  const { remote } = await channelTo(log);
  await assert.rejects(remote.openTransactionalWriter(42 as unknown as string), { code: 'INVALID_REQUEST' });
  await assert.rejects(remote.openTransactionalWriter(''), { code: 'INVALID_REQUEST' });
  await assert.rejects(remote.completePrepared({ transactionalId: 'x' } as never, true), {
    code: 'INVALID_REQUEST',
  });
  const writer = await remote.openTransactionalWriter('sink/out/0');
  await assert.rejects(writer.append('out', 0, [record('x')], { compression: 'rot13' as never }), {
    code: 'INVALID_REQUEST',
  });
  await assert.rejects(writer.append('out', 3, [record('x')]), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
});
