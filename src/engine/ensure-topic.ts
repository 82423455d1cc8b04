// Creating a pipeline's topics idempotently, for pipeline definitions and the engine's own repartition topics.
import type { PipelineLog, TopicSpec } from '../contracts/index.ts';

/**
 * Creates `topic` unless it exists. Several processes of a scaled-out pipeline define it at once, so a topic that
 * another one created meanwhile (TOPIC_ALREADY_EXISTS) is as good as created here.
 */
export async function ensureTopic(log: PipelineLog, topic: string, spec: TopicSpec): Promise<void> {
  if (log.hasTopic(topic)) return;
  await log.createTopic(topic, spec).catch((error: { code?: string }) => {
    if (error.code !== 'TOPIC_ALREADY_EXISTS') throw error;
  });
}
