// The group coordinator's state machine, driven directly: generations, leaders, MEMBER_ID_REQUIRED, assignments
// through SyncGroup, rebalances on join/leave/session expiry, and which commits are fenced.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Log, openLog } from '../log/index.ts';
import { createLogger } from '../logger.ts';
import { GroupCoordinator, type JoinRequest } from './group-coordinator.ts';
import { KafkaError } from './protocol/index.ts';

let dir: string;
let log: Log;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-coordinator-'));
  log = await openLog({ dataDir: dir });
});
after(async () => {
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function coordinator() {
  return new GroupCoordinator(log, createLogger('test'), {
    initialRebalanceDelayMs: 20,
    minSessionTimeoutMs: 50,
    maxSessionTimeoutMs: 60_000,
  });
}

function request(groupId: string, memberId = '', overrides: Partial<JoinRequest> = {}): JoinRequest {
  return {
    groupId,
    memberId,
    groupInstanceId: null,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 200,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.from('m') }],
    clientId: 'c',
    clientHost: '127.0.0.1',
    requireKnownMemberId: false,
    ...overrides,
  };
}

describe('GroupCoordinator', () => {
  it('forms a generation, elects a leader and hands each member the assignment the leader chose', async () => {
    const c = coordinator();
    const [a, b] = await Promise.all([c.join(request('g1')), c.join(request('g1'))]);
    assert.equal(a!.errorCode, KafkaError.NONE);
    assert.equal(a!.generationId, 1);
    assert.equal(b!.generationId, 1);
    assert.equal(a!.leader, b!.leader);
    const leader = a!.leader === a!.memberId ? a! : b!;
    const follower = leader === a ? b! : a!;
    assert.equal(leader.members.length, 2, 'only the leader gets the member list');
    assert.equal(follower.members.length, 0);
    const followerSync = c.sync('g1', 1, follower.memberId, []);
    const leaderSync = c.sync('g1', 1, leader.memberId, [
      { memberId: leader.memberId, assignment: Buffer.from('p0') },
      { memberId: follower.memberId, assignment: Buffer.from('p1') },
    ]);
    assert.equal((await leaderSync).assignment.toString(), 'p0');
    assert.equal((await followerSync).assignment.toString(), 'p1');
    assert.equal(c.describe('g1').groupState, 'Stable');
    assert.equal(c.heartbeat('g1', 1, follower.memberId), KafkaError.NONE);
    assert.equal(c.heartbeat('g1', 0, follower.memberId), KafkaError.ILLEGAL_GENERATION);
    assert.equal(c.heartbeat('g1', 1, 'nobody'), KafkaError.UNKNOWN_MEMBER_ID);
    c.close();
  });

  it('asks v4+ joiners for a known member id first', async () => {
    const c = coordinator();
    const first = await c.join(request('g2', '', { requireKnownMemberId: true }));
    assert.equal(first.errorCode, KafkaError.MEMBER_ID_REQUIRED);
    assert.ok(first.memberId.length > 0);
    const second = await c.join(request('g2', first.memberId, { requireKnownMemberId: true }));
    assert.equal(second.errorCode, KafkaError.NONE);
    assert.equal(second.memberId, first.memberId);
    c.close();
  });

  it('rebalances into a new generation when a member leaves, and fences commits by generation', async () => {
    const c = coordinator();
    const [a, b] = await Promise.all([c.join(request('g3')), c.join(request('g3'))]);
    await Promise.all([c.sync('g3', 1, a!.memberId, []), c.sync('g3', 1, b!.memberId, [])]);
    assert.equal(c.checkCommit('g3', 1, a!.memberId), KafkaError.NONE);
    assert.deepEqual(c.leave('g3', [b!.memberId]), [{ memberId: b!.memberId, errorCode: KafkaError.NONE }]);
    // The survivor learns of the rebalance from its heartbeat; its commits for the old generation still land
    // while the group prepares the rebalance, so that it can commit what it processed before rejoining.
    assert.equal(c.heartbeat('g3', 1, a!.memberId), KafkaError.REBALANCE_IN_PROGRESS);
    assert.equal(c.checkCommit('g3', 1, a!.memberId), KafkaError.NONE);
    const rejoined = await c.join(request('g3', a!.memberId));
    assert.equal(rejoined.generationId, 2);
    assert.equal(rejoined.leader, a!.memberId);
    assert.equal(c.checkCommit('g3', 1, a!.memberId), KafkaError.ILLEGAL_GENERATION);
    assert.equal(c.checkCommit('g3', 2, b!.memberId), KafkaError.UNKNOWN_MEMBER_ID);
    assert.equal(c.checkCommit('g3', -1, ''), KafkaError.NONE, 'standalone commits are not fenced');
    c.close();
  });

  it('expires a silent member after its session timeout and rebalances the rest', async () => {
    const c = coordinator();
    const [a, b] = await Promise.all([
      c.join(request('g4', '', { sessionTimeoutMs: 100 })),
      c.join(request('g4', '', { sessionTimeoutMs: 100 })),
    ]);
    await Promise.all([c.sync('g4', 1, a!.memberId, []), c.sync('g4', 1, b!.memberId, [])]);
    // Only a heartbeats; when told of the rebalance it rejoins, as a consumer does.
    let rejoined: Awaited<ReturnType<typeof c.join>> | undefined;
    const deadline = Date.now() + 2000;
    while (rejoined === undefined && Date.now() < deadline) {
      if (c.heartbeat('g4', 1, a!.memberId) === KafkaError.REBALANCE_IN_PROGRESS) {
        rejoined = await c.join(request('g4', a!.memberId, { sessionTimeoutMs: 100 }));
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    assert.equal(rejoined?.generationId, 2);
    const members = c.describe('g4').members.map((m) => m.memberId);
    assert.deepEqual(members, [a!.memberId]);
    c.close();
  });

  it('rejects session timeouts outside the configured range', async () => {
    const c = coordinator();
    const result = await c.join(request('g5', '', { sessionTimeoutMs: 10 }));
    assert.equal(result.errorCode, KafkaError.INVALID_SESSION_TIMEOUT);
    c.close();
  });
});
