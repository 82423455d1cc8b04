// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: the topic settings the log really applies and the
// broker's own, under Kafka's names. Only retention can change once a topic exists; everything else is refused by name.
import { isSluiceError } from '../../errors.ts';
import { ALTERABLE_TOPIC_SETTINGS, type TopicConfig, type TopicConfigChanges } from '../../log/index.ts';
import {
  type AlterConfigsRequest,
  type AlterConfigsResponse,
  type DescribeConfigsRequest,
  type DescribeConfigsResponse,
  type IncrementalAlterConfigsRequest,
  type IncrementalAlterConfigsResponse,
  KafkaError,
  kafkaErrorOf,
} from '../protocol/index.ts';
import { type BrokerContext, CONFIG_KEYS, type Handler } from './context.ts';

type ConfigEntry = DescribeConfigsResponse['results'][number]['configs'][number];
type AlterResult = AlterConfigsResponse['responses'][number];

/** Kafka's ConfigResource types (only these two carry configs here). */
const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;
/** DescribeConfigs' ConfigSource values. */
const SOURCE_TOPIC = 1; // DYNAMIC_TOPIC_CONFIG
const SOURCE_STATIC_BROKER = 4; // STATIC_BROKER_CONFIG: set when the broker started (flags)
const SOURCE_DEFAULT = 5; // DEFAULT_CONFIG
/** DescribeConfigs' ConfigType values (v3+). */
const TYPE = { BOOLEAN: 1, STRING: 2, INT: 3, LONG: 5, LIST: 7 } as const;
/** IncrementalAlterConfigs' operations. */
const OPERATIONS = ['SET', 'DELETE', 'APPEND', 'SUBTRACT'];

const ALTERABLE_NAMES = Object.entries(CONFIG_KEYS)
  .filter(([, field]) => ALTERABLE_TOPIC_SETTINGS.has(field))
  .map(([name]) => name)
  .join(' and ');

interface TopicSetting {
  name: string;
  type: number;
  /** The broker setting that supplies the default (Kafka's synonym). */
  synonym: string;
  doc: string;
  /** A setting the log holds per topic; the others have one value here, whatever a topic says. */
  field?: keyof TopicConfig;
  fixed?: string;
}

/** Every topic setting that has a meaning here, as Kafka names it, in Kafka's (alphabetical) order. */
const TOPIC_SETTINGS: readonly TopicSetting[] = [
  {
    name: 'cleanup.policy',
    type: TYPE.LIST,
    synonym: 'log.cleanup.policy',
    fixed: 'delete',
    doc: 'Old segments are deleted by retention; there is no compaction.',
  },
  {
    name: 'compression.type',
    type: TYPE.STRING,
    synonym: 'compression.type',
    fixed: 'producer',
    doc: 'Batches are stored as the producer compressed them, never recompressed.',
  },
  {
    name: 'max.message.bytes',
    type: TYPE.INT,
    synonym: 'message.max.bytes',
    field: 'maxMessageBytes',
    doc: 'The largest record batch a produce request may carry.',
  },
  {
    name: 'message.timestamp.type',
    type: TYPE.STRING,
    synonym: 'log.message.timestamp.type',
    fixed: 'CreateTime',
    doc: "Records keep their producer's timestamps.",
  },
  {
    name: 'min.insync.replicas',
    type: TYPE.INT,
    synonym: 'min.insync.replicas',
    fixed: '1',
    doc: 'One broker, one replica: acks=all is answered once the batch is durable on it.',
  },
  {
    name: 'retention.bytes',
    type: TYPE.LONG,
    synonym: 'log.retention.bytes',
    field: 'retentionBytes',
    doc: 'Per partition, the oldest segments are deleted while the partition is larger than this; -1: no limit.',
  },
  {
    name: 'retention.ms',
    type: TYPE.LONG,
    synonym: 'log.retention.ms',
    field: 'retentionMs',
    doc: 'Segments whose newest record is older than this are deleted; -1 keeps them forever.',
  },
  {
    name: 'segment.bytes',
    type: TYPE.INT,
    synonym: 'log.segment.bytes',
    field: 'segmentBytes',
    doc: 'The active segment rolls once it reaches this size.',
  },
  {
    name: 'segment.ms',
    type: TYPE.LONG,
    synonym: 'log.roll.ms',
    field: 'segmentMs',
    doc: 'The active segment rolls once it is this old.',
  },
];

