// Task leases in a checkpoint partition the log checkpoint store purges: a holder checkpointing as it renews keeps
// its lease, another task's stale lease is copied forward rather than lost, and a handover reads the release and the
// checkpoint before it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempLog as tempLogIn } from '../../test/helpers/temp-log.ts';
import { encodeCheckpoint } from '../engine/checkpoint/format.ts';
import { checkpointTopic, KeyedPartition, LogCheckpointStore } from '../engine/index.ts';
import type { Log } from '../log/index.ts';
import { createLogger } from '../logger.ts';
import { LogTaskLease } from './log-lease.ts';

const tempLog = () => tempLogIn('sluice-leasepurge-');

const logger = createLogger('test');
const TOPIC = checkpointTopic('p');

function data(id: number) {
  const sources = { s: Buffer.alloc(300, id) };
  return encodeCheckpoint({ pipeline: 'p', id, kind: 'checkpoint', takenAt: 0, sources, operators: {}, sinks: {} });
}

function store(log: Log, options: { scope?: string; keyed?: KeyedPartition } = {}) {
  return new LogCheckpointStore({
    log,
    topic: TOPIC,
    scope: options.scope ?? 'p0000',
    retain: 2,
    logger,
    chunkBytes: 100,
    segmentBytes: 4096,
    keyed: options.keyed,
  });
}

const partition = (log: Log) => log.describeTopic(TOPIC).partitions[0]!;

describe('LogTaskLease in a purged partition', () => {
  it('keeps leases working: a holder checkpointing as it renews, a stale lease copied forward, a handover', async () => {
    const log = await tempLog();
    // Another task's lease, released long ago, in the same partition.
    const oldKeyed = new KeyedPartition(log, TOPIC, 0);
    const oldLease = new LogTaskLease(oldKeyed, 'p0002', { leaseMs: 300 });
    const oldStore = store(log, { scope: 'p0002', keyed: oldKeyed });
    await oldStore.open();
    await oldLease.acquire(new AbortController().signal, () => {});
    await oldLease.release();

    const keyed = new KeyedPartition(log, TOPIC, 0);
    const lease = new LogTaskLease(keyed, 'p0000', { leaseMs: 150 });
    const s = store(log, { keyed });
    await s.open();
    let lost = false;
    await lease.acquire(new AbortController().signal, () => {
      lost = true;
    });
    for (let id = 1; id <= 200; id++) {
      await s.writeCheckpoint(id, data(id));
      if (id % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 60)); // renewals come between
    }
    assert.equal(lost, false);
    assert.ok(partition(log).logStartOffset > 0);
    await lease.verify();

    // The stale lease was copied forward, not lost: a fresh reader has it, and its next holder takes it at once.
    const reader = new KeyedPartition(log, TOPIC, 0);
    await reader.catchUp();
    assert.match(reader.get('p0002/lease')?.value.toString() ?? '', /"released"/);
    const next = new LogTaskLease(new KeyedPartition(log, TOPIC, 0), 'p0002', { leaseMs: 300 });
    await next.acquire(AbortSignal.timeout(2000), () => {});
    await next.release();

    // Handed over after purges: the newcomer reads the release, and the checkpoint before it.
    await lease.release();
    const newcomerKeyed = new KeyedPartition(log, TOPIC, 0);
    const newcomer = new LogTaskLease(newcomerKeyed, 'p0000', { leaseMs: 5000 });
    const newStore = store(log, { keyed: newcomerKeyed });
    await newStore.open();
    const started = Date.now();
    await newcomer.acquire(AbortSignal.timeout(5000), () => {});
    assert.ok(Date.now() - started < 2000, 'taken on the release, not after the lease period');
    assert.equal((await newStore.loadLatest())?.data.id, 200);
    await newcomer.release();
  });
});
