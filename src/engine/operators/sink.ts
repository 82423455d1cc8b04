// The last operator of a branch: hands batches to a Sink and tracks its pending writes for backpressure.
import type { Sink } from '../connector.ts';
import type { Batch, Operator, OperatorContext } from '../types.ts';

export class SinkOperator<T> implements Operator<T, never> {
  readonly kind = 'sink';
  pending: Promise<void> | undefined;
  busySince = 0;
  busyMs = 0;
  failure: unknown;

  readonly sink: Sink<T>;

  constructor(sink: Sink<T>) {
    this.sink = sink;
  }

  open(_ctx: OperatorContext<never>): void {}

  processBatch(batch: Batch<T>): void {
    if (batch.values.length === 0) return;
    const result = this.sink.write(batch);
    if (result === undefined) return;
    const started = performance.now();
    if (this.pending === undefined) this.busySince = started;
    const previous = this.pending;
    const write = (previous ? previous.then(() => result) : result).then(
      () => {
        if (this.pending === write) {
          this.pending = undefined;
          this.busyMs += performance.now() - this.busySince;
        }
      },
      (error: unknown) => {
        this.failure ??= error;
        if (this.pending === write) this.pending = undefined;
      },
    );
    this.pending = write;
  }

  onWatermark(watermark: number): number {
    this.sink.onWatermark?.(watermark);
    return watermark;
  }

  onIdle(idle: boolean): void {
    this.sink.onIdle?.(idle);
  }
}
