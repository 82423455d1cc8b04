// The consumer-group coordinator (Kafka's classic protocol): members join, one generation per rebalance, the leader
// computes assignments that SyncGroup hands to every member; heartbeats, leaves and session expiry trigger rebalances.
// States: Empty → PreparingRebalance → CompletingRebalance → Stable (and back to PreparingRebalance on any change).
import { randomUUID } from 'node:crypto';
import { isSluiceError } from '../errors.ts';
import type { Log } from '../log/index.ts';
import type { Logger } from '../logger.ts';
import { KafkaError, type KafkaErrorCode } from './protocol/index.ts';

/** Node's timers overflow above 2^31-1 ms; a client may ask for more. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable';

export interface JoinRequest {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: { name: string; metadata: Buffer }[];
  clientId: string;
  clientHost: string;
  /** JoinGroup v4+ clients first get MEMBER_ID_REQUIRED with an id to rejoin with. */
  requireKnownMemberId: boolean;
}

export interface JoinResult {
  errorCode: KafkaErrorCode;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  memberId: string;
  members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
}

export interface SyncResult {
  errorCode: KafkaErrorCode;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

interface Member {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: { name: string; metadata: Buffer }[];
  assignment: Buffer;
  joinWaiter: ((result: JoinResult) => void) | undefined;
  syncWaiter: ((result: SyncResult) => void) | undefined;
  sessionTimer: NodeJS.Timeout | undefined;
}

interface Group {
  id: string;
  state: GroupState;
  generation: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string | null;
  members: Map<string, Member>;
  /** Ids handed out with MEMBER_ID_REQUIRED, valid for one rejoin. */
  pending: Set<string>;
  rebalanceTimer: NodeJS.Timeout | undefined;
  /** While a new group waits for more members to join before its first generation. */
  initialDelay: boolean;
}

export interface CoordinatorOptions {
  /** A new group waits this long for more members before its first generation (Kafka: 3 s). */
  initialRebalanceDelayMs: number;
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
}

const EMPTY = Buffer.alloc(0);

export class GroupCoordinator {
  private readonly groups = new Map<string, Group>();
  private readonly log: Log;
  private readonly logger: Logger;
  private readonly options: CoordinatorOptions;
  private closed = false;

  constructor(log: Log, logger: Logger, options: CoordinatorOptions) {
    this.log = log;
    this.logger = logger;
    this.options = options;
  }

  join(req: JoinRequest): Promise<JoinResult> {
    const fail = (errorCode: KafkaErrorCode, memberId = req.memberId): Promise<JoinResult> =>
      Promise.resolve({
        errorCode,
        generationId: -1,
        protocolType: null,
        protocolName: null,
        leader: '',
        memberId,
        members: [],
      });
    if (this.closed) return fail(KafkaError.COORDINATOR_NOT_AVAILABLE);
    if (!req.groupId) return fail(KafkaError.INVALID_GROUP_ID);
    const { minSessionTimeoutMs, maxSessionTimeoutMs } = this.options;
    if (req.sessionTimeoutMs < minSessionTimeoutMs || req.sessionTimeoutMs > maxSessionTimeoutMs) {
      return fail(KafkaError.INVALID_SESSION_TIMEOUT);
    }
    let group = this.groups.get(req.groupId);
    if (group === undefined) {
      group = {
        id: req.groupId,
        state: 'Empty',
        generation: 0,
        protocolType: null,
        protocolName: null,
        leaderId: null,
        members: new Map(),
        pending: new Set(),
        rebalanceTimer: undefined,
        initialDelay: false,
      };
      this.groups.set(req.groupId, group);
    }
    if (req.protocols.length === 0 || !this.protocolsCompatible(group, req)) {
      return fail(KafkaError.INCONSISTENT_GROUP_PROTOCOL);
    }
    let memberId = req.memberId;
    if (memberId === '') {
      memberId = `${req.clientId || 'member'}-${randomUUID()}`;
      if (req.requireKnownMemberId) {
        group.pending.add(memberId);
        return fail(KafkaError.MEMBER_ID_REQUIRED, memberId);
      }
    } else if (!group.members.has(memberId) && !group.pending.has(memberId)) {
      return fail(KafkaError.UNKNOWN_MEMBER_ID);
    }
    group.pending.delete(memberId);
    let member = group.members.get(memberId);
    if (member === undefined) {
      member = {
        memberId,
        groupInstanceId: req.groupInstanceId,
        clientId: req.clientId,
        clientHost: req.clientHost,
        sessionTimeoutMs: req.sessionTimeoutMs,
        rebalanceTimeoutMs: req.rebalanceTimeoutMs > 0 ? req.rebalanceTimeoutMs : req.sessionTimeoutMs,
        protocols: req.protocols,
        assignment: EMPTY,
        joinWaiter: undefined,
        syncWaiter: undefined,
        sessionTimer: undefined,
      };
      group.members.set(memberId, member);
    } else {
      member.protocols = req.protocols;
      member.sessionTimeoutMs = req.sessionTimeoutMs;
      member.rebalanceTimeoutMs = req.rebalanceTimeoutMs > 0 ? req.rebalanceTimeoutMs : req.sessionTimeoutMs;
      // A duplicate join from the same member supersedes the earlier one.
      member.joinWaiter?.({ ...this.errorJoin(KafkaError.UNKNOWN_MEMBER_ID, memberId) });
    }
    group.protocolType ??= req.protocolType;
    const joining = member;
    const result = new Promise<JoinResult>((resolve) => {
      joining.joinWaiter = resolve;
    });
    // While waiting in a rebalance the rebalance timeout applies, not the session timeout.
    this.clearSession(member);
    if (group.state === 'PreparingRebalance') this.maybeCompleteJoin(group);
    else this.prepareRebalance(group, `member ${memberId} joined`);
    return result;
  }

