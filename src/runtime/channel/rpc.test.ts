// The typed call protocol: a round trip of every log operation through the table both ends are typed from, an
// operation the table does not have refused, errors carried with their codes, and — checked by the compiler — a
// call or a handler with a wrong argument or result, or a worker message with a wrong field, does not compile.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { encodeRecordBatch, type Log, openLog } from '../../log/index.ts';
import { type Endpoint, type FromWorker, hostEndpoint, type ToWorker, workerEndpoint } from '../protocol.ts';
import { LOG_CHANNEL, LOG_OPERATIONS, type LogOperations } from './log-operations.ts';
import { type Port, threadPort } from './ports.ts';
import { op, RpcClient, serveRpc } from './rpc.ts';
import { serveLog } from './serve-log.ts';

let dir: string;
let log: Log;
const closers: (() => void)[] = [];
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-rpc-'));
  log = await openLog({ dataDir: dir });
});
after(async () => {
  for (const close of closers) close();
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Two ends of a message channel, as a thread and its owner have. */
function ports(): [Port, Port] {
  const { port1, port2 } = new MessageChannel();
  closers.push(() => port1.close());
  return [threadPort(port1), threadPort(port2)];
}

it('round-trips every log operation', async () => {
  const [owner, worker] = ports();
  const server = serveLog(owner, log);
  const client = new RpcClient<LogOperations>(worker, LOG_CHANNEL);
  const called = new Set<string>();
  const call: typeof client.call = (name, ...args) => {
    called.add(name);
    return client.call(name, ...args);
  };

  const created = await call('createTopic', 'rpc', { partitions: 2 });
  assert.equal(created.partitions.length, 2);
  assert.ok((await call('topics')).some((t) => t.name === 'rpc'));
  const batch = (value: string) => encodeRecordBatch([{ key: null, value: Buffer.from(value), timestamp: 1_000 }]);
  const first = await call('appendRaw', 'rpc', 0, batch('a'), true);
  assert.deepEqual([first.baseOffset, first.lastOffset], [0, 0]);
  const many = await call('appendMany', [
    ['rpc', 0, batch('b'), false],
    ['rpc', 9, batch('x'), false],
    ['rpc', 1, batch('c'), false],
  ]);
  assert.equal(many[0]!.error, undefined);
  assert.equal(many[1]!.error?.code, 'UNKNOWN_TOPIC_OR_PARTITION');
  assert.equal(many[2]!.error, undefined);
  await call('flush', 'rpc');
  const page = await call('readRaw', 'rpc', 0, 0, 1 << 20, false, []);
  assert.equal(page.nextOffset, 2);
  assert.ok(page.batches!.length > 0);
  assert.equal(await call('offsetForTimestamp', 'rpc', 0, 500), 0);
  const waited = await call('waitForData', 'rpc', 0, 0, 10);
  assert.equal(waited.ready, true);
  assert.equal(waited.info.partitions[0]!.logEndOffset, 2);
  await call('truncate', 'rpc', 0, 1);
  assert.equal(log.describeTopic('rpc').partitions[0]!.logEndOffset, 1);
  assert.equal(await call('purgeBefore', 'rpc', 0, 1), 0, 'one segment: nothing to delete');

  // A transactional writer by its handle: an append into its transaction, prepared, completed from its ids.
  const writer = await call('openTransactionalWriter', 'rpc-txn');
  const inTxn = await call('appendRaw', 'rpc', 1, batch('t'), false, writer, 'none');
  assert.equal(inTxn.baseOffset, 1);
  const committed = await call('readRaw', 'rpc', 1, 1, 1 << 20, false, [], 'read_committed');
  assert.equal(committed.nextOffset, 1, 'read committed: not past the open transaction');
  const prepared = await call('prepareTransaction', writer);
  assert.equal(prepared?.transactionalId, 'rpc-txn');
  assert.deepEqual(await call('transactionalIds', 'rpc-'), ['rpc-txn']);
  const completed = await call('completePrepared', prepared!, true);
  assert.equal(completed.completed, true);
  assert.equal(completed.topics[0]!.partitions[1]!.lastStableOffset, 3, 'after the commit marker');
  const other = await call('openTransactionalWriter', 'rpc-other');
  const [inOther] = await call('appendMany', [['rpc', 1, batch('u'), false, other, 'gzip']]);
  assert.equal(inOther?.error ? inOther.error.code : inOther?.value.baseOffset, 3);
  const aborted = await call('endTransaction', other, false);
  assert.equal(aborted.topics[0]!.partitions[1]!.lastStableOffset, 5);
  const waitedCommitted = await call('waitForData', 'rpc', 1, 4, 10, 'read_committed');
  assert.equal(waitedCommitted.ready, true);

  assert.deepEqual([...called].sort(), Object.keys(LOG_OPERATIONS).sort(), 'every operation of the table');
  await server.drain();
  server.close();
});

it('carries errors with their codes, and refuses an operation the table does not have', async () => {
  const [owner, worker] = ports();
  const server = serveLog(owner, log);
  const client = new RpcClient<LogOperations>(worker, LOG_CHANNEL);
  await assert.rejects(client.call('truncate', 'no-such-topic', 0, 0), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
  const reply = new Promise<unknown>((resolve) => worker.listen(resolve));
  worker.post({ kind: LOG_CHANNEL, id: 99, op: 'deleteEverything', args: [] });
  assert.deepEqual(await reply, {
    kind: 'log-reply',
    id: 99,
    error: { code: 'INVALID_REQUEST', message: 'unknown log operation "deleteEverything"', details: {} },
  });
  server.close();
});

it('types both ends of any table', async () => {
  const TABLE = { add: op<[a: number, b: number], number>(), hello: op<[name: string], string>() };
  const [server, caller] = ports();
  serveRpc(server, 'math', TABLE, { add: (a, b) => a + b, hello: (name) => `hello ${name}` });
  const client = new RpcClient<typeof TABLE>(caller, 'math');
  assert.equal(await client.call('add', 2, 3), 5);
  assert.equal(await client.call('hello', 'world'), 'hello world');

  // Compile-time only (tsc checks these lines; they never run).
  const never = false as boolean;
  if (never) {
    // @ts-expect-error a string where the table says number
    await client.call('add', 2, 'three');
    // @ts-expect-error an argument too few
    await client.call('add', 2);
    // @ts-expect-error an operation the table does not have
    await client.call('subtract', 2, 1);
    // @ts-expect-error the result is a number, not a string
    const text: string = await client.call('add', 1, 1);
    void text;
    // @ts-expect-error a handler taking the wrong argument type
    serveRpc(server, 'math', TABLE, { add: (a: string, _b: number) => a, hello: (name) => name });
    // @ts-expect-error a handler giving the wrong result type
    serveRpc(server, 'math', TABLE, { add: () => 'five', hello: (name) => name });
    // @ts-expect-error a handler missing
    serveRpc(server, 'math', TABLE, { add: (a, b) => a + b });
    const logClient = new RpcClient<LogOperations>(caller, LOG_CHANNEL);
    // @ts-expect-error truncate takes (topic, partition, offset): an offset is a number
    await logClient.call('truncate', 'topic', 0, '12');
    // @ts-expect-error appendMany takes a list of appends
    await logClient.call('appendMany', ['topic', 0, new Uint8Array(), true]);
    const host: Endpoint<ToWorker, FromWorker> = hostEndpoint(caller);
    // @ts-expect-error partitions is a list of numbers
    host.send({ kind: 'assign', partitions: 'all' });
    // @ts-expect-error the host has no such message for a worker
    host.send({ kind: 'report', pipelines: [] });
    const worker = workerEndpoint(server);
    // @ts-expect-error a failure needs its phase
    worker.send({ kind: 'failed', error: { code: 'X', message: 'x' } });
  }
});

it("delivers each side's messages to a handler per kind, and lets the others pass", async () => {
  const [hostPort, workerPort] = ports();
  const host = hostEndpoint(hostPort);
  const worker = workerEndpoint(workerPort);
  const assigned = new Promise<number[]>((resolve) => worker.on({ assign: (message) => resolve(message.partitions) }));
  const built = new Promise<void>((resolve) => host.on({ built: () => resolve() }));
  host.send({ kind: 'assign', partitions: [1, 3] });
  worker.send({ kind: 'built' });
  assert.deepEqual(await assigned, [1, 3]);
  await built;
});
