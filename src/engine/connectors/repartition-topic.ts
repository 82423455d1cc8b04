// The internal topic of a repartition step in a scaled-out pipeline (`<pipeline>-<name>-repartition`, one partition
// per task): every task writes its records to it partitioned by the new key, and reads back partition p, its own
// share of the keys, written by every task.
//
// Exactly-once: the writer is the log sink in its idempotent shared-writer mode (writer and sequence headers; after
// a crash the replay skips what is already there), the reader's offset is in the reading task's checkpoint. Every
// record is in the topic once and read once, whichever tasks crash, so no barrier needs to span tasks.
//
// Event time crosses the topic as watermark markers: records without a value whose `sluice.watermark` header holds
// the writer's watermark and idleness, which each writer appends to every partition after the records they cover
// (at most every `watermarkIntervalMs`, at once when it goes idle, wakes up or ends). A reader knows how many
// writers there are — one per partition — and emits the minimum over those that are not idle of each one's latest
// watermark (a writer not heard from yet holds it at its start), as a node does over its inputs. It cuts its
// batches at each marker that moves that minimum, so what is late downstream depends only on the partition's
// contents, not on how reads were paged.
//
// This file holds the topic itself and the markers; the writer and the reader are repartition-writer.ts and
// repartition-reader.ts.

import type { PipelineLog } from '../../contracts/index.ts';
import { SluiceError } from '../../errors.ts';
import type { StoredRecord } from '../../log/index.ts';
import { ensureTopic } from '../ensure-topic.ts';

export const WATERMARK_HEADER = 'sluice.watermark';

/** A marker's header value: the watermark as a float64 (±∞ included), then 1 for idle or 0. */
export function encodeMarker(watermark: number, idle: boolean): Buffer {
  const bytes = Buffer.allocUnsafe(9);
  bytes.writeDoubleBE(watermark, 0);
  bytes[8] = idle ? 1 : 0;
  return bytes;
}

export function decodeMarker(bytes: Buffer | null | undefined): { watermark: number; idle: boolean } | undefined {
  if (bytes?.length !== 9) return undefined;
  const watermark = bytes.readDoubleBE(0);
  return Number.isNaN(watermark) ? undefined : { watermark, idle: bytes[8] === 1 };
}

/**
 * The topic of one repartition step, as one task instance sees it. Its partition count is the task count — the
 * input topics' partition count — so that task p reads partition p; every task creates it if missing (all at once
 * at the first start), and one with another count (the input was repartitioned since) is refused.
 */
export class RepartitionTopic {
  readonly log: PipelineLog;
  readonly name: string;
  private readonly inputs: readonly string[];
  private resolved: Promise<number> | undefined;

  constructor(log: PipelineLog, name: string, inputs: readonly string[]) {
    this.log = log;
    this.name = name;
    this.inputs = inputs;
  }

  /** The partition count, once the topic exists (resolved once per instance). */
  partitions(): Promise<number> {
    this.resolved ??= this.resolve();
    return this.resolved;
  }

  private async resolve(): Promise<number> {
    const { log, name } = this;
    const counts = this.inputs.map((topic) => log.describeTopic(topic).partitions.length);
    const tasks = counts[0]!;
    if (counts.some((n) => n !== tasks)) {
      throw new SluiceError(
        'NOT_CO_PARTITIONED',
        `repartition topic ${name}: the inputs ${this.inputs.map((t, i) => `${t} (${counts[i]})`).join(', ')} ` +
          'have different partition counts',
        { topics: [...this.inputs], counts },
      );
    }
    // Kafka Streams keeps repartition topics forever too: records carry event timestamps, which time-based
    // retention could take for old and delete before every task has read them.
    await ensureTopic(log, name, { partitions: tasks, config: { retentionMs: -1 } });
    await log.refresh?.(name);
    const actual = log.describeTopic(name).partitions.length;
    if (actual !== tasks) {
      throw new SluiceError(
        'NOT_CO_PARTITIONED',
        `repartition topic ${name} has ${actual} partitions, but the pipeline runs ${tasks} tasks (the partition ` +
          `count of ${this.inputs.join(', ')}); it was made for another partition count: delete it (with the ` +
          `pipeline's checkpoints) to start afresh`,
        { topic: name, partitions: actual, tasks },
      );
    }
    return tasks;
  }
}

/** Markers are told by their header (a Kafka client may hand their missing value over as empty bytes). */
export function isMarker(record: StoredRecord): boolean {
  const { headers } = record;
  for (let i = 0; i < headers.length; i++) if (headers[i]!.key === WATERMARK_HEADER) return true;
  return false;
}
