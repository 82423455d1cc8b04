// The contracts between the engine and the outside world: batches of records, sources that read them (and
// remember where they are, for checkpoints), sinks that write them (a pending write is what slows the sources
// down), and formats that turn bytes into values and back. Types only.

/** Records travel in batches (parallel arrays) for speed; every operator still sees them one at a time in order. */
export interface Batch<T> {
  readonly values: readonly T[];
  /** Event timestamps (epoch ms), or processing time when the pipeline runs in processing-time mode. */
  readonly timestamps: readonly number[];
  /** The input channel (source and partition) the batch came from, kept through stateless operators. */
  readonly channel?: number;
  /**
   * Only on an empty batch: the source says `channel` went idle (true: it has caught up with the partition and
   * nothing arrived for its idle timeout) or woke up without records (false); see SourceBatch.channelIdle.
   */
  readonly channelIdle?: boolean;
}

/** A record an operator or source refused, with why and the original, for the dead-letter output. */
export interface DeadLetter {
  /** Which operator refused the record. */
  operator: string;
  error: string;
  /** The original bytes (for deserialization failures) or the record as JSON. */
  original: Buffer | string;
  timestamp: number;
}

/** How records' bytes become values and back. */
export interface Format<T> {
  readonly name: string;
  decode(bytes: Buffer): T;
  /**
   * Decodes bytes[start, end) — what `decode(bytes.subarray(start, end))` does, without the view: sources reading
   * whole record batches call it per record, where a Buffer view per record would double the garbage. What it
   * returns must not keep a view of `bytes`: the page's memory is read into again once it is handed on.
   */
  decodeRange?(bytes: Buffer, start: number, end: number): T;
  encode(value: T): Buffer;
}

export interface SourceBatch<T> {
  /** The partition (or other ordered sub-stream) the records come from; watermarks are tracked per channel. */
  readonly channel: number;
  readonly values: T[];
  /** The records' own timestamps (e.g. Kafka record timestamps), used until withTimestamps() replaces them. */
  readonly timestamps: number[];
  /**
   * For sources that carry event time themselves (a repartition topic's reader): the watermark after these
   * records, and whether the source's every writer is idle. Ordinary sources leave both out.
   */
  readonly watermark?: number;
  readonly idle?: boolean;
  /**
   * Partition idleness, on an empty batch only: true when the source knows it has nothing to read in `channel` (it
   * has caught up with the partition's end) and nothing has arrived there for its idle timeout. Timestamp
   * assigners then leave the channel out of the watermark until its next records, which wake it up (false wakes
   * it without records). Never merely because the pipeline was slow to poll, and never in a bounded run (the end
   * of the input is the final watermark). Unlike `idle` above, which speaks for every channel of the source.
   */
  readonly channelIdle?: boolean;
}

export interface SourceContext {
  /** Reports a record that could not be decoded; the source skips it. */
  deadLetter(letter: Omit<DeadLetter, 'operator'>): void;
  /** True when the pipeline runs in bounded (batch) mode: poll() must return null at the end of the input. */
  readonly bounded: boolean;
  /** The pipeline's clock (epoch ms; tests pass a manual one), which idleness is timed by. Default: Date.now. */
  readonly clock?: () => number;
}

export interface Source<T> {
  readonly name: string;
  open(ctx: SourceContext): Promise<void>;
  /** The channels this source will read, announced before any record so that none is forgotten by watermarks. */
  channels(): number[];
  /**
   * The next batch, waiting for data when there is none yet (until `signal` aborts, then resolving with an empty
   * batch); `null` when a bounded input is exhausted.
   */
  poll(signal: AbortSignal): Promise<SourceBatch<T> | null>;
  /** The topic it reads and the next offset it will read in each partition (consumer lag, for the dashboard). */
  readPositions?(): { topic: string; offsets: number[] };
  /**
   * For metrics: each channel this source reads and since when (its clock) it has been idle — reported with
   * `channelIdle: true` and no records since — or null while it is active. Idleness is not checkpointed: after a
   * restore every channel starts active.
   */
  channelStatus?(): { channel: number; idleSince: number | null }[];
  /**
   * Reads only these partitions (a partition task of a scaled-out pipeline; see Pipeline.runAsTask). Call before
   * open(). Sources that cannot be split leave it out, and such a pipeline runs in one piece only.
   */
  assign?(partitions: readonly number[]): void;
  /** Position to resume from (offsets), for checkpoints. */
  snapshot?(): unknown;
  restore?(position: unknown): void;
  close(): Promise<void>;
}

export interface Sink<T> {
  readonly name: string;
  open?(): Promise<void>;
  /**
   * Called before open(): `writer` names this writer stably across restarts (the pipeline, or `<pipeline>#<p>` for
   * the task of partition p); `shared` says other tasks write the same target, so that recovery cannot simply cut
   * the target back to the checkpoint and must recognise its own earlier writes instead.
   */
  setWriter?(writer: string, options: { shared: boolean }): void;
  /** Writes a batch; a returned promise holds the sources back until it settles (backpressure). */
  write(batch: Batch<T>): void | Promise<void>;
  /** Called when the watermark reaching the sink advances (e.g. to commit a serving table's time boundary). */
  onWatermark?(watermark: number): void;
  /** Called when the stream reaching the sink goes idle (every input channel silent) or speaks again. */
  onIdle?(idle: boolean): void;
  /** Makes everything written so far durable/visible. */
  flush?(): Promise<void>;
  /**
   * Checkpoint phase 1: the checkpoint's barrier reached this sink (every record before it has been written).
   * Make those writes durable and return what recovery needs to undo any later write (end offsets, an epoch);
   * it is stored in the checkpoint. Without it, a sink is at-least-once.
   */
  prepareCheckpoint?(checkpointId: number): Promise<unknown>;
  /** Checkpoint phase 2: checkpoint `checkpointId` is durable everywhere (e.g. publish a commit marker). */
  commitCheckpoint?(checkpointId: number): Promise<void>;
  /**
   * Recovery, after open() and before any write: the pipeline resumes from the checkpoint whose
   * prepareCheckpoint() returned `state` (undefined: from the beginning). Undo every write made after it, so
   * that the replayed records are written exactly once.
   */
  recover?(state: unknown): Promise<void>;
  close?(): Promise<void>;
}
