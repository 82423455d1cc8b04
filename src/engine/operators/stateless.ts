// Per-record operators. A user function that throws sends its record to the dead-letter output and the stream
// goes on (or fails the pipeline when configured to fail fast, which the runtime decides in deadLetter()).
import type { Batch, Operator, OperatorContext } from '../types.ts';

export class MapOperator<I, O> implements Operator<I, O> {
  readonly kind = 'map';
  private ctx!: OperatorContext<O>;
  private readonly fn: (value: I) => O;

  constructor(fn: (value: I) => O) {
    this.fn = fn;
  }
  open(ctx: OperatorContext<O>): void {
    this.ctx = ctx;
  }
  processBatch(batch: Batch<I>): void {
    const { values, timestamps } = batch;
    const fn = this.fn;
    const ctx = this.ctx;
    for (let i = 0; i < values.length; i++) {
      let out: O;
      try {
        out = fn(values[i]!);
      } catch (error) {
        ctx.deadLetter(error, values[i], timestamps[i]!);
        continue;
      }
      ctx.emit(out, timestamps[i]!);
    }
  }
}

export class FilterOperator<T> implements Operator<T, T> {
  readonly kind = 'filter';
  private ctx!: OperatorContext<T>;
  private readonly predicate: (value: T) => boolean;

  constructor(predicate: (value: T) => boolean) {
    this.predicate = predicate;
  }
  open(ctx: OperatorContext<T>): void {
    this.ctx = ctx;
  }
  processBatch(batch: Batch<T>): void {
    const { values, timestamps } = batch;
    const predicate = this.predicate;
    const ctx = this.ctx;
    for (let i = 0; i < values.length; i++) {
      let keep: boolean;
      try {
        keep = predicate(values[i]!);
      } catch (error) {
        ctx.deadLetter(error, values[i], timestamps[i]!);
        continue;
      }
      if (keep) ctx.emit(values[i]!, timestamps[i]!);
    }
  }
}

export class FlatMapOperator<I, O> implements Operator<I, O> {
  readonly kind = 'flat-map';
  private ctx!: OperatorContext<O>;
  private readonly fn: (value: I) => Iterable<O>;

  constructor(fn: (value: I) => Iterable<O>) {
    this.fn = fn;
  }
  open(ctx: OperatorContext<O>): void {
    this.ctx = ctx;
  }
  processBatch(batch: Batch<I>): void {
    const { values, timestamps } = batch;
    for (let i = 0; i < values.length; i++) {
      try {
        for (const out of this.fn(values[i]!)) this.ctx.emit(out, timestamps[i]!);
      } catch (error) {
        this.ctx.deadLetter(error, values[i], timestamps[i]!);
      }
    }
  }
}

/** What a `process` function can do with one record: emit to the main stream or to named side outputs. */
export interface ProcessContext<O> {
  readonly timestamp: number;
  readonly watermark: number;
  emit(value: O, timestamp?: number): void;
  output(tag: string, value: unknown): void;
}

export class ProcessOperator<I, O> implements Operator<I, O> {
  readonly kind = 'process';
  private ctx!: OperatorContext<O>;
  private readonly fn: (value: I, ctx: ProcessContext<O>) => void;

  constructor(fn: (value: I, ctx: ProcessContext<O>) => void) {
    this.fn = fn;
  }
  open(ctx: OperatorContext<O>): void {
    this.ctx = ctx;
  }
  processBatch(batch: Batch<I>): void {
    const ctx = this.ctx;
    let timestamp = 0;
    const processContext: ProcessContext<O> = {
      get timestamp() {
        return timestamp;
      },
      get watermark() {
        return ctx.currentWatermark();
      },
      emit: (value, ts) => ctx.emit(value, ts ?? timestamp),
      output: (tag, value) => ctx.emitSide(tag, value, timestamp),
    };
    for (let i = 0; i < batch.values.length; i++) {
      timestamp = batch.timestamps[i]!;
      try {
        this.fn(batch.values[i]!, processContext);
      } catch (error) {
        ctx.deadLetter(error, batch.values[i], timestamp);
      }
    }
  }
}

/** Passes records of any number of inputs through; the runtime merges their watermarks by minimum. */
export class UnionOperator<T> implements Operator<T, T> {
  readonly kind = 'union';
  private ctx!: OperatorContext<T>;
  open(ctx: OperatorContext<T>): void {
    this.ctx = ctx;
  }
  processBatch(batch: Batch<T>): void {
    this.ctx.emitAll(batch.values, batch.timestamps);
  }
}
