// The log channel between the log's owner and a task thread: pages read ahead while there is a backlog, lent in
// shared slots the thread gives back (read into again), or moved to the thread when they are not lent.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { decodeRecordBatches, type Log, openLog, type ReadOptions } from '../../log/index.ts';
import { type LogPort, RemoteLog, serveLog, threadPort } from './index.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** `target` with some of its methods replaced, to watch the calls a test is about. */
function overriding<T extends object>(target: T, methods: Partial<T>): T {
  return new Proxy(target, {
    get: (object, name) => (name in methods ? methods[name as keyof T] : Reflect.get(object, name)),
  });
}

async function tempLog(): Promise<Log> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-channel-'));
  const log = await openLog({ dataDir: dir });
  cleanups.push(
    () => fs.rmSync(dir, { recursive: true, force: true }),
    () => log.close(),
  );
  return log;
}

/** `owner` served over a message channel, as to a task thread; the thread's side (its port seen through `wrap`). */
async function channelTo(owner: Log, wrap = (port: LogPort) => port): Promise<RemoteLog> {
  const { port1, port2 } = new MessageChannel();
  const server = serveLog(threadPort(port1), owner);
  const remote = new RemoteLog(wrap(threadPort(port2)));
  cleanups.push(() => {
    server.close();
    port1.close();
  });
  await remote.refresh();
  return remote;
}

