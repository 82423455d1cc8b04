// A repartition step (`stream.repartition(key, { name })`): regroups a stream by another key than its input's
// partitioning. In one process it is a pass-through — the instance sees every key. In a partition task of a
// scaled-out pipeline (runAsTask: PipelineGraph.assignTask) its records cross between the tasks through an internal
// topic, written by key and read back, partition p by task p (connectors/repartition-topic.ts).

import type { PipelineLog } from '../contracts/index.ts';
import { SluiceError } from '../errors.ts';
import { validateTopicName } from '../log/index.ts';
import { type Format, json } from './connectors/formats.ts';
import { LogSource } from './connectors/log-source.ts';
import { RepartitionReader } from './connectors/repartition-reader.ts';
import { RepartitionTopic } from './connectors/repartition-topic.ts';
import { RepartitionWriter } from './connectors/repartition-writer.ts';
import type { PipelineGraph } from './graph.ts';
import type { Node } from './node.ts';
import { RepartitionOperator } from './operators/repartition.ts';
import { UnionOperator } from './operators/stateless.ts';
import type { Operator } from './types.ts';

export interface RepartitionOptions<T> {
  /**
   * Names the step: its topic is `<pipeline>-<name>-repartition`, and its reader's position is checkpointed under
   * it. Keep it stable across versions of the pipeline, as a uid: a new name starts an empty topic.
   */
  name: string;
  /** How records are stored in the topic (default JSON): a value must decode equal to what was encoded. */
  format?: Format<T>;
  /** The log that holds the topic (default: the one the pipeline's log sources read). */
  log?: PipelineLog;
  /** How often at most each task passes its watermark on through the topic (default 200 ms). */
  watermarkIntervalMs?: number;
}

const NAME = /^[a-zA-Z0-9._-]+$/;

/** @internal Adds the step after `node` (its output `sideTag`); returns the node its records come out of. */
export function addRepartition<T, K>(
  graph: PipelineGraph,
  node: Node,
  sideTag: string | undefined,
  key: (value: T) => K,
  options: RepartitionOptions<T>,
): Node {
  const { name } = options;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new SluiceError(
      'INVALID_REPARTITION',
      `a repartition step needs a name of letters, digits, '.', '_' and '-' (it names a topic), got ${JSON.stringify(name)}`,
    );
  }
  const topic = `${graph.name}-${name}-repartition`;
  try {
    validateTopicName(topic);
  } catch (error) {
    throw new SluiceError('INVALID_REPARTITION', `repartition "${name}": ${(error as Error).message}`);
  }
  const intervalMs = options.watermarkIntervalMs ?? 200;
  if (!Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new SluiceError('INVALID_REPARTITION', `repartition "${name}": watermarkIntervalMs must be >= 0`);
  }
  const format = options.format ?? json<T>();
  const operator = new RepartitionOperator(key, format);
  const writer = graph.addNode(`repartition:${name}`, operator as Operator<never, unknown>);
  node.connect(writer, 0, sideTag);
  const reader = graph.addNode(`source:log:${topic}`, new UnionOperator());
  writer.connect(reader, 0);
  graph.addShuffle({
    topic,
    writer,
    reader,
    split(_partition, inputs) {
      const sources = inputs.filter((s): s is LogSource<unknown> => s instanceof LogSource);
      const log = options.log ?? sources[0]?.log;
      if (sources.length === 0 || log === undefined) {
        throw new SluiceError(
          'TASKS_UNSUPPORTED',
          `repartition "${name}": a pipeline split into partition tasks repartitions through its log, and reads no log topic`,
        );
      }
      operator.serialize = true;
      const shared = new RepartitionTopic(log, topic, [...new Set(sources.map((s) => s.topic))]);
      return {
        sink: new RepartitionWriter(shared, { watermarkIntervalMs: intervalMs }),
        source: new RepartitionReader(shared, format),
      };
    },
  });
  return reader;
}