interface BrokerSetting {
  name: string;
  type: number;
  doc: string;
  value(broker: BrokerContext): string;
  /** True for what `sluice broker`'s flags set; the rest are this broker's constants. */
  fromFlags?: boolean;
}

const BROKER_SETTINGS: readonly BrokerSetting[] = [
  {
    name: 'advertised.listeners',
    type: TYPE.STRING,
    fromFlags: true,
    doc: 'The address clients are told to connect to (--advertised-host, --advertised-port).',
    value: (b) => `PLAINTEXT://${b.host}:${b.port}`,
  },
  {
    name: 'auto.create.topics.enable',
    type: TYPE.BOOLEAN,
    fromFlags: true,
    doc: 'Whether produce and metadata requests create unknown topics.',
    value: (b) => String(b.autoCreateTopics),
  },
  {
    name: 'broker.id',
    type: TYPE.INT,
    doc: 'This broker, the leader of every partition.',
    value: (b) => String(b.nodeId),
  },
  {
    name: 'compression.type',
    type: TYPE.STRING,
    doc: 'Batches are stored as produced.',
    value: () => 'producer',
  },
  {
    name: 'default.replication.factor',
    type: TYPE.INT,
    doc: 'One broker, one replica.',
    value: () => '1',
  },
  {
    name: 'listeners',
    type: TYPE.STRING,
    fromFlags: true,
    doc: 'Where the broker listens (--host, --kafka-port).',
    value: (b) => `PLAINTEXT://${b.listener.host}:${b.listener.port}`,
  },
  {
    name: 'log.cleanup.policy',
    type: TYPE.LIST,
    doc: 'Retention deletes old segments.',
    value: () => 'delete',
  },
  { name: 'log.dirs', type: TYPE.STRING, fromFlags: true, doc: 'The data directory.', value: (b) => b.log.dataDir },
  {
    name: 'log.message.timestamp.type',
    type: TYPE.STRING,
    doc: "Records keep their producer's timestamps.",
    value: () => 'CreateTime',
  },
  {
    name: 'log.retention.bytes',
    type: TYPE.LONG,
    doc: 'The default retention.bytes of topics.',
    value: (b) => String(b.log.topicDefaults.retentionBytes),
  },
  {
    name: 'log.retention.ms',
    type: TYPE.LONG,
    doc: 'The default retention.ms of topics.',
    value: (b) => String(b.log.topicDefaults.retentionMs),
  },
  {
    name: 'log.roll.ms',
    type: TYPE.LONG,
    doc: 'The default segment.ms of topics.',
    value: (b) => String(b.log.topicDefaults.segmentMs),
  },
  {
    name: 'log.segment.bytes',
    type: TYPE.INT,
    doc: 'The default segment.bytes of topics.',
    value: (b) => String(b.log.topicDefaults.segmentBytes),
  },
  {
    name: 'message.max.bytes',
    type: TYPE.INT,
    doc: 'The default max.message.bytes of topics.',
    value: (b) => String(b.log.topicDefaults.maxMessageBytes),
  },
  {
    name: 'min.insync.replicas',
    type: TYPE.INT,
    doc: 'One broker, one replica.',
    value: () => '1',
  },
  {
    name: 'node.id',
    type: TYPE.INT,
    doc: 'This broker, the leader of every partition.',
    value: (b) => String(b.nodeId),
  },
  {
    name: 'num.partitions',
    type: TYPE.INT,
    fromFlags: true,
    doc: 'Partitions of auto-created topics (--default-partitions).',
    value: (b) => String(b.defaultPartitions),
  },
  {
    name: 'socket.request.max.bytes',
    type: TYPE.INT,
    doc: 'The largest request the broker reads; a larger one closes its connection.',
    value: (b) => String(b.maxRequestBytes),
  },
];

class ConfigError extends Error {
  readonly errorCode: number;
  constructor(errorCode: number, message: string) {
    super(message);
    this.errorCode = errorCode;
  }
}

/** The broker resource is this broker's id; the empty name (cluster-wide dynamic defaults) holds none here. */
function checkBrokerName(broker: BrokerContext, name: string): void {
  if (name !== '' && name !== String(broker.nodeId)) {
    throw new ConfigError(KafkaError.INVALID_REQUEST, `unexpected broker id ${name}: this is broker ${broker.nodeId}`);
  }
}

