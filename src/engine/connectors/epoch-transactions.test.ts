// EpochTransactions with `prefetch` (a sink on a Kafka cluster): the first epoch's writer is opened by recovery, the
// pool's second writer while the first epoch writes, so that no epoch waits for an open; the pool stays at two
// writers; a spare that fails to open leaves the next epoch opening its own; without prefetch, writers open at an
// epoch's first append, as before.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PipelineLog, PreparedTransaction, TransactionalWriter } from '../../contracts/index.ts';
import { EpochTransactions } from './epoch-transactions.ts';

/** A log whose writers record what was done with them; opening one can be held back or made to fail. */
function fakeLog() {
  const opened: string[] = [];
  const events: string[] = [];
  let gate: Promise<void> | undefined;
  let failNext = false;
  const writer = (id: string): TransactionalWriter => {
    let wrote = false;
    let number = 0;
    return {
      transactionalId: id,
      async append() {
        wrote = true;
        events.push(`append ${id}`);
        return { baseOffset: 0, lastOffset: 0, logAppendTime: 0, logStartOffset: 0 };
      },
      async prepare(): Promise<PreparedTransaction | null> {
        if (!wrote) return null;
        return { transactionalId: `${id}@${++number}`, producerId: 1, producerEpoch: 0 };
      },
      async commit() {
        wrote = false;
        events.push(`commit ${id}`);
      },
      async abort() {
        wrote = false;
        events.push(`abort ${id}`);
      },
    };
  };
  const log = {
    async openTransactionalWriter(id: string) {
      opened.push(id);
      if (gate) await gate;
      if (failNext) {
        failNext = false;
        throw new Error(`cannot open ${id}`);
      }
      return writer(id);
    },
    async transactionalIds() {
      return [];
    },
    async completePrepared() {
      return true;
    },
  } as unknown as PipelineLog;
  return {
    log,
    opened,
    events,
    hold() {
      const held = Promise.withResolvers<void>();
      gate = held.promise;
      return () => {
        gate = undefined;
        held.resolve();
      };
    },
    failNextOpen() {
      failNext = true;
    },
  };
}

const record = [{ key: null, value: Buffer.from('x') }];
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** One epoch: an append, the barrier (prepare), the checkpoint's commit. */
async function epoch(txns: EpochTransactions, checkpointId: number): Promise<void> {
  await txns.append('out', 0, record);
  await txns.prepare(checkpointId);
  await txns.commit(checkpointId);
}

describe('EpochTransactions', () => {
  it('prefetch: recovery opens the first writer, the first write opens the spare; the pool stays at two', async () => {
    const fake = fakeLog();
    const txns = new EpochTransactions(fake.log, 'p/out/', { prefetch: true });
    await txns.recover(undefined);
    assert.deepEqual(fake.opened, ['p/out/0'], 'before any write');

    await txns.append('out', 0, record);
    await settle();
    assert.deepEqual(fake.opened, ['p/out/0', 'p/out/1'], 'the spare, while epoch 1 writes');
    await txns.prepare(1);
    // Epoch 2 writes before checkpoint 1 commits: it takes the spare, opening nothing.
    await txns.append('out', 0, record);
    assert.deepEqual(fake.opened, ['p/out/0', 'p/out/1']);
    await txns.commit(1);
    await txns.prepare(2);
    await txns.commit(2);
    for (let id = 3; id <= 6; id++) await epoch(txns, id);
    assert.deepEqual(fake.opened, ['p/out/0', 'p/out/1'], 'two writers, no more');
    assert.deepEqual(
      fake.events.slice(0, 4),
      ['append p/out/0', 'append p/out/1', 'commit p/out/0', 'commit p/out/1'],
      'epoch 2 wrote with the spare while epoch 1 committed',
    );
  });

  it('prefetch: an epoch that comes before the spare is open waits for it, not for another writer', async () => {
    const fake = fakeLog();
    const txns = new EpochTransactions(fake.log, 'p/out/', { prefetch: true });
    await txns.recover(undefined);
    const release = fake.hold();
    await txns.append('out', 0, record);
    await txns.prepare(1);
    const appended = txns.append('out', 0, record);
    await settle();
    assert.deepEqual(fake.opened, ['p/out/0', 'p/out/1']);
    release();
    await appended;
    assert.equal(fake.events.at(-1), 'append p/out/1');
    assert.deepEqual(fake.opened, ['p/out/0', 'p/out/1']);
  });

  it('prefetch: a spare that fails to open leaves the next epoch opening its writer', async () => {
    const fake = fakeLog();
    const txns = new EpochTransactions(fake.log, 'p/out/', { prefetch: true });
    await txns.recover(undefined);
    fake.failNextOpen();
    await txns.append('out', 0, record);
    await settle();
    await txns.prepare(1);
    await txns.append('out', 0, record);
    assert.deepEqual(fake.opened, ['p/out/0', 'p/out/1', 'p/out/2']);
    assert.equal(fake.events.at(-1), 'append p/out/2');
    await txns.commit(1);
  });

  it('prefetch: a sink that never writes opens one writer and keeps it', async () => {
    const fake = fakeLog();
    const txns = new EpochTransactions(fake.log, 'p/late/', { prefetch: true });
    await txns.recover(undefined);
    for (let id = 1; id <= 3; id++) assert.deepEqual(await txns.prepare(id), []);
    await txns.close();
    assert.deepEqual(fake.opened, ['p/late/0']);
    assert.deepEqual(fake.events, [], 'nothing to end');
  });

  it('without prefetch: a writer opens at the first append of an epoch, and no spare', async () => {
    const fake = fakeLog();
    const txns = new EpochTransactions(fake.log, 'p/out/');
    await txns.recover(undefined);
    assert.deepEqual(fake.opened, []);
    await txns.append('out', 0, record);
    await settle();
    assert.deepEqual(fake.opened, ['p/out/0']);
    await txns.prepare(1);
    await txns.append('out', 0, record);
    assert.deepEqual(fake.opened, ['p/out/0', 'p/out/1']);
  });
});
