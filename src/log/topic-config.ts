// Topic names and settings: Kafka's naming rules, defaults, and validation with precise errors.
import { SluiceError } from '../errors.ts';
import type { TopicConfig } from './types.ts';

export const DEFAULT_TOPIC_CONFIG: TopicConfig = {
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  segmentBytes: 1 << 30,
  segmentMs: 7 * 24 * 3600 * 1000,
  maxMessageBytes: 1_048_588,
};

/**
 * The settings a topic may change after creation. Retention is read at each check, so a change is safe at any time;
 * the others stay as created (the Kafka layer refuses to change them, naming the setting).
 */
export const ALTERABLE_TOPIC_SETTINGS: ReadonlySet<keyof TopicConfig> = new Set(['retentionMs', 'retentionBytes']);

export const MAX_PARTITIONS = 10_000;
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export function validateTopicName(name: string): void {
  if (typeof name !== 'string' || !TOPIC_NAME.test(name) || name === '.' || name === '..') {
    throw new SluiceError(
      'INVALID_TOPIC_NAME',
      `invalid topic name ${JSON.stringify(name)}: use 1 to 249 of [a-zA-Z0-9._-], and not '.' or '..'`,
      { topic: name },
    );
  }
}

export function validatePartitionCount(topic: string, partitions: number): void {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new SluiceError(
      'INVALID_PARTITIONS',
      `topic ${topic}: partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${partitions}`,
      { topic, partitions },
    );
  }
}

/** Merges `overrides` over `base`, checking every field. */
export function resolveTopicConfig(
  topic: string,
  base: TopicConfig,
  overrides: Partial<TopicConfig> = {},
): TopicConfig {
  const config = { ...base, ...overrides };
  const check = (field: keyof TopicConfig, ok: boolean, rule: string) => {
    if (!ok) {
      throw new SluiceError('INVALID_CONFIG', `topic ${topic}: ${field} ${rule}, got ${config[field]}`, {
        topic,
        field,
      });
    }
  };
  const isInt = (v: number) => Number.isSafeInteger(v);
  check('retentionMs', isInt(config.retentionMs) && config.retentionMs >= -1, 'must be -1 or a non-negative integer');
  check(
    'retentionBytes',
    isInt(config.retentionBytes) && config.retentionBytes >= -1,
    'must be -1 or a non-negative integer',
  );
  check(
    'segmentBytes',
    isInt(config.segmentBytes) && config.segmentBytes >= 1024 && config.segmentBytes <= 2 ** 31 - 1,
    'must be from 1024 to 2^31-1',
  );
  check('segmentMs', isInt(config.segmentMs) && config.segmentMs >= 1, 'must be a positive integer');
  check('maxMessageBytes', isInt(config.maxMessageBytes) && config.maxMessageBytes >= 64, 'must be an integer >= 64');
  return config;
}