function unsupportedResource(type: number): ConfigError {
  return new ConfigError(KafkaError.INVALID_REQUEST, `resource type ${type} has no configs here (2: topic, 4: broker)`);
}

function describeTopic(
  broker: BrokerContext,
  name: string,
  wanted: (key: string) => boolean,
  synonyms: boolean,
  docs: boolean,
): ConfigEntry[] {
  const { config, overridden } = broker.log.topicConfig(name);
  const defaults = broker.log.topicDefaults;
  const entries: ConfigEntry[] = [];
  for (const setting of TOPIC_SETTINGS) {
    if (!wanted(setting.name)) continue;
    const field = setting.field;
    const value = field === undefined ? setting.fixed! : String(config[field]);
    const own = field !== undefined && overridden.has(field);
    const defaultValue = field === undefined ? setting.fixed! : String(defaults[field]);
    entries.push({
      name: setting.name,
      value,
      readOnly: field === undefined || !ALTERABLE_TOPIC_SETTINGS.has(field),
      configSource: own ? SOURCE_TOPIC : SOURCE_DEFAULT,
      isSensitive: false,
      synonyms: synonyms
        ? [
            ...(own ? [{ name: setting.name, value, source: SOURCE_TOPIC }] : []),
            { name: setting.synonym, value: defaultValue, source: SOURCE_DEFAULT },
          ]
        : [],
      configType: setting.type,
      documentation: docs ? setting.doc : null,
    });
  }
  return entries;
}

function describeBroker(
  broker: BrokerContext,
  name: string,
  wanted: (key: string) => boolean,
  synonyms: boolean,
  docs: boolean,
): ConfigEntry[] {
  checkBrokerName(broker, name);
  if (name === '') return [];
  return BROKER_SETTINGS.filter((s) => wanted(s.name)).map((setting) => {
    const value = setting.value(broker);
    const source = setting.fromFlags ? SOURCE_STATIC_BROKER : SOURCE_DEFAULT;
    return {
      name: setting.name,
      value,
      readOnly: true,
      configSource: source,
      isSensitive: false,
      synonyms: synonyms ? [{ name: setting.name, value, source }] : [],
      configType: setting.type,
      documentation: docs ? setting.doc : null,
    };
  });
}

export const describeConfigs: Handler<DescribeConfigsRequest, DescribeConfigsResponse> = (body, broker) => ({
  throttleTimeMs: 0,
  results: body.resources.map((resource) => {
    const result = {
      errorCode: KafkaError.NONE as number,
      errorMessage: null as string | null,
      resourceType: resource.resourceType,
      resourceName: resource.resourceName,
      configs: [] as ConfigEntry[],
    };
    const keys = resource.configurationKeys === null ? null : new Set(resource.configurationKeys);
    const wanted = (key: string) => keys === null || keys.has(key);
    const docs = body.includeDocumentation === true;
    try {
      if (resource.resourceType === RESOURCE_TOPIC) {
        result.configs = describeTopic(broker, resource.resourceName, wanted, body.includeSynonyms, docs);
      } else if (resource.resourceType === RESOURCE_BROKER) {
        result.configs = describeBroker(broker, resource.resourceName, wanted, body.includeSynonyms, docs);
      } else throw unsupportedResource(resource.resourceType);
    } catch (error) {
      Object.assign(result, failure(error));
    }
    return result;
  }),
});

/** The error code and message for a resource that failed. */
function failure(error: unknown): { errorCode: number; errorMessage: string } {
  if (error instanceof ConfigError) return { errorCode: error.errorCode, errorMessage: error.message };
  return { errorCode: kafkaErrorOf(error), errorMessage: isSluiceError(error) ? error.message : String(error) };
}

/** The log setting behind a Kafka topic setting that may change, or INVALID_CONFIG naming it. */
function alterableField(name: string): keyof TopicConfig {
  const field = CONFIG_KEYS[name];
  if (field !== undefined && ALTERABLE_TOPIC_SETTINGS.has(field)) return field;
  const known = field !== undefined || TOPIC_SETTINGS.some((s) => s.name === name);
  throw new ConfigError(
    KafkaError.INVALID_CONFIG,
    known
      ? `topic config ${name} cannot be changed once the topic exists (only ${ALTERABLE_NAMES} can)`
      : `unknown or unsupported topic config ${name} (only ${ALTERABLE_NAMES} can be changed)`,
  );
}

function integerValue(name: string, value: string | null): number {
  const n = value !== null && /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new ConfigError(KafkaError.INVALID_CONFIG, `${name} must be an integer, got ${value}`);
  return n;
}

