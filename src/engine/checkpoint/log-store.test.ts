// Checkpoints kept in the log (LogCheckpointStore): chunked and checksummed, whole only once the metadata record is
// in; a torn write or a corrupt chunk falls back to the checkpoint before; superseded ones tombstoned; a pipeline
// checkpointing into it resumes where it stopped, as with the directory store.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempLog as tempLogIn } from '../../../test/helpers/temp-log.ts';
import type { Log } from '../../log/index.ts';
import { createLogger } from '../../logger.ts';
import type { Source, SourceBatch } from '../connector.ts';
import { collect, Pipeline } from '../index.ts';
import { encodeCheckpoint } from './format.ts';
import { KeyedPartition } from './keyed-partition.ts';
import { checkpointTopic, LogCheckpointStore, logSavepointScopes, requestLogSavepoint } from './log-store.ts';

const tempLog = () => tempLogIn('sluice-logckpt-');

const logger = createLogger('test');
const TOPIC = checkpointTopic('p');

/** A checkpoint of `bytes` payload bytes (incompressible, so that it spans chunks). */
function data(id: number, bytes = 10) {
  return encodeCheckpoint({
    pipeline: 'p',
    id,
    kind: 'checkpoint',
    takenAt: 0,
    sources: { s: Buffer.alloc(bytes, id) },
    operators: {},
    sinks: {},
  });
}

function store(log: Log, options: { scope?: string; retain?: number } = {}) {
  return new LogCheckpointStore({
    log,
    topic: TOPIC,
    scope: options.scope ?? 'p0000',
    partitions: 2,
    retain: options.retain ?? 2,
    logger,
    chunkBytes: 100,
  });
}

/** Every live key of the topic's partition 0, as a fresh reader sees it. */
async function liveKeys(log: Log, prefix = ''): Promise<string[]> {
  const keyed = new KeyedPartition(log, TOPIC, 0);
  await keyed.catchUp();
  return keyed.keys(prefix).sort();
}

/** A live source over `input` in batches of 10 that, once through, waits (like a caught-up log) until stopped. */
function liveArray(input: number[]): Source<number> {
  let position = 0;
  return {
    name: 'live',
    async open() {},
    channels: () => [0],
    async poll(signal): Promise<SourceBatch<number> | null> {
      if (position >= input.length) {
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        return { channel: 0, values: [], timestamps: [] };
      }
      const values = input.slice(position, position + 10);
      position += values.length;
      return { channel: 0, values, timestamps: values.map(() => 0) };
    },
    snapshot: () => position,
    restore: (p) => {
      position = p as number;
    },
    async close() {},
  };
}

