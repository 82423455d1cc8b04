// The log channel between the log's owner and a task thread: pages move to the thread, read ahead while there is
// a backlog, and the memory a thread gives back is what the owner reads the next pages into.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { decodeRecordBatches, openLog, type ReadOptions } from '../log/index.ts';
import { RemoteLog, serveLog, threadPort } from './log-channel.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it('moves pages to the thread, and reads the next ones into the memory the thread gave back', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-channel-'));
  const log = await openLog({ dataDir: dir });
  cleanups.push(
    () => fs.rmSync(dir, { recursive: true, force: true }),
    () => log.close(),
  );
  await log.createTopic('in', { partitions: 1 });
  for (let i = 0; i < 40; i++) {
    await log.append('in', 0, [{ key: null, value: Buffer.alloc(1000, 97 + (i % 26)), timestamp: i }]);
  }
  // The owner's reads, and whether the memory each was given had held a page before (fresh memory is zeros).
  const given: boolean[] = [];
  const owner = new Proxy(log, {
    get(target, name) {
      if (name !== 'readRaw') return Reflect.get(target, name);
      return (topic: string, partition: number, offset: number, options: ReadOptions) => {
        given.push(options.into?.some((byte) => byte !== 0) === true);
        return target.readRaw(topic, partition, offset, options);
      };
    },
  });
  const { port1, port2 } = new MessageChannel();
  const server = serveLog(threadPort(port1), owner);
  const remote = new RemoteLog(threadPort(port2));
  cleanups.push(() => {
    server.close();
    port1.close();
  });
  await remote.refresh();

  let offset = 0;
  const values: string[] = [];
  while (offset < 40) {
    const page = await remote.readRaw('in', 0, offset, { maxBytes: 4000 });
    const records = decodeRecordBatches(page.batches, offset);
    assert.ok(records.length > 0);
    for (const r of records) values.push(String.fromCharCode(r.value![0]!));
    offset = page.nextOffset;
    remote.release(page.batches);
    assert.equal(page.batches.length, 0, 'given back: the thread no longer sees the memory');
  }
  assert.equal(values.join(''), Array.from({ length: 40 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));
  assert.ok(given.length >= 10);
  assert.ok(given.slice(2).some(Boolean), `later reads use memory given back: ${given}`);
});
