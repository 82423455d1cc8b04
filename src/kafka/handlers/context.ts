// What request handlers may use: the log (with its transaction coordinator), the group coordinator, and facts about
// this broker. No sockets.
import { SluiceError } from '../../errors.ts';
import type { Log, TopicConfig } from '../../log/index.ts';
import type { Logger } from '../../logger.ts';
import type { GroupCoordinator } from '../group-coordinator.ts';
import type { Decoded, RequestHeader } from '../protocol/index.ts';

export interface BrokerContext {
  log: Log;
  coordinator: GroupCoordinator;
  logger: Logger;
  nodeId: number;
  /** The advertised address: what Metadata, FindCoordinator and DescribeCluster tell clients to connect to. */
  host: string;
  port: number;
  /** Where the listener is bound (DescribeConfigs' `listeners`). */
  listener: { host: string; port: number };
  /** The largest request frame the server reads (Kafka's socket.request.max.bytes). */
  maxRequestBytes: number;
  clusterId: string;
  autoCreateTopics: boolean;
  defaultPartitions: number;
}

export interface RequestContext {
  header: RequestHeader;
  clientHost: string;
}

/**
 * A handler for one API: a plain function from the request, decoded at one of the versions the API serves (every
 * field present, at its default where that version lacks it), to the response to encode at the same version.
 */
export type Handler<Req, Res> = (
  request: Decoded<Req>,
  broker: BrokerContext,
  context: RequestContext,
) => Res | Promise<Res>;

/** Creates `topic` when auto-creation is on; true when it exists afterwards. */
export async function ensureTopic(broker: BrokerContext, topic: string, allowAutoCreate = true): Promise<boolean> {
  if (broker.log.hasTopic(topic)) return true;
  if (!broker.autoCreateTopics || !allowAutoCreate) return false;
  try {
    await broker.log.createTopic(topic, { partitions: broker.defaultPartitions });
    broker.logger.info({ topic, partitions: broker.defaultPartitions }, 'auto-created topic');
  } catch (error) {
    if (!(error instanceof SluiceError && error.code === 'TOPIC_ALREADY_EXISTS')) throw error;
  }
  return true;
}

/** Kafka's names of the topic settings the log keeps per topic. */
export const CONFIG_KEYS: Readonly<Record<string, keyof TopicConfig>> = {
  'retention.ms': 'retentionMs',
  'retention.bytes': 'retentionBytes',
  'segment.bytes': 'segmentBytes',
  'segment.ms': 'segmentMs',
  'max.message.bytes': 'maxMessageBytes',
};
/** Settings that only matter to a replicated cluster or to producers: accepted and ignored. */
const IGNORED_KEYS = new Set([
  'min.insync.replicas',
  'unclean.leader.election.enable',
  'compression.type',
  'flush.messages',
  'flush.ms',
]);

/** Kafka topic configs → the log's TopicConfig, refusing what we cannot honour. */
export function topicConfigFrom(configs: { name: string; value: string | null }[]): Partial<TopicConfig> {
  const out: Partial<TopicConfig> = {};
  for (const { name, value } of configs) {
    const key = CONFIG_KEYS[name];
    if (key !== undefined) {
      const n = Number(value);
      if (value === null || !Number.isSafeInteger(n))
        throw new SluiceError('INVALID_CONFIG', `config ${name} must be an integer, got ${value}`);
      out[key] = n;
    } else if (name === 'cleanup.policy') {
      if (value !== 'delete')
        throw new SluiceError('INVALID_CONFIG', `cleanup.policy ${value} is not supported (only delete)`);
    } else if (!IGNORED_KEYS.has(name)) {
      throw new SluiceError('INVALID_CONFIG', `unknown or unsupported topic config ${name}`);
    }
  }
  return out;
}
