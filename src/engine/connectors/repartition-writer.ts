// The writing side of a repartition topic (see repartition-topic.ts): records by the new key through the log sink
// in its idempotent shared-writer mode, and watermark markers to every partition after the records they cover.
import type { RecordHeader } from '../../log/index.ts';
import type { Sink } from '../connector.ts';
import type { ShuffleRecord } from '../operators/repartition.ts';
import { type Batch, MAX_WATERMARK, MIN_WATERMARK } from '../types.ts';
import type { Format } from './formats.ts';
import { LogSinkConnector, WRITER_HEADER } from './log-sink.ts';
import { encodeMarker, type RepartitionTopic, WATERMARK_HEADER } from './repartition-topic.ts';

interface WriterCheckpoint {
  /** The log sink's: end offsets, writer and sequence number. */
  records: unknown;
  watermark: number;
  idle: boolean;
}

const passBytes: Format<ShuffleRecord> = {
  name: 'repartition',
  encode: (record) => record.value,
  decode: () => {
    throw new Error('the repartition writer does not read');
  },
};

/**
 * The writing side: records through the log sink in idempotent mode (its sequence numbers and recovery), and
 * watermark markers to every partition, in one ordered chain so that a marker never precedes the records it covers.
 * Markers take no sequence number: a replay may send others (batches can split differently), and a reader keeps
 * each writer's highest, so an old marker seen again changes nothing.
 */
export class RepartitionWriter implements Sink<ShuffleRecord> {
  readonly name: string;
  private readonly topic: RepartitionTopic;
  private readonly intervalMs: number;
  private readonly records: LogSinkConnector<ShuffleRecord>;
  private partitionCount = 0;
  private writerHeader: RecordHeader = { key: WRITER_HEADER, value: null };
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private watermark = MIN_WATERMARK;
  private idle = false;
  private sent = { watermark: MIN_WATERMARK, idle: false };
  private sentAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Markers appended (one per partition per round), for tests and metrics. */
  markers = 0;

  constructor(topic: RepartitionTopic, options: { watermarkIntervalMs: number }) {
    this.topic = topic;
    this.name = `log:${topic.name}`;
    this.intervalMs = options.watermarkIntervalMs;
    this.records = new LogSinkConnector({
      log: topic.log,
      topic: topic.name,
      format: passBytes,
      key: (record) => record.key,
    });
  }

  /** Replayed records found already in the topic (see LogSinkConnector.skipped). */
  get skipped(): number {
    return this.records.skipped;
  }

  setWriter(writer: string): void {
    // Always shared: every task writes every partition of the topic.
    this.records.setWriter(writer, { shared: true });
    this.writerHeader = { key: WRITER_HEADER, value: Buffer.from(writer) };
  }

  async open(): Promise<void> {
    this.partitionCount = await this.topic.partitions();
    await this.records.open();
  }

  write(batch: Batch<ShuffleRecord>): Promise<void> {
    return this.enqueue(() => this.records.write(batch));
  }

  onWatermark(watermark: number): void {
    if (watermark <= this.watermark) return;
    this.watermark = watermark;
    this.schedule(watermark === MAX_WATERMARK);
  }

  onIdle(idle: boolean): void {
    if (idle === this.idle) return;
    this.idle = idle;
    this.schedule(true);
  }

  async flush(): Promise<void> {
    this.sendMarkers();
    await this.settled();
    await this.records.drain(); // pipelined appends (a Kafka cluster): acknowledged, or the flush fails
  }

  async prepareCheckpoint(checkpointId: number): Promise<WriterCheckpoint> {
    await this.settled();
    return { records: await this.records.prepareCheckpoint(checkpointId), watermark: this.watermark, idle: this.idle };
  }

  /**
   * Besides the records' recovery: the watermark and status at the checkpoint go out again at once. The last
   * marker before a crash may never have been sent (they wait for the interval), and nothing else would send it
   * while the input stays as it was; readers keep each writer's highest, so a marker sent twice does no harm.
   */
  async recover(state: unknown): Promise<void> {
    const checkpoint = state as WriterCheckpoint | undefined;
    await this.records.recover(checkpoint?.records);
    if (checkpoint === undefined) return;
    this.watermark = checkpoint.watermark;
    this.idle = checkpoint.idle;
    this.schedule(true);
  }

  async commitCheckpoint(checkpointId: number): Promise<void> {
    await this.records.commitCheckpoint(checkpointId);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
    await this.records.close();
  }

  /** Markers go out at once for a change of status or the end, otherwise at most once per interval. */
  private schedule(now: boolean): void {
    if (this.closed) return;
    const wait = now ? 0 : this.sentAt + this.intervalMs - performance.now();
    if (wait <= 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.sendMarkers();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.sendMarkers();
      }, wait);
      this.timer.unref?.();
    }
  }

  /**
   * Queues a marker round with the watermark and status as they are now: every record they cover has been queued
   * already (a node hands its records to the sink before the watermark that follows them).
   */
  private sendMarkers(): void {
    if (this.partitionCount === 0) return;
    const watermark = this.watermark;
    const idle = this.idle;
    this.sentAt = performance.now();
    this.enqueue(async () => {
      if (watermark === this.sent.watermark && idle === this.sent.idle) return;
      this.sent = { watermark, idle };
      const marker = {
        key: null,
        value: null,
        headers: [this.writerHeader, { key: WATERMARK_HEADER, value: encodeMarker(watermark, idle) }],
      };
      // Written as the records are: in the epoch's transaction (a marker an abort takes back with the records it
      // follows), or durable as they are (a checkpoint flushes the topic, markers included).
      const appends: Promise<unknown>[] = [];
      for (let partition = 0; partition < this.partitionCount; partition++) {
        appends.push(this.records.appendTo(partition, [marker]));
      }
      await Promise.all(appends);
      this.markers += this.partitionCount;
    }).catch(() => {}); // kept in this.failure: the next write, checkpoint or flush fails with it
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(() => {
      if (this.failure !== undefined) throw this.failure;
      return work();
    });
    this.chain = next.catch((error: unknown) => {
      this.failure ??= error;
    });
    return next;
  }

  private async settled(): Promise<void> {
    await this.chain;
    if (this.failure !== undefined) throw this.failure;
  }
}
