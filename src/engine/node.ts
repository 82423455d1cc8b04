// A running operator: counts what flows through it, merges its inputs' watermarks (minimum over the inputs that
// are not idle), buffers what the operator emits and pushes it downstream synchronously after each call. The
// graph is a DAG of these.
import { SluiceError } from '../errors.ts';
import { type Batch, type DeadLetter, MIN_WATERMARK, type Operator, type OperatorContext } from './types.ts';

export interface Edge {
  node: Node;
  input: number;
}

export interface NodeMetrics {
  name: string;
  recordsIn: number;
  recordsOut: number;
  watermark: number;
  /** The node told downstream its output is idle (every input channel silent past its idle timeout). */
  idle: boolean;
  lateRecords: number;
  deadLetters: number;
  stateSize: number;
}

export interface RuntimeHooks {
  deadLetter(letter: DeadLetter): void;
  processingTime(): number;
}

/** Records an operator emits in one call before they are pushed downstream without waiting for the call's end. */
const FLUSH_AT = 4096;

class Emitter {
  /** The arrays are someone else's (adopted by emitAll): copy before pushing. */
  adopted = false;
  values: unknown[] = [];
  timestamps: number[] = [];
  readonly edges: Edge[] = [];
}

/** What a checkpoint keeps of a node besides its operator's state: where event time stood. */
export interface NodeTimeState {
  inputs: number[];
  idle: boolean[];
  watermark: number;
  output: number;
  outputIdle: boolean;
}

export class Node {
  readonly name: string;
  /** The id its state is stored under in checkpoints and savepoints (the name unless set with `.uid()`). */
  uid: string;
  readonly operator: Operator<unknown, unknown>;
  private readonly main = new Emitter();
  private readonly sides = new Map<string, Emitter>();
  private inputWatermarks: number[] = [];
  /** Inputs whose every channel is idle: left out of the minimum until they speak again. */
  private inputIdle: boolean[] = [];
  /** This node told its outputs it is idle (all its inputs are, or its operator said so). */
  private outputIdle = false;
  private watermark = MIN_WATERMARK;
  private outputWatermark = MIN_WATERMARK;
  private channel: number | undefined;
  private hooks!: RuntimeHooks;
  recordsIn = 0;
  recordsOut = 0;
  lateRecords = 0;
  deadLetters = 0;

  constructor(name: string, operator: Operator<unknown, unknown>) {
    this.name = name;
    this.uid = name;
    this.operator = operator;
  }

  snapshotTime(): NodeTimeState {
    return {
      inputs: [...this.inputWatermarks],
      idle: [...this.inputIdle],
      watermark: this.watermark,
      output: this.outputWatermark,
      outputIdle: this.outputIdle,
    };
  }

  /** Restores event time without firing anything: the restored operator state already reflects it. */
  restoreTime(state: NodeTimeState): void {
    for (let i = 0; i < this.inputWatermarks.length; i++) {
      this.inputWatermarks[i] = state.inputs[i] ?? this.inputWatermarks[i]!;
      this.inputIdle[i] = state.idle[i] ?? false;
    }
    this.watermark = state.watermark;
    this.outputWatermark = state.output;
    this.outputIdle = state.outputIdle;
  }

  connect(target: Node, input: number, sideTag?: string): void {
    if (sideTag === undefined) this.main.edges.push({ node: target, input });
    else {
      let side = this.sides.get(sideTag);
      if (!side) this.sides.set(sideTag, (side = new Emitter()));
      side.edges.push({ node: target, input });
    }
    target.inputWatermarks.length = Math.max(target.inputWatermarks.length, input + 1);
    target.inputIdle.length = target.inputWatermarks.length;
  }

  /** Removes the main-output edge to `target` (a repartition step rewired for a partition task). */
  disconnect(target: Node): void {
    const i = this.main.edges.findIndex((edge) => edge.node === target);
    if (i >= 0) this.main.edges.splice(i, 1);
  }

