// The log checkpoint store keeps its partition bounded without compaction: after each checkpoint its start moves up
// to the lowest live record, the few live records far below (an old savepoint, a stale lease) copied forward first;
// what a fresh reader loads is unchanged, a crash between the copy and the purge included (leases:
// src/scale/log-lease-purge.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempLog as tempLogIn } from '../../../test/helpers/temp-log.ts';
import type { Log } from '../../log/index.ts';
import { createLogger } from '../../logger.ts';
import { encodeCheckpoint } from './format.ts';
import { KeyedPartition } from './keyed-partition.ts';
import { checkpointTopic, LogCheckpointStore } from './log-store.ts';
import type { StoredCheckpoint } from './storage.ts';

const tempLog = () => tempLogIn('sluice-logpurge-');

const logger = createLogger('test');
const TOPIC = checkpointTopic('p');
const SEGMENT = 4096;

/** A checkpoint (or savepoint) of `bytes` payload bytes, `fill` each. */
function data(id: number, bytes = 300, fill = id) {
  return encodeCheckpoint({
    pipeline: 'p',
    id,
    kind: 'checkpoint',
    takenAt: 0,
    sources: { s: Buffer.alloc(bytes, fill) },
    operators: {},
    sinks: {},
  });
}

function store(log: Log, options: { scope?: string; factor?: number; keyed?: KeyedPartition } = {}) {
  return new LogCheckpointStore({
    log,
    topic: TOPIC,
    scope: options.scope ?? 'p0000',
    retain: 2,
    logger,
    chunkBytes: 100,
    segmentBytes: SEGMENT,
    reclaimFactor: options.factor,
    keyed: options.keyed,
  });
}

/** The payload byte a checkpoint was filled with. */
const fill = (stored: StoredCheckpoint | undefined) => (stored?.data.sources.s as Buffer | undefined)?.[0];

const partition = (log: Log) => log.describeTopic(TOPIC).partitions[0]!;

/** What a process started now finds: the newest checkpoint's id and the savepoint's first payload byte. */
async function fresh(log: Log, savepoint = 'keep'): Promise<{ latest: number | undefined; savepoint: number }> {
  const s = store(log);
  await s.open();
  const latest = (await s.loadLatest())?.data.id;
  const sp = await s.loadSavepoint(savepoint);
  return { latest, savepoint: fill(sp) ?? -1 };
}