describe('LogCheckpointStore', () => {
  it('writes chunked checkpoints, reads the newest back, and tombstones those beyond `retain`', async () => {
    const log = await tempLog();
    const s = store(log);
    await s.open();
    assert.equal(await s.lastId(), 0);
    assert.equal(await s.loadLatest(), undefined);
    for (const id of [1, 2, 3]) await s.writeCheckpoint(id, data(id, 250));
    const fresh = store(log);
    await fresh.open();
    assert.equal(await fresh.lastId(), 3);
    const latest = await fresh.loadLatest();
    assert.equal(latest?.data.id, 3);
    assert.deepEqual(latest?.data.sources.s, Buffer.alloc(250, 3));
    assert.match(latest!.file, /^p-checkpoints\/0:p0000\/chk\/0+3$/);
    const keys = await liveKeys(log);
    assert.deepEqual(
      keys.filter((k) => !k.includes('/', 'p0000/chk/'.length)),
      ['p0000/chk/00000000000000000002', 'p0000/chk/00000000000000000003'],
    );
    // Checkpoint 1's chunks went with it; checkpoint 3 has its chunks, 100 bytes each.
    assert.equal(keys.filter((k) => k.includes('/00000000000000000001')).length, 0);
    const chunks = Math.ceil(data(3, 250).length / 100);
    assert.ok(chunks > 1);
    assert.equal(keys.filter((k) => k.startsWith('p0000/chk/00000000000000000003/')).length, chunks);
  });

  it('skips a torn checkpoint (chunks without metadata) and later tombstones its chunks', async () => {
    const log = await tempLog();
    const s = store(log);
    await s.open();
    await s.writeCheckpoint(1, data(1));
    // A crash after the chunks of checkpoint 2, before its metadata record.
    await log.append(TOPIC, 0, [{ key: Buffer.from('p0000/chk/00000000000000000002/dead/0'), value: data(2) }]);
    const next = store(log);
    await next.open();
    assert.equal((await next.loadLatest())?.data.id, 1);
    assert.equal(await next.lastId(), 1); // the next checkpoint is 2 again: its chunks carry another nonce
    await next.writeCheckpoint(2, data(2));
    await next.writeCheckpoint(3, data(3));
    assert.deepEqual(await liveKeys(log, 'p0000/chk/00000000000000000002/dead'), []);
    const fresh = store(log);
    await fresh.open();
    assert.equal((await fresh.loadLatest())?.data.id, 3);
  });

  it('falls back past a checkpoint with a corrupt or missing chunk, with a warning', async () => {
    const log = await tempLog();
    const s = store(log, { retain: 3 });
    await s.open();
    for (const id of [1, 2, 3]) await s.writeCheckpoint(id, data(id, 250));
    const chunks = await liveKeys(log, 'p0000/chk/00000000000000000003/');
    // A chunk whose bytes changed (a bit flip on disk, or a stray writer): the checksum catches it.
    const bad = Buffer.from(data(3, 250).subarray(100, 200));
    bad[5]! ^= 0xff;
    await log.append(TOPIC, 0, [{ key: Buffer.from(chunks[1]!), value: bad }]);
    const fresh = store(log, { retain: 3 });
    await fresh.open();
    assert.equal((await fresh.loadLatest())?.data.id, 2);
    // A chunk gone (tombstoned by hand, or compacted away): the one before again.
    const gone = await liveKeys(log, 'p0000/chk/00000000000000000002/');
    await log.append(TOPIC, 0, [{ key: Buffer.from(gone[0]!), value: null }]);
    const again = store(log, { retain: 3 });
    await again.open();
    assert.equal((await again.loadLatest())?.data.id, 1);
  });

  it('refuses a write whose beforeCommit throws (a writer that lost its lease): it never counts', async () => {
    const log = await tempLog();
    let fenced = false;
    const s = new LogCheckpointStore({
      log,
      topic: TOPIC,
      scope: 'p0000',
      retain: 2,
      logger,
      beforeCommit: async () => {
        if (fenced) throw new Error('lease lost');
      },
    });
    await s.open();
    await s.writeCheckpoint(1, data(1));
    fenced = true;
    await assert.rejects(s.writeCheckpoint(2, data(2)), /lease lost/);
    const fresh = store(log);
    await fresh.open();
    assert.equal((await fresh.loadLatest())?.data.id, 1);
  });

  it('reads back none of its own writes, and what others wrote in between in order', async () => {
    const log = await tempLog();
    await log.createTopic(TOPIC, { partitions: 1 });
    let read = 0;
    const counting = new Proxy(log, {
      get(target, name, receiver) {
        if (name !== 'readRecords') return Reflect.get(target, name, receiver);
        return (...args: Parameters<Log['readRecords']>) => {
          const page = target.readRecords(...args);
          read += page.records.length;
          return page;
        };
      },
    });
    const mine = new KeyedPartition(counting, TOPIC, 0);
    const seen: string[] = [];
    mine.onRecord((r) => seen.push(r.key!.toString()));
    await mine.catchUp();
    await mine.append([{ key: 'a', value: Buffer.from('1') }]);
    await mine.append([{ key: 'b', value: Buffer.from('2') }]);
    await mine.catchUp();
    assert.equal(read, 0);
    await log.append(TOPIC, 0, [{ key: Buffer.from('other'), value: Buffer.from('x') }]);
    await mine.append([{ key: 'c', value: Buffer.from('3') }]); // after another's record: read, in order
    await mine.catchUp();
    assert.deepEqual(seen, ['a', 'b', 'other', 'c']);
    assert.equal(read, 2);
    assert.equal(mine.get('c')?.value.toString(), '3');
  });

  it('keeps scopes apart in one partition, and savepoints until deleted', async () => {
    const log = await tempLog();
    const a = store(log, { scope: 'p0000' });
    const b = store(log, { scope: 'p0002' });
    await a.open();
    await b.open();
    await a.writeCheckpoint(1, data(1));
    await b.writeCheckpoint(7, data(7));
    await a.writeSavepoint('before', data(1, 300));
    for (const id of [2, 3, 4]) await a.writeCheckpoint(id, data(id));
    assert.equal((await b.loadLatest())?.data.id, 7);
    const fresh = store(log, { scope: 'p0000' });
    await fresh.open();
    assert.equal((await fresh.loadLatest())?.data.id, 4);
    assert.deepEqual((await fresh.loadSavepoint('before')).data.sources.s, Buffer.alloc(300, 1));
    await assert.rejects(fresh.loadSavepoint('other'), { code: 'SAVEPOINT_NOT_FOUND' });
    assert.throws(() => fresh.checkSavepointName('../x'), { code: 'INVALID_NAME' });
  });

  it('takes savepoints requested through the log, one per scope', async () => {
    const log = await tempLog();
    const tasks = [store(log, { scope: 'p0000' }), store(log, { scope: 'p0002' })];
    for (const [i, t] of tasks.entries()) {
      await t.open();
      await t.writeCheckpoint(1, data(i));
    }
    // Each task's coordinator polls takeRequests() on its ticks and writes the savepoints asked for.
    let serving = true;
    const served: string[] = [];
    const loop = (async () => {
      while (serving) {
        for (const [i, t] of tasks.entries()) {
          for (const name of t.takeRequests()) {
            served.push(name);
            await t.writeSavepoint(name, data(10 + i));
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const written = await requestLogSavepoint(log, 'p', 's1', 10_000);
    assert.deepEqual(written, ['p-checkpoints/0:p0000/sp/s1', 'p-checkpoints/0:p0002/sp/s1']);
    await assert.rejects(requestLogSavepoint(log, 'p', 's1', 10_000), { code: 'SAVEPOINT_EXISTS' });
    assert.deepEqual(await logSavepointScopes(log, 'p', 's1'), { with: ['p0000', 'p0002'], without: [] });
    serving = false;
    await loop;
    assert.deepEqual(served, ['s1', 's1']); // once each: a request already served is not served again
    const fresh = store(log, { scope: 'p0002' });
    await fresh.open();
    assert.deepEqual(fresh.takeRequests(), []);
    assert.equal((await fresh.loadSavepoint('s1')).data.id, 11);
    await assert.rejects(requestLogSavepoint(log, 'other', 's1'), { code: 'UNKNOWN_PIPELINE' });
  });

  it('is where a pipeline checkpoints and resumes from (the coordinator takes either store)', async () => {
    const log = await tempLog();
    const input = Array.from({ length: 100 }, (_, i) => i);
    const run = async (stopAt: number) => {
      const p = new Pipeline({ name: 'p' });
      const out = collect<number>();
      p.source(liveArray(input))
        .map((v) => v)
        .sinkTo(out);
      p.enableCheckpoints({ storage: store(log, { scope: 'main' }), intervalMs: 0 });
      const running = p.run();
      while (out.values.length < stopAt) await new Promise((resolve) => setTimeout(resolve, 5));
      p.stop();
      await running;
      return { p, out };
    };
    const first = await run(50);
    const info = first.p.metrics().checkpoints.last!;
    assert.match(info.file, /^p-checkpoints\/0:main\/chk\//);
    const second = await run(input.length - first.out.values.length);
    assert.equal(second.p.metrics().checkpoints.restoredFrom, info.file);
    assert.deepEqual([...first.out.values, ...second.out.values], input);
  });
});
