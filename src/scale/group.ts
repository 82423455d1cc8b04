// Membership of a scaled-out pipeline's group, through the Kafka group protocol of whatever cluster holds the input
// (`sluice broker` or Kafka). Every process running the pipeline joins the group with the pipeline's input topics;
// the leader hands out partition *indexes* — partition p of every input topic goes to the same member, since task p
// reads them together — and each member is told its share after every rebalance (a member joining, leaving, or
// missing its heartbeats). Offsets are not committed to the group: a task's position lives in its checkpoint.
import { Consumer, type GroupPartitionsAssigner } from '@platformatic/kafka';
import { explainClientError } from '../connectors/index.ts';
import type { Logger } from '../logger.ts';

export interface TaskGroupOptions {
  bootstrap: string;
  group: string;
  /** The pipeline's input topics (co-partitioned). */
  topics: string[];
  /** Called with this member's partitions after each rebalance, in order. */
  onAssign: (partitions: number[]) => void;
  /** A member silent this long is dropped and its tasks move (default 10 s). */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  logger: Logger;
}

export interface TaskGroup {
  readonly memberId: string | null;
  leave(): Promise<void>;
}

/** Partition p of every topic to member p mod n (members sorted by id): balanced and the same on every leader. */
export const assignByPartitionIndex: GroupPartitionsAssigner = (_current, members, topics, metadata) => {
  const ids = [...members.keys()].sort();
  const counts = [...topics].map((topic) => metadata.topics.get(topic)?.partitionsCount ?? 0);
  const partitions = Math.max(0, ...counts);
  return ids.map((memberId, index) => {
    const mine: number[] = [];
    for (let p = index; p < partitions; p += ids.length) mine.push(p);
    return {
      memberId,
      assignments: new Map(
        [...topics].map((topic, t) => [topic, { topic, partitions: mine.filter((p) => p < counts[t]!) }] as const),
      ),
    };
  });
};

export async function joinTaskGroup(options: TaskGroupOptions): Promise<TaskGroup> {
  const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
  const consumer = new Consumer({
    clientId: `sluice-${options.group}`,
    groupId: options.group,
    bootstrapBrokers: [options.bootstrap],
    sessionTimeout,
    rebalanceTimeout: sessionTimeout * 3,
    heartbeatInterval: options.heartbeatIntervalMs ?? Math.max(100, Math.floor(sessionTimeout / 5)),
    autocommit: false,
    retries: 5,
  });
  consumer.on('consumer:group:join', ({ assignments, generationId }) => {
    const partitions = new Set<number>();
    for (const a of assignments ?? []) for (const p of a.partitions) partitions.add(p);
    const sorted = [...partitions].sort((a, b) => a - b);
    options.logger.info({ generationId, partitions: sorted }, 'group assignment');
    options.onAssign(sorted); // the runner reconciles: an unchanged share changes nothing
  });
  consumer.on('consumer:group:rebalance', () => options.logger.info('group rebalancing'));
  try {
    consumer.topics.trackAll(...options.topics);
    await consumer.joinGroup({ partitionAssigner: assignByPartitionIndex });
  } catch (error) {
    await consumer.close(true).catch(() => {});
    throw explainClientError(error, options.bootstrap);
  }
  return {
    get memberId() {
      return consumer.memberId;
    },
    async leave() {
      // Leaving tells the coordinator at once (no session timeout to wait out); bounded, as a broker that is gone
      // would otherwise hold the shutdown up.
      await Promise.race([
        new Promise<void>((resolve) => consumer.leaveGroup(false, () => resolve())),
        new Promise<void>((resolve) => setTimeout(resolve, 3000).unref()),
      ]);
      options.logger.debug('left the group');
      await Promise.race([
        consumer.close(true).catch(() => {}),
        new Promise<void>((resolve) => setTimeout(resolve, 3000).unref()),
      ]);
      options.logger.debug('consumer closed');
    },
  };
}