  open(hooks: RuntimeHooks): void {
    this.hooks = hooks;
    for (let i = 0; i < this.inputWatermarks.length; i++) {
      this.inputWatermarks[i] ??= MIN_WATERMARK;
      this.inputIdle[i] ??= false;
    }
    const node = this;
    const main = this.main;
    const ctx: OperatorContext<unknown> = {
      name: this.name,
      emit(value, timestamp) {
        if (main.adopted) {
          main.values = main.values.slice();
          main.timestamps = main.timestamps.slice();
          main.adopted = false;
        }
        main.values.push(value);
        main.timestamps.push(timestamp);
        // A call that emits a lot (a window firing for 100,000 keys) hands its output on in batches as it goes,
        // so that the first rows reach the sink while the rest are made, not all at once at the end.
        if (main.values.length >= FLUSH_AT) node.flush();
      },
      emitAll(values, timestamps) {
        if (main.values.length === 0) {
          main.values = values as unknown[];
          main.timestamps = timestamps as number[];
          main.adopted = true;
        } else {
          if (main.adopted) {
            main.values = main.values.slice();
            main.timestamps = main.timestamps.slice();
            main.adopted = false;
          }
          for (let i = 0; i < values.length; i++) {
            main.values.push(values[i]);
            main.timestamps.push(timestamps[i]!);
          }
        }
      },
      emitSide(tag, value, timestamp) {
        const side = node.sides.get(tag);
        if (!side) return; // nobody listens to this side output
        side.values.push(value);
        side.timestamps.push(timestamp);
      },
      emitWatermark: (watermark) => this.forwardWatermark(watermark),
      emitIdle: (idle) => this.forwardIdle(idle),
      deadLetter: (error, original, timestamp) => this.rejectRecord(error, original, timestamp),
      currentWatermark: () => this.watermark,
      processingTime: () => this.hooks.processingTime(),
      countLate: (n) => {
        this.lateRecords += n;
      },
    };
    this.operator.open(ctx);
  }

  receiveBatch(batch: Batch<unknown>, input: number): void {
    if (batch.values.length === 0) {
      // A source announcing a channel: timestamp assigners register it; everyone else passes it on.
      this.operator.processBatch(batch, input);
      for (const edge of this.main.edges) edge.node.receiveBatch(batch, edge.input);
      return;
    }
    this.recordsIn += batch.values.length;
    this.channel = batch.channel;
    this.operator.processBatch(batch, input);
    this.flush();
  }

  receiveWatermark(watermark: number, input: number): void {
    if (watermark <= this.inputWatermarks[input]!) return;
    this.inputWatermarks[input] = watermark;
    this.advance();
  }

  /** An input's status: idle (all its channels silent past their idle timeout) or active again. */
  receiveIdle(idle: boolean, input: number): void {
    if ((this.inputIdle[input] ?? false) === idle) return;
    this.inputIdle[input] = idle;
    let allIdle = true;
    for (let i = 0; i < this.inputWatermarks.length; i++) if (!this.inputIdle[i]) allIdle = false;
    this.advance();
    // Operators that make their own watermarks decide their own status; the others follow their inputs.
    if (!this.operator.generatesWatermarks && allIdle !== this.outputIdle) {
      this.operator.onIdle?.(allIdle);
      this.forwardIdle(allIdle);
    }
  }

  /**
   * The minimum over the inputs that are not idle; when every input is idle, the maximum over all of them (as
   * Flink's valve does: nothing can arrive behind the most advanced input without an input waking up first, and
   * a waking input is late against that time, not early). Fires and forwards it when it moved forward.
   */
  private advance(): void {
    let combined = Number.POSITIVE_INFINITY;
    let highest = MIN_WATERMARK;
    let active = 0;
    for (let i = 0; i < this.inputWatermarks.length; i++) {
      const w = this.inputWatermarks[i]!;
      if (w > highest) highest = w;
      if (this.inputIdle[i]) continue;
      active++;
      if (w < combined) combined = w;
    }
    if (active === 0) combined = highest;
    if (combined <= this.watermark) return;
    this.watermark = combined;
    const forward = this.operator.onWatermark ? this.operator.onWatermark(combined) : combined;
    this.flush();
    if (forward !== undefined) this.forwardWatermark(forward);
  }

