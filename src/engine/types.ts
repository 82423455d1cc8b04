// The engine's inner vocabulary: batches of records flowing between operators, watermarks, and the operator
// contract that every stateful piece implements (including snapshot/restore, which checkpoints build on). Batch and
// DeadLetter are shared contracts (src/contracts).
import type { Batch, DeadLetter } from '../contracts/index.ts';

export type { Batch, DeadLetter };

export const MIN_WATERMARK = Number.NEGATIVE_INFINITY;
/** The watermark that closes a bounded input: every window fires, every timer runs. */
export const MAX_WATERMARK = Number.POSITIVE_INFINITY;

/** What an operator can do besides computing: emit, emit to a side output, forward watermarks, reject records. */
export interface OperatorContext<O> {
  readonly name: string;
  emit(value: O, timestamp: number): void;
  /** Emits a whole batch at once (no per-record copy); the arrays must not be changed afterwards. */
  emitAll(values: readonly O[], timestamps: readonly number[]): void;
  emitSide(tag: string, value: unknown, timestamp: number): void;
  /** Only for operators that generate watermarks (timestamp assigners); others return them from onWatermark. */
  emitWatermark(watermark: number): void;
  /**
   * Only for operators that generate watermarks: every input channel is idle (true), or one speaks again (false).
   * Downstream operators then leave this input out of their minimum, so a silent stream stops holding time back.
   */
  emitIdle(idle: boolean): void;
  /** Sends a bad record to the dead-letter output (or fails the pipeline when it is configured to fail fast). */
  deadLetter(error: unknown, original: unknown, timestamp: number): void;
  /** The combined watermark of this operator's inputs. */
  currentWatermark(): number;
  processingTime(): number;
  /** Counts records this operator dropped or diverted as late. */
  countLate(n: number): void;
}

export interface Operator<I, O> {
  /**
   * What kind of operator this is, as a stable name (`window-tumbling`, `interval-join`): checkpoints store it with
   * the operator's state, and a restore refuses state saved by another kind (never a class name: minification and
   * renames change those).
   */
  readonly kind: string;
  /** True for operators that make their own watermarks and idleness (timestamp assigners), ignoring their inputs'. */
  readonly generatesWatermarks?: boolean;
  open(ctx: OperatorContext<O>): void;
  processBatch(batch: Batch<I>, input: number): void;
  /**
   * The combined input watermark advanced to `watermark`: fire what is due. Returns the watermark to forward
   * (default: the same); `undefined` forwards nothing.
   */
  onWatermark?(watermark: number): number | undefined;
  /** Called periodically with the wall clock, for processing-time timers and idleness. */
  onProcessingTime?(now: number): void;
  /**
   * The operator's inputs all went idle (true) or one speaks again (false); the node forwards the status itself.
   * Not called on operators that generate watermarks (they decide their own status).
   */
  onIdle?(idle: boolean): void;
  /** Serializable state for checkpoints; `restore` gets it back in a new instance. */
  snapshot?(): unknown;
  restore?(state: unknown): void;
  /** Entries held in state (keys, windows, buffered rows), for metrics. */
  stateSize?(): number;
}
