// A test harness for one operator, like Flink's operator test harnesses: feed records and watermarks on any
// input, move processing time, and inspect what came out (main and side outputs), dead letters and state.
import { Node } from './node.ts';
import { UnionOperator } from './operators/stateless.ts';
import type { Batch, DeadLetter, Operator } from './types.ts';

export interface Emitted<T> {
  value: T;
  timestamp: number;
}

export class OperatorHarness<I, O> {
  readonly node: Node;
  private readonly mainOut = new UnionOperator<O>();
  private readonly outputs: Emitted<O>[] = [];
  private readonly sides = new Map<string, Emitted<unknown>[]>();
  private readonly watermarksOut: number[] = [];
  readonly deadLetters: DeadLetter[] = [];
  private now = 0;

  constructor(operator: Operator<I, O>, options: { inputs?: number; sideOutputs?: string[] } = {}) {
    this.node = new Node('under-test', operator as Operator<unknown, unknown>);
    const record = (into: Emitted<unknown>[]) => {
      const sink = new Node('out', {
        kind: 'harness-output',
        open() {},
        processBatch(batch: Batch<unknown>) {
          for (let i = 0; i < batch.values.length; i++)
            into.push({ value: batch.values[i], timestamp: batch.timestamps[i]! });
        },
        onWatermark: (w: number) => {
          if (into === (this.outputs as Emitted<unknown>[])) this.watermarksOut.push(w);
          return w;
        },
      });
      return sink;
    };
    const main = record(this.outputs as Emitted<unknown>[]);
    this.node.connect(main, 0);
    const sideNodes: Node[] = [];
    for (const tag of options.sideOutputs ?? []) {
      const list: Emitted<unknown>[] = [];
      this.sides.set(tag, list);
      const side = record(list);
      this.node.connect(side, 0, tag);
      sideNodes.push(side);
    }
    // Register every input so that watermarks merge over all of them.
    const inputs = options.inputs ?? 1;
    const feeder = new Node('in', this.mainOut);
    for (let i = 0; i < inputs; i++) feeder.connect(this.node, i);
    const hooks = { deadLetter: (letter: DeadLetter) => this.deadLetters.push(letter), processingTime: () => this.now };
    this.node.open(hooks);
    main.open(hooks);
    for (const side of sideNodes) side.open(hooks);
  }

  /** Feeds records (value, timestamp) to `input`, as one batch. */
  process(records: [I, number][], input = 0, channel?: number): this {
    this.node.receiveBatch({ values: records.map((r) => r[0]), timestamps: records.map((r) => r[1]), channel }, input);
    return this;
  }

  /** Says `channel` went idle (or woke up without records), as a source does with SourceBatch.channelIdle. */
  channelIdle(channel: number, idle = true, input = 0): this {
    this.node.receiveBatch({ values: [], timestamps: [], channel, channelIdle: idle }, input);
    return this;
  }

  watermark(watermark: number, input?: number): this {
    if (input !== undefined) this.node.receiveWatermark(watermark, input);
    else for (let i = 0; i < Math.max(1, this.inputCount()); i++) this.node.receiveWatermark(watermark, i);
    return this;
  }

  /** Marks `input` idle (left out of the watermark minimum) or active again, as an idle upstream stream would. */
  idle(idle: boolean, input = 0): this {
    this.node.receiveIdle(idle, input);
    return this;
  }

  /** Moves processing time to `now` and runs the operator's processing-time work (timers, idleness). */
  processingTime(now: number): this {
    this.now = now;
    this.node.onProcessingTime(now);
    return this;
  }

  /** Everything emitted so far (and clears it when `drain`). */
  output(drain = true): Emitted<O>[] {
    const out = [...this.outputs];
    if (drain) this.outputs.length = 0;
    return out;
  }

  values(drain = true): O[] {
    return this.output(drain).map((e) => e.value);
  }

  sideOutput<S = unknown>(tag: string): Emitted<S>[] {
    const list = this.sides.get(tag);
    if (!list) throw new Error(`side output '${tag}' was not registered: pass it in sideOutputs`);
    return [...list] as Emitted<S>[];
  }

  /** Whether the operator told downstream that its output is idle. */
  outputIdle(): boolean {
    return this.node.isIdle();
  }

  emittedWatermarks(): number[] {
    return [...this.watermarksOut];
  }

  snapshot(): unknown {
    return this.node.operator.snapshot?.();
  }

  stateSize(): number {
    return this.node.operator.stateSize?.() ?? 0;
  }

  private inputCount(): number {
    return (this.node as unknown as { inputWatermarks: number[] }).inputWatermarks.length;
  }
}