it('lends pages in shared slots that come back for later reads; moves the pages it does not lend', async () => {
  const log = await tempLog();
  await log.createTopic('in', { partitions: 1 });
  for (let i = 0; i < 40; i++) {
    await log.append('in', 0, [{ key: null, value: Buffer.alloc(1000, 97 + (i % 26)), timestamp: i }]);
  }
  // The owner's reads: whether each was given memory to read into, and whether that memory had held a page before.
  const given: ('none' | 'fresh' | 'used')[] = [];
  const owner = overriding(log, {
    readRaw: (topic: string, partition: number, offset: number, options: ReadOptions = {}) => {
      const into = options.into;
      given.push(into === undefined ? 'none' : into.some((byte) => byte !== 0) ? 'used' : 'fresh');
      return log.readRaw(topic, partition, offset, options);
    },
  });
  const remote = await channelTo(owner);
  const letters = (batches: Buffer, from: number) =>
    decodeRecordBatches(batches, from)
      .map((r) => String.fromCharCode(r.value![0]!))
      .join('');
  const expected = Array.from({ length: 40 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');

  // Lent: each page in a shared slot, given back once read; the slots are read into again.
  let offset = 0;
  let read = '';
  while (offset < 40) {
    const page = await remote.readRaw('in', 0, offset, { maxBytes: 4000, lend: true });
    assert.ok(page.batches.buffer instanceof SharedArrayBuffer);
    read += letters(page.batches, offset);
    offset = page.nextOffset;
    remote.release(page.batches);
  }
  assert.equal(read, expected);
  assert.ok(given.length >= 10 && !given.includes('none'), `${given}`);
  assert.ok(given.slice(2).includes('used'), `later reads use slots given back: ${given}`);
  const slotsMade = given.filter((g) => g === 'fresh').length;
  assert.ok(slotsMade <= 3, `a page held and one read ahead need few slots: ${given}`);

  // Not lent (decoded records, whose views outlive the read): moved in memory of their own, never a slot.
  given.length = 0;
  const records = await remote.readRecords('in', 0, 0, { maxBytes: 4000 });
  assert.ok(!(records.records[0]!.value!.buffer instanceof SharedArrayBuffer));
  assert.equal(
    records.records.map((r) => String.fromCharCode(r.value![0]!)).join(''),
    expected.slice(0, records.records.length),
  );
  assert.ok(given.length >= 1 && given.every((g) => g === 'none'), `${given}`); // its read ahead too
});

it('a read too large for a slot moves instead, and the slot it did not use still reaches the thread later', async () => {
  const log = await tempLog();
  await log.createTopic('big', { partitions: 1 });
  for (let i = 0; i < 3; i++)
    await log.append('big', 0, [{ key: null, value: Buffer.alloc(600 << 10, 120), timestamp: i }]);
  await log.append('big', 0, [{ key: null, value: Buffer.from('small'), timestamp: 3 }]);
  const remote = await channelTo(log);
  const big = await remote.readRaw('big', 0, 0, { maxBytes: 4 << 20, lend: true });
  assert.ok(!(big.batches.buffer instanceof SharedArrayBuffer), 'larger than a slot: moved');
  assert.equal(decodeRecordBatches(big.batches, 0).length, 4);
  const small = await remote.readRaw('big', 0, 3, { maxBytes: 4096, lend: true });
  assert.ok(small.batches.buffer instanceof SharedArrayBuffer, 'lent in the slot the large read left unused');
  assert.equal(String(decodeRecordBatches(small.batches, 3)[0]!.value), 'small');
  remote.release(small.batches);
});

it("moves an append's batch to the owner alone, not the shared buffer pool it would be a slice of", async () => {
  const log = await tempLog();
  await log.createTopic('out', { partitions: 1 });
  const received: number[] = [];
  const owner = overriding(log, {
    appendRaw: (topic: string, partition: number, batch: Buffer) => {
      received.push(batch.buffer.byteLength - batch.length);
      return log.appendRaw(topic, partition, batch);
    },
  });
  const remote = await channelTo(owner);
  // Small enough that an ordinary Buffer.allocUnsafe would slice it from Node's pool.
  const records = Array.from({ length: 20 }, (_, i) => ({ key: null, value: Buffer.from(`r${i}`), timestamp: i }));
  assert.ok(Buffer.allocUnsafe(200).buffer.byteLength > 200, 'small buffers come from a shared pool');
  const result = await remote.append('out', 0, records);
  assert.deepEqual([result.baseOffset, result.lastOffset], [0, 19]);
  assert.deepEqual(received, [0], 'the owner got exactly the batch: no pool around it was copied');
  const read = log.readRecords('out', 0, 0);
  assert.deepEqual(
    read.records.map((r) => r.value?.toString()),
    records.map((r) => r.value.toString()),
  );
});

it("passes an append's durability to the owner, and flush() to the owner's log", async () => {
  const log = await tempLog();
  await log.createTopic('out', { partitions: 1 });
  const calls: string[] = [];
  const owner = overriding(log, {
    appendRaw: (topic: string, partition: number, batch: Buffer, options?: { durable?: boolean }) => {
      calls.push(`appendRaw durable=${options?.durable}`);
      return log.appendRaw(topic, partition, batch, options);
    },
    flush: (topic: string) => {
      calls.push(`flush ${topic}`);
      return log.flush(topic);
    },
  });
  const remote = await channelTo(owner);
  const record = { key: null, value: Buffer.from('v'), timestamp: 1 };
  await remote.append('out', 0, [record], { durable: false });
  await remote.append('out', 0, [record]);
  await remote.flush('out');
  assert.deepEqual(calls, ['appendRaw durable=false', 'appendRaw durable=true', 'flush out']);
  assert.equal(log.describeTopic('out').partitions[0]!.logEndOffset, 2);
});

it("sends a turn's appends to the owner in one message, each settling on its own, in order", async () => {
  const log = await tempLog();
  await log.createTopic('out', { partitions: 3 });
  const ops: string[] = [];
  const remote = await channelTo(log, (port) =>
    overriding(port, {
      post: (message: object, transfer?: ArrayBuffer[]) => {
        ops.push((message as { op: string }).op);
        port.post(message, transfer);
      },
    }),
  );
  const records = (tag: string) =>
    Array.from({ length: 3 }, (_, i) => ({ key: null, value: Buffer.from(`${tag}${i}`), timestamp: i }));
  ops.length = 0;

  // Five appends in one turn, two to the same partition, one to a partition that does not exist.
  const made = await Promise.allSettled([
    remote.append('out', 0, records('a')),
    remote.append('out', 1, records('b')),
    remote.append('out', 7, records('x')),
    remote.append('out', 0, records('c')),
    remote.append('out', 2, records('d'), { durable: false }),
  ]);
  assert.deepEqual(ops, ['appendMany']);
  const offsets = made.map((m) =>
    m.status === 'fulfilled' ? [m.value.baseOffset, m.value.lastOffset] : m.reason.code,
  );
  assert.deepEqual(offsets, [[0, 2], [0, 2], 'UNKNOWN_TOPIC_OR_PARTITION', [3, 5], [0, 2]]);
  await log.flush('out');
  const values = (partition: number) => log.readRecords('out', partition, 0).records.map((r) => String(r.value));
  assert.deepEqual(values(0), ['a0', 'a1', 'a2', 'c0', 'c1', 'c2'], "a partition's appends keep their order");
  assert.deepEqual(values(2), ['d0', 'd1', 'd2']);

  // Appends in turns of their own go alone, as before.
  ops.length = 0;
  await remote.append('out', 1, records('e'));
  await remote.append('out', 1, records('f'));
  assert.deepEqual(ops, ['appendRaw', 'appendRaw']);
  assert.deepEqual(values(1), ['b0', 'b1', 'b2', 'e0', 'e1', 'e2', 'f0', 'f1', 'f2']);

  // A call of another kind in the same turn does not overtake them: this flush covers both appends.
  ops.length = 0;
  const deferred = [remote.append('out', 2, records('g'), { durable: false })];
  deferred.push(remote.append('out', 1, records('h'), { durable: false }));
  await remote.flush('out');
  assert.deepEqual(ops, ['appendMany', 'flush']);
  assert.deepEqual(values(2), ['d0', 'd1', 'd2', 'g0', 'g1', 'g2'], 'flushed: synced and shown');
  assert.equal(values(1).length, 12);
  await Promise.all(deferred);
});

it('purges across the channel: the owner deletes whole segments and the thread learns the new start', async () => {
  const log = await tempLog();
  await log.createTopic('purged', { partitions: 1, config: { segmentBytes: 1024 } });
  for (let i = 0; i < 20; i++) {
    await log.append('purged', 0, [{ key: null, value: Buffer.alloc(200, i), timestamp: i }]);
  }
  const remote = await channelTo(log);
  const start = await remote.purgeBefore('purged', 0, 15);
  assert.ok(start > 0 && start <= 15, `start ${start}`);
  assert.equal(start, log.describeTopic('purged').partitions[0]!.logStartOffset);
  assert.equal(remote.describeTopic('purged').partitions[0]!.logStartOffset, start);
  const page = await remote.readRecords('purged', 0, start);
  assert.equal(page.records[0]?.offset, start);
});