  sync(
    groupId: string,
    generationId: number,
    memberId: string,
    assignments: { memberId: string; assignment: Buffer }[],
  ): Promise<SyncResult> {
    const group = this.groups.get(groupId);
    const member = group?.members.get(memberId);
    const fail = (errorCode: KafkaErrorCode) =>
      Promise.resolve({
        errorCode,
        protocolType: group?.protocolType ?? null,
        protocolName: group?.protocolName ?? null,
        assignment: EMPTY,
      });
    if (group === undefined || member === undefined) return fail(KafkaError.UNKNOWN_MEMBER_ID);
    if (generationId !== group.generation) return fail(KafkaError.ILLEGAL_GENERATION);
    this.touchSession(group, member);
    if (group.state === 'PreparingRebalance' || group.state === 'Empty') return fail(KafkaError.REBALANCE_IN_PROGRESS);
    if (group.state === 'Stable') return Promise.resolve(this.syncResult(group, member));
    const result = new Promise<SyncResult>((resolve) => {
      member.syncWaiter = resolve;
    });
    if (memberId === group.leaderId) {
      const byMember = new Map(assignments.map((a) => [a.memberId, a.assignment]));
      for (const m of group.members.values()) m.assignment = byMember.get(m.memberId) ?? EMPTY;
      group.state = 'Stable';
      this.logger.info({ group: groupId, generation: group.generation, members: group.members.size }, 'group stable');
      for (const m of group.members.values()) {
        const waiter = m.syncWaiter;
        m.syncWaiter = undefined;
        waiter?.(this.syncResult(group, m));
      }
    }
    return result;
  }

  heartbeat(groupId: string, generationId: number, memberId: string): KafkaErrorCode {
    const group = this.groups.get(groupId);
    const member = group?.members.get(memberId);
    if (group === undefined || member === undefined) return KafkaError.UNKNOWN_MEMBER_ID;
    if (generationId !== group.generation) return KafkaError.ILLEGAL_GENERATION;
    this.touchSession(group, member);
    return group.state === 'PreparingRebalance' ? KafkaError.REBALANCE_IN_PROGRESS : KafkaError.NONE;
  }

  leave(groupId: string, memberIds: string[]): { memberId: string; errorCode: KafkaErrorCode }[] {
    const group = this.groups.get(groupId);
    return memberIds.map((memberId) => {
      const member = group?.members.get(memberId);
      if (group === undefined || member === undefined) return { memberId, errorCode: KafkaError.UNKNOWN_MEMBER_ID };
      this.removeMember(group, member, 'left the group');
      return { memberId, errorCode: KafkaError.NONE };
    });
  }