describe('LogCheckpointStore purging', () => {
  it('keeps the partition bounded while an old savepoint stays loadable', async () => {
    const log = await tempLog();
    const s = store(log);
    await s.open();
    await s.writeCheckpoint(1, data(1));
    await s.writeSavepoint('keep', data(0, 1000, 7));
    const savepointAt = s.savepointStamp('keep');
    let largest = 0;
    let copies = 0;
    for (let id = 2; id <= 300; id++) {
      await s.writeCheckpoint(id, data(id));
      largest = Math.max(largest, partition(log).sizeBytes);
      copies += s.lastReclaim?.copied ? 1 : 0;
    }
    const { logStartOffset, logEndOffset, sizeBytes } = partition(log);
    if (process.env.SLUICE_TEST_FIGURES) console.log({ largest, sizeBytes, copies, logStartOffset, logEndOffset });
    // Unpurged, 300 checkpoints of ~0.5 KiB with their tombstones take ~230 KiB; the savepoint is ~1.5 KiB.
    assert.ok(logStartOffset > logEndOffset - 200, `start ${logStartOffset}, end ${logEndOffset}`);
    assert.ok(largest < 10 * SEGMENT, `the partition reached ${largest} bytes`);
    assert.ok(sizeBytes < 6 * SEGMENT, `${sizeBytes} bytes`);
    // Copied once what it holds back is twice the larger of it and the retained span: ~1.3 KiB per ~3 KiB freed.
    assert.ok(copies >= 1 && copies < 75, `the savepoint was copied forward ${copies} times`);
    assert.equal(s.savepointStamp('keep'), savepointAt, 'a copy is the same savepoint');
    assert.equal(fill(await s.loadSavepoint('keep')), 7);
    assert.equal((await s.loadLatest())?.data.id, 300);
    assert.deepEqual(await fresh(log), { latest: 300, savepoint: 7 });
  });

  it('leaves everything loadable when a crash comes between the copy and the purge, or in the copy', async () => {
    const log = await tempLog();
    // Never copies by itself: the savepoint pins the start, and the partition grows.
    const s = store(log, { factor: 1e9 });
    await s.open();
    await s.writeSavepoint('keep', data(0, 1000, 7));
    for (let id = 1; id <= 60; id++) await s.writeCheckpoint(id, data(id));
    assert.equal(partition(log).logStartOffset, 0);

    // A copy torn after its chunks, before its metadata: both stand, and a reader takes either alike.
    let failing = true;
    const tearing = new Proxy(log, {
      get(target, name) {
        if (name !== 'append') return Reflect.get(target, name);
        return (topic: string, p: number, records: { key: Buffer | null }[], options: object) => {
          if (failing && records.some((r) => r.key?.toString() === 'p0000/sp/keep')) {
            return Promise.reject(new Error('crashed'));
          }
          return target.append(topic, p, records as never, options);
        };
      },
    });
    const torn = new LogCheckpointStore({
      log: tearing,
      topic: TOPIC,
      scope: 'p0000',
      retain: 2,
      logger,
      chunkBytes: 100,
      reclaimFactor: 0,
    });
    await torn.open();
    const before = partition(log).logEndOffset;
    assert.equal(await torn.reclaim(), undefined, 'the failure is logged, not thrown');
    assert.ok(partition(log).logEndOffset > before, 'the chunks were copied');
    assert.equal(partition(log).logStartOffset, 0, 'nothing purged');
    assert.deepEqual(await fresh(log), { latest: 60, savepoint: 7 });

    // The copy completed, then a crash before the purge.
    failing = false;
    const copied = await torn.reclaim({ purge: false });
    assert.ok((copied?.copied ?? 0) > 0 && copied?.purgedTo === undefined);
    assert.equal(partition(log).logStartOffset, 0);
    assert.deepEqual(await fresh(log), { latest: 60, savepoint: 7 });

    // The next process's next checkpoint purges: the savepoint's copy no longer pins the start.
    const next = store(log, { factor: 1e9 });
    await next.open();
    await next.writeCheckpoint(61, data(61));
    assert.ok(partition(log).logStartOffset > 0, `start ${partition(log).logStartOffset}`);
    assert.deepEqual(await fresh(log), { latest: 61, savepoint: 7 });
  });

  it('moves the start past other scopes only as far as their live records', async () => {
    const log = await tempLog();
    const a = store(log, { scope: 'p0000' });
    const b = store(log, { scope: 'p0002', factor: 1e9 });
    await a.open();
    await b.open();
    await b.writeCheckpoint(1, data(1, 300, 42));
    const pinned = b.lastReclaim?.floor ?? 0;
    for (let id = 1; id <= 100; id++) await a.writeCheckpoint(id, data(id));
    // b's checkpoint is its newest: it pins the start (a does not copy another scope's checkpoints).
    assert.ok(partition(log).logStartOffset <= pinned);
    const b2 = store(log, { scope: 'p0002' });
    await b2.open();
    assert.equal(fill(await b2.loadLatest()), 42);
    // Once b checkpoints again, its old one is superseded and the start moves on.
    await b2.writeCheckpoint(2, data(2, 300, 43));
    await b2.writeCheckpoint(3, data(3, 300, 44));
    await a.writeCheckpoint(101, data(101));
    assert.ok(partition(log).logStartOffset > pinned, `start ${partition(log).logStartOffset}`);
    assert.equal((await a.loadLatest())?.data.id, 101);
  });
  it('lets a reader left behind a purge catch up from the new start, as a fresh one reads', async () => {
    const log = await tempLog();
    const s = store(log);
    await s.open();
    await s.writeCheckpoint(1, data(1));
    const behind = new KeyedPartition(log, TOPIC, 0);
    await behind.catchUp();
    for (let id = 2; id <= 60; id++) await s.writeCheckpoint(id, data(id));
    assert.ok(partition(log).logStartOffset > behind.readTo, 'purged past the reader');
    await behind.catchUp();
    const freshReader = new KeyedPartition(log, TOPIC, 0);
    await freshReader.catchUp();
    assert.deepEqual(behind.keys('').sort(), freshReader.keys('').sort());
    assert.equal(behind.readTo, freshReader.readTo);
  });
});