  onProcessingTime(now: number): void {
    if (!this.operator.onProcessingTime) return;
    this.channel = undefined;
    this.operator.onProcessingTime(now);
    this.flush();
  }

  currentWatermark(): number {
    return this.watermark;
  }

  /** Whether this node told its outputs that it is idle. */
  isIdle(): boolean {
    return this.outputIdle;
  }

  /** Every node downstream of this one (including itself). */
  /** Where this node's output goes: the main output's edges, then each side output's with its tag. */
  outputs(): { node: Node; input: number; side: string | null }[] {
    const out = this.main.edges.map((edge) => ({ node: edge.node, input: edge.input, side: null as string | null }));
    for (const [tag, side] of this.sides) for (const edge of side.edges) out.push({ ...edge, side: tag });
    return out;
  }

  reachable(): Set<Node> {
    const seen = new Set<Node>();
    const visit = (node: Node) => {
      if (seen.has(node)) return;
      seen.add(node);
      for (const edge of node.main.edges) visit(edge.node);
      for (const side of node.sides.values()) for (const edge of side.edges) visit(edge.node);
    };
    visit(this);
    return seen;
  }

  metrics(): NodeMetrics {
    return {
      name: this.name,
      recordsIn: this.recordsIn,
      recordsOut: this.recordsOut,
      watermark: this.outputWatermark,
      idle: this.outputIdle,
      lateRecords: this.lateRecords,
      deadLetters: this.deadLetters,
      stateSize: this.operator.stateSize?.() ?? 0,
    };
  }

  private forwardWatermark(watermark: number): void {
    this.flush();
    if (watermark <= this.outputWatermark) return;
    this.outputWatermark = watermark;
    for (const edge of this.main.edges) edge.node.receiveWatermark(watermark, edge.input);
    for (const side of this.sides.values())
      for (const edge of side.edges) edge.node.receiveWatermark(watermark, edge.input);
  }

  private forwardIdle(idle: boolean): void {
    if (idle === this.outputIdle) return;
    this.flush();
    this.outputIdle = idle;
    for (const edge of this.main.edges) edge.node.receiveIdle(idle, edge.input);
    for (const side of this.sides.values()) for (const edge of side.edges) edge.node.receiveIdle(idle, edge.input);
  }

  /** Pushes what the operator emitted downstream; fan-out shares the batch (operators never mutate inputs). */
  private flush(): void {
    const main = this.main;
    if (main.values.length > 0) {
      const batch: Batch<unknown> = { values: main.values, timestamps: main.timestamps, channel: this.channel };
      main.values = [];
      main.timestamps = [];
      main.adopted = false;
      this.recordsOut += batch.values.length;
      for (const edge of main.edges) edge.node.receiveBatch(batch, edge.input);
    }
    for (const side of this.sides.values()) {
      if (side.values.length === 0) continue;
      const batch: Batch<unknown> = { values: side.values, timestamps: side.timestamps, channel: this.channel };
      side.values = [];
      side.timestamps = [];
      for (const edge of side.edges) edge.node.receiveBatch(batch, edge.input);
    }
  }

  private rejectRecord(error: unknown, original: unknown, timestamp: number): void {
    this.deadLetters++;
    const message = error instanceof Error ? error.message : String(error);
    let serialized: Buffer | string;
    if (Buffer.isBuffer(original)) serialized = original;
    else {
      try {
        serialized = JSON.stringify(original) ?? String(original);
      } catch {
        serialized = String(original);
      }
    }
    this.hooks.deadLetter({ operator: this.name, error: message, original: serialized, timestamp });
  }
}

export class PipelineFailure extends SluiceError {}