function alterBroker(broker: BrokerContext, name: string, configs: readonly { name: string }[]): void {
  checkBrokerName(broker, name);
  if (configs.length > 0) {
    throw new ConfigError(
      KafkaError.INVALID_CONFIG,
      `broker config ${configs[0]!.name} cannot be changed while the broker runs (start it with other flags)`,
    );
  }
}

/** One answer per resource, each altered on its own: one resource's failure leaves the others' changes in place. */
async function alterEach<R extends { resourceType: number; resourceName: string }>(
  resources: readonly R[],
  alter: (resource: R) => Promise<void>,
): Promise<AlterResult[]> {
  const seen = new Map<string, number>();
  for (const r of resources) {
    const key = `${r.resourceType}:${r.resourceName}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const responses: AlterResult[] = [];
  for (const resource of resources) {
    const response: AlterResult = {
      errorCode: KafkaError.NONE,
      errorMessage: null,
      resourceType: resource.resourceType,
      resourceName: resource.resourceName,
    };
    try {
      if (seen.get(`${resource.resourceType}:${resource.resourceName}`)! > 1) {
        throw new ConfigError(KafkaError.INVALID_REQUEST, `resource ${resource.resourceName} is named more than once`);
      }
      await alter(resource);
    } catch (error) {
      Object.assign(response, failure(error));
    }
    responses.push(response);
  }
  return responses;
}

/** SET and DELETE of retention.ms and retention.bytes on topics; anything else is INVALID_CONFIG naming it. */
export const incrementalAlterConfigs: Handler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse> = async (
  body,
  broker,
) => ({
  throttleTimeMs: 0,
  responses: await alterEach(body.resources, async (resource) => {
    if (resource.resourceType === RESOURCE_BROKER) return alterBroker(broker, resource.resourceName, resource.configs);
    if (resource.resourceType !== RESOURCE_TOPIC) throw unsupportedResource(resource.resourceType);
    const changes: TopicConfigChanges = {};
    const names = new Set<string>();
    for (const config of resource.configs) {
      if (names.has(config.name)) {
        throw new ConfigError(KafkaError.INVALID_REQUEST, `config ${config.name} is named more than once`);
      }
      names.add(config.name);
      const field = alterableField(config.name);
      const operation = config.configOperation;
      if (operation === 0) changes[field] = integerValue(config.name, config.value);
      else if (operation === 1) changes[field] = null;
      else {
        throw new ConfigError(
          KafkaError.INVALID_CONFIG,
          `${OPERATIONS[operation] ?? `operation ${operation}`} does not apply to ${config.name}, which is not a list`,
        );
      }
    }
    await broker.log.alterTopicConfig(resource.resourceName, changes, { validateOnly: body.validateOnly });
  }),
});

/**
 * The legacy AlterConfigs replaces a topic's settings: the retention settings it names are set, those it does not
 * name return to their defaults. Settings fixed at creation may be named with the value they have (tools send back
 * what DescribeConfigs showed) and otherwise stay as they are, since they cannot change.
 */
export const alterConfigs: Handler<AlterConfigsRequest, AlterConfigsResponse> = async (body, broker) => ({
  throttleTimeMs: 0,
  responses: await alterEach(body.resources, async (resource) => {
    if (resource.resourceType === RESOURCE_BROKER) return alterBroker(broker, resource.resourceName, resource.configs);
    if (resource.resourceType !== RESOURCE_TOPIC) throw unsupportedResource(resource.resourceType);
    const name = resource.resourceName;
    const { config: current } = broker.log.topicConfig(name);
    const changes: TopicConfigChanges = {};
    for (const field of ALTERABLE_TOPIC_SETTINGS) changes[field] = null;
    for (const config of resource.configs) {
      const setting = TOPIC_SETTINGS.find((s) => s.name === config.name);
      const field = setting?.field;
      const now = setting === undefined ? undefined : field === undefined ? setting.fixed : String(current[field]);
      if (field !== undefined && ALTERABLE_TOPIC_SETTINGS.has(field)) {
        changes[field] = integerValue(config.name, config.value);
      } else if (now === undefined || config.value !== now) {
        alterableField(config.name); // throws INVALID_CONFIG naming it
      }
    }
    await broker.log.alterTopicConfig(name, changes, { validateOnly: body.validateOnly });
  }),
});