  /** Validates a commit's membership; a commit with generation -1 and no member id is a standalone commit. */
  checkCommit(groupId: string, generationId: number, memberId: string): KafkaErrorCode {
    if (!groupId) return KafkaError.INVALID_GROUP_ID;
    if (generationId < 0 && memberId === '') return KafkaError.NONE;
    const group = this.groups.get(groupId);
    const member = group?.members.get(memberId);
    if (group === undefined || member === undefined) return KafkaError.UNKNOWN_MEMBER_ID;
    if (generationId !== group.generation) return KafkaError.ILLEGAL_GENERATION;
    // As Kafka: members of the current generation may commit while a rebalance is being prepared (that is how they
    // hand over their progress before rejoining); between join and sync the generation is not settled yet.
    if (group.state === 'CompletingRebalance') return KafkaError.REBALANCE_IN_PROGRESS;
    this.touchSession(group, member);
    return KafkaError.NONE;
  }

  async commit(
    groupId: string,
    offsets: { topic: string; partition: number; offset: number; metadata: string }[],
  ): Promise<KafkaErrorCode> {
    try {
      await this.log.groups.commit(groupId, offsets);
      return KafkaError.NONE;
    } catch (error) {
      this.logger.warn({ err: error, group: groupId }, 'offset commit failed');
      return isSluiceError(error, 'INVALID_COMMIT_OFFSET')
        ? KafkaError.INVALID_COMMIT_OFFSET_SIZE
        : KafkaError.UNKNOWN_SERVER_ERROR;
    }
  }

