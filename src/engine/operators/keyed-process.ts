// KeyedProcessFunction: a user function per record with keyed state and event/processing-time timers — the
// building block for anything the built-in operators do not cover.
import { MinHeap } from '../heap.ts';
import { type KeyedState, KeyedStateBackend } from '../state.ts';
import { StateTable, type StateTableSnapshot } from '../state-table.ts';
import type { Batch, Operator, OperatorContext } from '../types.ts';
import { LATE_TAG } from './window-aggregate.ts';

export interface TimerService {
  /** Calls onTimer when the watermark reaches `timestamp` (once per key and timestamp). */
  registerEventTimeTimer(timestamp: number): void;
  registerProcessingTimeTimer(timestamp: number): void;
  deleteEventTimeTimer(timestamp: number): void;
  deleteProcessingTimeTimer(timestamp: number): void;
}

export interface KeyedContext<K, O> {
  readonly key: K;
  /** The record's timestamp, or the timer's in onTimer. */
  readonly timestamp: number;
  readonly watermark: number;
  readonly state: KeyedState;
  readonly timers: TimerService;
  emit(value: O, timestamp?: number): void;
  output(tag: string, value: unknown): void;
}

/** What a function emits with at the end of a batch (no key is current then: each row says its own time). */
export interface BatchEnd<O> {
  emit(value: O, timestamp: number): void;
}

export interface KeyedProcessFunction<K, I, O> {
  processElement(value: I, ctx: KeyedContext<K, O>): void;
  onTimer?(timestamp: number, ctx: KeyedContext<K, O> & { readonly timeDomain: 'event' | 'processing' }): void;
  /**
   * Called after each batch of records (no watermark, timer or checkpoint falls inside one): a function that
   * collects per key while a batch lasts emits what it collected here — Flink SQL's mini-batch aggregation, with
   * the engine's batch as the bundle, so it adds no latency.
   */
  finishBatch?(out: BatchEnd<O>): void;
}

/**
 * KeyedCoProcessFunction: a user function over two keyed streams of the same key type (`a.connect(b).process(fn)`),
 * with keyed state and timers shared by both inputs — a key's state set by one input's records is what the other's
 * see.
 */
export interface KeyedCoProcessFunction<K, I1, I2, O> {
  processElement1(value: I1, ctx: KeyedContext<K, O>): void;
  processElement2(value: I2, ctx: KeyedContext<K, O>): void;
  onTimer?(timestamp: number, ctx: KeyedContext<K, O> & { readonly timeDomain: 'event' | 'processing' }): void;
  /** As KeyedProcessFunction.finishBatch: after each batch of either input. */
  finishBatch?(out: BatchEnd<O>): void;
}

type Domain = 'event' | 'processing';
/** A key's timers in one domain: one timestamp, or several. */
type Timers = number | Set<number>;

/** Keyed state, timers and their checkpoints, common to the one- and two-input keyed process operators. */
abstract class KeyedTimersOperator<K, I, O> implements Operator<I, O> {
  abstract readonly kind: string;
  protected ctx!: OperatorContext<O>;
  private readonly backend = new KeyedStateBackend<K>(() => this.ctx.processingTime());
  private readonly heaps = { event: new MinHeap<K>(), processing: new MinHeap<K>() };
  /** Registered timers per domain: key → its timestamp, or a set of them when it has several (dedupes and supports
   * delete; most keys have one timer at a time, held without a Set). */
  private readonly registered = {
    event: new StateTable<K, Timers>(),
    processing: new StateTable<K, Timers>(),
  };
  private currentKey!: K;
  protected currentTimestamp = 0;
  private domain: Domain = 'event';
  protected keyedContext!: KeyedContext<K, O> & { timeDomain: Domain };

  abstract processBatch(batch: Batch<I>, input: number): void;
  protected abstract timer(timestamp: number, ctx: KeyedContext<K, O> & { readonly timeDomain: Domain }): void;

  open(ctx: OperatorContext<O>): void {
    this.ctx = ctx;
    const self = this;
    const register = (domain: Domain, timestamp: number) => {
      const table = self.registered[domain];
      const key = self.currentKey;
      const timers = table.get(key);
      if (timers === undefined) table.put(key, timestamp);
      else if (typeof timers === 'number') {
        if (timers === timestamp) return;
        table.put(key, new Set([timers, timestamp]));
      } else {
        if (timers.has(timestamp)) return;
        timers.add(timestamp);
      }
      self.heaps[domain].push(timestamp, key);
    };
    const remove = (domain: Domain, timestamp: number) => {
      const table = self.registered[domain];
      const timers = table.get(self.currentKey);
      if (timers === undefined) return;
      if (typeof timers === 'number') {
        if (timers === timestamp) table.delete(self.currentKey);
      } else if (timers.delete(timestamp) && timers.size === 0) table.delete(self.currentKey);
    };
    this.batchEnd = { emit: (value, timestamp) => ctx.emit(value, timestamp) };
    this.keyedContext = {
      get key() {
        return self.currentKey;
      },
      get timestamp() {
        return self.currentTimestamp;
      },
      get watermark() {
        return ctx.currentWatermark();
      },
      get timeDomain() {
        return self.domain;
      },
      state: this.backend.api,
      timers: {
        registerEventTimeTimer: (ts) => register('event', ts),
        registerProcessingTimeTimer: (ts) => register('processing', ts),
        deleteEventTimeTimer: (ts) => remove('event', ts),
        deleteProcessingTimeTimer: (ts) => remove('processing', ts),
      },
      emit: (value, ts) => ctx.emit(value, ts ?? self.currentTimestamp),
      output: (tag, value) => {
        // What a function sends to the `late` output is late data: counted in the operator's late records, as the
        // windows and joins count theirs.
        if (tag === LATE_TAG) ctx.countLate(1);
        ctx.emitSide(tag, value, self.currentTimestamp);
      },
    };
  }

