// The writing half of a repartition step. In one process it passes records through untouched (one instance sees
// every key, nothing needs to move); in a partition task it turns each record into the key and value bytes the
// internal topic stores, sending a record whose key or value cannot be serialized to the dead letters.
import type { Format } from '../connectors/formats.ts';
import type { Batch, Operator, OperatorContext } from '../types.ts';

/** A record ready for the repartition topic: the serialized new key (it picks the partition) and value. */
export interface ShuffleRecord {
  readonly key: Buffer;
  readonly value: Buffer;
}

/**
 * The bytes a key is partitioned by: strings as UTF-8, byte arrays as they are, other values as their JSON (or
 * `String()` when JSON has none). Equal keys give equal bytes, so every record of a key lands in one partition.
 */
export function keyBytes(key: unknown): Buffer {
  if (typeof key === 'string') return Buffer.from(key);
  if (Buffer.isBuffer(key)) return key;
  if (key instanceof Uint8Array) return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (typeof key === 'bigint') return Buffer.from(key.toString());
  return Buffer.from(JSON.stringify(key) ?? String(key));
}

export class RepartitionOperator<T, K> implements Operator<T, T | ShuffleRecord> {
  readonly kind = 'repartition';
  private ctx!: OperatorContext<T | ShuffleRecord>;
  private readonly key: (value: T) => K;
  private readonly format: Format<T>;
  /** Set for a partition task (runAsTask): records go to the topic, serialized. */
  serialize = false;

  constructor(key: (value: T) => K, format: Format<T>) {
    this.key = key;
    this.format = format;
  }

  open(ctx: OperatorContext<T | ShuffleRecord>): void {
    this.ctx = ctx;
  }

  processBatch(batch: Batch<T>): void {
    const { values, timestamps } = batch;
    if (!this.serialize) {
      this.ctx.emitAll(values, timestamps);
      return;
    }
    const ctx = this.ctx;
    for (let i = 0; i < values.length; i++) {
      let record: ShuffleRecord;
      try {
        record = { key: keyBytes(this.key(values[i]!)), value: this.format.encode(values[i]!) };
      } catch (error) {
        ctx.deadLetter(error, values[i], timestamps[i]!);
        continue;
      }
      // Kafka's record timestamp is whole milliseconds; window bounds are too, so flooring moves no record
      // across a window's edge.
      ctx.emit(record, Math.floor(timestamps[i]!));
    }
  }
}