  describe(groupId: string) {
    const group = this.groups.get(groupId);
    if (group === undefined) {
      const known = this.log.groups.listGroups().includes(groupId);
      return {
        errorCode: KafkaError.NONE,
        groupId,
        groupState: known ? 'Empty' : 'Dead',
        protocolType: '',
        protocolData: '',
        members: [],
      };
    }
    return {
      errorCode: KafkaError.NONE,
      groupId,
      groupState: group.state,
      protocolType: group.protocolType ?? '',
      protocolData: group.protocolName ?? '',
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: m.protocols.find((p) => p.name === group.protocolName)?.metadata ?? EMPTY,
        memberAssignment: m.assignment,
      })),
    };
  }

  list(): { groupId: string; protocolType: string; groupState: string }[] {
    const out = new Map<string, { groupId: string; protocolType: string; groupState: string }>();
    for (const groupId of this.log.groups.listGroups())
      out.set(groupId, { groupId, protocolType: 'consumer', groupState: 'Empty' });
    for (const group of this.groups.values()) {
      out.set(group.id, { groupId: group.id, protocolType: group.protocolType ?? '', groupState: group.state });
    }
    return [...out.values()];
  }

  close(): void {
    this.closed = true;
    for (const group of this.groups.values()) {
      if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
      for (const member of group.members.values()) {
        this.clearSession(member);
        member.joinWaiter?.(this.errorJoin(KafkaError.COORDINATOR_NOT_AVAILABLE, member.memberId));
        member.syncWaiter?.({
          errorCode: KafkaError.COORDINATOR_NOT_AVAILABLE,
          protocolType: null,
          protocolName: null,
          assignment: EMPTY,
        });
      }
    }
    this.groups.clear();
  }

  private protocolsCompatible(group: Group, req: JoinRequest): boolean {
    if (group.members.size === 0) return true;
    if (group.protocolType !== null && group.protocolType !== req.protocolType) return false;
    const others = [...group.members.values()].filter((m) => m.memberId !== req.memberId);
    return req.protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)));
  }

  private prepareRebalance(group: Group, reason: string): void {
    if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
    // Members waiting for their assignment must rejoin instead.
    for (const member of group.members.values()) {
      const waiter = member.syncWaiter;
      member.syncWaiter = undefined;
      waiter?.({
        errorCode: KafkaError.REBALANCE_IN_PROGRESS,
        protocolType: group.protocolType,
        protocolName: group.protocolName,
        assignment: EMPTY,
      });
    }
    const wasEmpty = group.state === 'Empty';
    group.state = 'PreparingRebalance';
    this.logger.info({ group: group.id, reason }, 'rebalance started');
    let delay = 0;
    for (const member of group.members.values()) delay = Math.max(delay, member.rebalanceTimeoutMs);
    if (wasEmpty) {
      group.initialDelay = true;
      delay = this.options.initialRebalanceDelayMs;
    }
    group.rebalanceTimer = setTimeout(
      () => {
        group.initialDelay = false;
        this.completeJoin(group);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    if (!wasEmpty) this.maybeCompleteJoin(group);
  }

  private maybeCompleteJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance' || group.initialDelay) return;
    for (const member of group.members.values()) if (member.joinWaiter === undefined) return;
    this.completeJoin(group);
  }

  private completeJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance') return;
    if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
    group.rebalanceTimer = undefined;
    group.initialDelay = false;
    // Members that did not rejoin within the rebalance timeout are out.
    for (const member of [...group.members.values()]) {
      if (member.joinWaiter === undefined) {
        this.clearSession(member);
        group.members.delete(member.memberId);
        this.logger.info({ group: group.id, member: member.memberId }, 'member did not rejoin in time');
      }
    }
    group.generation++;
    if (group.members.size === 0) {
      group.state = 'Empty';
      group.protocolName = null;
      group.protocolType = null;
      group.leaderId = null;
      return;
    }
    group.protocolName = this.selectProtocol(group);
    if (group.leaderId === null || !group.members.has(group.leaderId))
      group.leaderId = group.members.keys().next().value!;
    group.state = 'CompletingRebalance';
    const members = [...group.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      metadata: m.protocols.find((p) => p.name === group.protocolName)!.metadata,
    }));
    this.logger.info(
      { group: group.id, generation: group.generation, members: members.length, leader: group.leaderId },
      'generation formed',
    );
    for (const member of group.members.values()) {
      const waiter = member.joinWaiter!;
      member.joinWaiter = undefined;
      this.touchSession(group, member);
      waiter({
        errorCode: KafkaError.NONE,
        generationId: group.generation,
        protocolType: group.protocolType,
        protocolName: group.protocolName,
        leader: group.leaderId,
        memberId: member.memberId,
        members: member.memberId === group.leaderId ? members : [],
      });
    }
  }

  /** Each member votes for its most preferred protocol that every member supports. */
  private selectProtocol(group: Group): string {
    const members = [...group.members.values()];
    const candidates = members[0]!.protocols
      .map((p) => p.name)
      .filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)));
    const votes = new Map<string, number>();
    for (const member of members) {
      const choice = member.protocols.find((p) => candidates.includes(p.name))!.name;
      votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    let best = candidates[0]!;
    for (const name of candidates) if ((votes.get(name) ?? 0) > (votes.get(best) ?? 0)) best = name;
    return best;
  }

  private syncResult(group: Group, member: Member): SyncResult {
    return {
      errorCode: KafkaError.NONE,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      assignment: member.assignment,
    };
  }

  private errorJoin(errorCode: KafkaErrorCode, memberId: string): JoinResult {
    return { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, members: [] };
  }

  private touchSession(group: Group, member: Member): void {
    this.clearSession(member);
    member.sessionTimer = setTimeout(
      () => {
        member.sessionTimer = undefined;
        if (group.members.get(member.memberId) === member) this.removeMember(group, member, 'session timed out');
      },
      Math.min(member.sessionTimeoutMs, MAX_TIMER_MS),
    );
    member.sessionTimer.unref();
  }

  private clearSession(member: Member): void {
    if (member.sessionTimer) clearTimeout(member.sessionTimer);
    member.sessionTimer = undefined;
  }

  private removeMember(group: Group, member: Member, reason: string): void {
    this.clearSession(member);
    group.members.delete(member.memberId);
    member.joinWaiter?.(this.errorJoin(KafkaError.UNKNOWN_MEMBER_ID, member.memberId));
    member.syncWaiter?.({
      errorCode: KafkaError.UNKNOWN_MEMBER_ID,
      protocolType: null,
      protocolName: null,
      assignment: EMPTY,
    });
    if (group.leaderId === member.memberId) group.leaderId = null;
    this.logger.info({ group: group.id, member: member.memberId, reason }, 'member removed');
    if (group.state === 'Stable' || group.state === 'CompletingRebalance') {
      if (group.members.size > 0) this.prepareRebalance(group, `member ${member.memberId} ${reason}`);
      else {
        group.state = 'Empty';
        group.generation++;
      }
    } else if (group.state === 'PreparingRebalance') {
      this.maybeCompleteJoin(group);
    }
  }
}