  /** The emitter a function's finishBatch gets. */
  protected batchEnd!: BatchEnd<O>;

  protected setKey(key: K): void {
    this.currentKey = key;
    this.backend.currentKey = key;
  }

  private fireTimers(domain: Domain, upTo: number): void {
    const heap = this.heaps[domain];
    while (heap.size > 0 && heap.peekPriority() <= upTo) {
      const timestamp = heap.peekPriority();
      const key = heap.pop()!;
      const table = this.registered[domain];
      const timers = table.get(key);
      if (timers === undefined) continue; // deleted meanwhile
      if (typeof timers === 'number') {
        if (timers !== timestamp) continue;
        table.delete(key);
      } else {
        if (!timers.delete(timestamp)) continue;
        if (timers.size === 0) table.delete(key);
      }
      this.setKey(key);
      this.currentTimestamp = timestamp;
      this.domain = domain;
      try {
        this.timer(timestamp, this.keyedContext);
      } catch (error) {
        this.ctx.deadLetter(error, { timer: timestamp, key }, timestamp);
      }
    }
  }

  onWatermark(watermark: number): number {
    this.fireTimers('event', watermark);
    return watermark;
  }

  onProcessingTime(now: number): void {
    this.fireTimers('processing', now);
    this.backend.expire();
  }

  snapshot(): unknown {
    const timers = (domain: Domain) => this.registered[domain].snapshot((t) => (typeof t === 'number' ? [t] : [...t]));
    return { state: this.backend.snapshot(), event: timers('event'), processing: timers('processing') };
  }

  restore(state: unknown): void {
    // Timers as columns, or (checkpoints written before state tables) as [key, timestamps] pairs.
    type Timers = StateTableSnapshot<K, number[]> | [K, number[]][];
    const s = state as { state: unknown; event: Timers; processing: Timers };
    this.backend.restore(s.state);
    for (const domain of ['event', 'processing'] as const) {
      const registered = this.registered[domain];
      registered.restore(s[domain], (list: number[]) => (list.length === 1 ? list[0]! : new Set(list)));
      for (const [key, t] of registered.entries()) {
        if (typeof t === 'number') this.heaps[domain].push(t, key);
        else for (const ts of t) this.heaps[domain].push(ts, key);
      }
    }
  }

  stateSize(): number {
    return this.backend.size() + this.heaps.event.size + this.heaps.processing.size;
  }
}

export class KeyedProcessOperator<K, I, O> extends KeyedTimersOperator<K, I, O> {
  readonly kind = 'keyed-process';
  private readonly keyOf: (value: I) => K;
  private readonly fn: KeyedProcessFunction<K, I, O>;

  constructor(keyOf: (value: I) => K, fn: KeyedProcessFunction<K, I, O>) {
    super();
    this.keyOf = keyOf;
    this.fn = fn;
  }

  processBatch(batch: Batch<I>): void {
    for (let i = 0; i < batch.values.length; i++) {
      const value = batch.values[i]!;
      this.currentTimestamp = batch.timestamps[i]!;
      try {
        this.setKey(this.keyOf(value));
        this.fn.processElement(value, this.keyedContext);
      } catch (error) {
        this.ctx.deadLetter(error, value, this.currentTimestamp);
      }
    }
    this.fn.finishBatch?.(this.batchEnd);
  }

  protected timer(timestamp: number, ctx: KeyedContext<K, O> & { readonly timeDomain: Domain }): void {
    this.fn.onTimer?.(timestamp, ctx);
  }
}

/**
 * The two-input keyed process operator (`a.connect(b).process(fn)`): input 0's records go to processElement1, input
 * 1's to processElement2, each under its key; state and timers are per key across both. Its checkpoint is a
 * KeyedProcessOperator's (keyed state and the two timer domains).
 */
export class KeyedCoProcessOperator<K, I1, I2, O> extends KeyedTimersOperator<K, I1 | I2, O> {
  readonly kind = 'keyed-co-process';
  private readonly keyOf1: (value: I1) => K;
  private readonly keyOf2: (value: I2) => K;
  private readonly fn: KeyedCoProcessFunction<K, I1, I2, O>;

  constructor(keyOf1: (value: I1) => K, keyOf2: (value: I2) => K, fn: KeyedCoProcessFunction<K, I1, I2, O>) {
    super();
    this.keyOf1 = keyOf1;
    this.keyOf2 = keyOf2;
    this.fn = fn;
  }

  processBatch(batch: Batch<I1 | I2>, input: number): void {
    const { values, timestamps } = batch;
    const fn = this.fn;
    const ctx = this.keyedContext;
    if (input === 0) {
      const keyOf = this.keyOf1;
      for (let i = 0; i < values.length; i++) {
        const value = values[i] as I1;
        this.currentTimestamp = timestamps[i]!;
        try {
          this.setKey(keyOf(value));
          fn.processElement1(value, ctx);
        } catch (error) {
          this.ctx.deadLetter(error, value, this.currentTimestamp);
        }
      }
    } else {
      const keyOf = this.keyOf2;
      for (let i = 0; i < values.length; i++) {
        const value = values[i] as I2;
        this.currentTimestamp = timestamps[i]!;
        try {
          this.setKey(keyOf(value));
          fn.processElement2(value, ctx);
        } catch (error) {
          this.ctx.deadLetter(error, value, this.currentTimestamp);
        }
      }
    }
    fn.finishBatch?.(this.batchEnd);
  }

  protected timer(timestamp: number, ctx: KeyedContext<K, O> & { readonly timeDomain: Domain }): void {
    this.fn.onTimer?.(timestamp, ctx);
  }
}
