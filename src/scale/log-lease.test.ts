// Task leases kept in the log (LogTaskLease): handed over on release, one winner when two claim at once, taken over
// from a holder that stopped renewing, and a holder told when another took its lease.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempLog as tempLogIn } from '../../test/helpers/temp-log.ts';
import { checkpointTopic, KeyedPartition } from '../engine/index.ts';
import type { Log } from '../log/index.ts';
import { LogTaskLease } from './log-lease.ts';

const TOPIC = checkpointTopic('p');

async function tempLog(): Promise<Log> {
  const log = await tempLogIn('sluice-loglease-');
  await log.createTopic(TOPIC, { partitions: 1 });
  return log;
}

/** A member's view: its own reader of the partition, as a process on another host has. */
const lease = (log: Log, leaseMs = 5000) => new LogTaskLease(new KeyedPartition(log, TOPIC, 0), 'p0000', { leaseMs });

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; !condition(); i++) {
    if (i > 2000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('LogTaskLease', () => {
  it('passes from a holder that releases it to the member waiting for it', async () => {
    const log = await tempLog();
    const a = lease(log);
    const b = lease(log);
    await a.acquire(new AbortController().signal, () => assert.fail('a lost its lease'));
    let bHas = false;
    const waiting = b
      .acquire(AbortSignal.timeout(10_000), () => {})
      .then(() => {
        bHas = true;
      });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(bHas, false, 'b waits while a holds it');
    await a.release();
    await waiting;
    assert.equal(b.holder()?.owner, b.owner);
    await b.release();
  });

  it('goes to one of two members claiming at once', async () => {
    const log = await tempLog();
    const members = [lease(log), lease(log), lease(log)];
    const won: string[] = [];
    const controller = new AbortController();
    const claims = members.map((m) =>
      m
        .acquire(controller.signal, () => {})
        .then(
          () => won.push(m.owner),
          () => {},
        ),
    );
    await until(() => won.length > 0, 'a winner');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(won.length, 1);
    controller.abort();
    await Promise.all(claims);
    const winner = members.find((m) => m.owner === won[0])!;
    await winner.release();
  });

  it('is taken over from a holder silent for the lease period, which learns it lost it', async () => {
    const log = await tempLog();
    // A holder that died: its last record says held, and nothing follows.
    const dead = { owner: 'elsewhere:1:0:1', seq: 1, state: 'held', at: 0 };
    await log.append(TOPIC, 0, [{ key: Buffer.from('p0000/lease'), value: Buffer.from(JSON.stringify(dead)) }]);
    const b = lease(log, 300);
    const started = Date.now();
    await b.acquire(AbortSignal.timeout(10_000), () => {});
    assert.ok(Date.now() - started >= 250, 'waited out the lease period');
    // b stalls and another member takes the lease: b's next renewal finds out.
    let lost = false;
    await b.release();
    const c = lease(log, 300);
    await c.acquire(AbortSignal.timeout(10_000), () => {
      lost = true;
    });
    const thief = { owner: 'thief:2:0:1', seq: 1000, state: 'held', at: 0 };
    await log.append(TOPIC, 0, [{ key: Buffer.from('p0000/lease'), value: Buffer.from(JSON.stringify(thief)) }]);
    await until(() => lost, 'c to learn it lost the lease');
    await assert.rejects(c.verify(), { code: 'ABORTED' }); // its checkpoints would not count any more
    await c.release(); // not its own any more: writes nothing
    const view = new KeyedPartition(log, TOPIC, 0);
    await view.catchUp();
    assert.equal(JSON.parse(view.get('p0000/lease')!.value.toString()).owner, 'thief:2:0:1');
  });
});
