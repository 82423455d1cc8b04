// What the runners need to know about a pipeline before splitting it into partition tasks: its name and its input
// topics, which must all be log topics with the same partition count (task p reads partition p of each).
import { LogSource, type Pipeline, type PipelineLog } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';

export interface PipelineShape {
  name: string;
  topics: string[];
  /** The partition count of every input topic: the number of tasks. */
  partitions: number;
}

/**
 * Builds a probe instance of the pipeline (which creates its topics) and reads its shape off it. `build` fails as
 * buildPipeline does (runtime/pipeline-file.ts): that is the first build, and its failure ends the run.
 */
export async function inspectPipeline(build: () => Promise<Pipeline>, log: PipelineLog): Promise<PipelineShape> {
  const probe = await build();
  const topics: string[] = [];
  for (const source of probe.sourceConnectors()) {
    if (!(source instanceof LogSource)) {
      throw new SluiceError(
        'TASKS_UNSUPPORTED',
        `pipeline ${probe.name}: source ${source.name} is not a log or Kafka topic, so it cannot be split into partition tasks`,
      );
    }
    topics.push(source.topic);
  }
  await log.refresh?.();
  const counts = topics.map((topic) => log.describeTopic(topic).partitions.length);
  if (new Set(counts).size > 1) {
    throw new SluiceError(
      'NOT_CO_PARTITIONED',
      `pipeline ${probe.name} reads ${topics.map((t, i) => `${t} (${counts[i]} partitions)`).join(', ')}: ` +
        'a scaled-out pipeline needs the same partition count on every input (task p reads partition p of each)',
      { topics, counts },
    );
  }
  return { name: probe.name, topics: [...new Set(topics)], partitions: counts[0] ?? 0 };
}
