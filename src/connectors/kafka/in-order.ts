// Appends to a Kafka cluster go out one produce request after the other, in call order: an idempotent producer keeps
// one partition's batches in order only while none needs a retry, and @platformatic/kafka's idempotent producer
// carries one request at a time on its connection anyway. Appends made while a request is in flight wait, and go out
// together as the next request — every partition's in the same request, each partition's records one record batch
// (one round trip and one fsync of the brokers for all of them, as a Kafka producer's accumulator batches) — up to
// MAX_COALESCED_BYTES per partition (an append larger than that goes alone); each then resolves with its own
// records' offsets within its partition's batch.
import type { AppendResult, LogRecord } from '../../log/index.ts';

/** The most record bytes (keys and values) appends waiting for one partition are merged into one request. */
export const MAX_COALESCED_BYTES = 512 << 10;

/** One partition's records in a request of several partitions. */
export interface PartitionRecords {
  topic: string;
  partition: number;
  records: readonly LogRecord[];
}

/** Sends several partitions' records as one request; one result per entry, in their order. */
export type SendPartitions<C> = (batches: readonly PartitionRecords[], context: C) => Promise<AppendResult[]>;

interface WaitingAppend<C> extends PartitionRecords {
  bytes: number;
  /** What the request is sent in (a transaction): appends of different contexts never share a request. */
  context: C;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/**
 * One request at a time for every partition, in call order (see the file comment): a producer whose connection
 * carries one request at a time sends one round trip for what would otherwise be one per partition.
 */
export class InOrderAcrossPartitions<C> {
  private readonly send: SendPartitions<C>;
  private readonly same: (a: C, b: C) => boolean;
  private waiting: WaitingAppend<C>[] = [];
  private sending = false;
  private scheduled = false;
  /** Every append not yet settled. */
  private readonly pending = new Set<Promise<AppendResult>>();

  /** `same`: whether appends of two contexts may share a request (default: the same context). */
  constructor(send: SendPartitions<C>, same: (a: C, b: C) => boolean = Object.is) {
    this.send = send;
    this.same = same;
  }

  run(topic: string, partition: number, records: readonly LogRecord[], context: C): Promise<AppendResult> {
    let bytes = 0;
    for (const r of records) bytes += (r.key?.length ?? 0) + (r.value?.length ?? 0);
    const result = new Promise<AppendResult>((resolve, reject) => {
      this.waiting.push({ topic, partition, records, bytes, context, resolve, reject });
    });
    this.pending.add(result);
    const forget = () => this.pending.delete(result);
    result.then(forget, forget);
    // After the appends made in the same turn (a sink's write appends to each of its partitions at once): one request.
    if (!this.sending && !this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.next();
      });
    }
    return result;
  }

  /** Every append in flight or waiting, acknowledged (rejects with the first failure). */
  all(): Promise<AppendResult[]> {
    return Promise.all(this.pending);
  }

  /** Every append in flight or waiting, settled. */
  settled(): Promise<PromiseSettledResult<AppendResult>[]> {
    return Promise.allSettled(this.pending);
  }

  /** Sends what waits (one context, each partition's records up to the limit), unless a request is in flight. */
  private next(): void {
    if (this.sending || this.waiting.length === 0) return;
    const context = this.waiting[0]!.context;
    const byPartition = new Map<
      string,
      { topic: string; partition: number; appends: WaitingAppend<C>[]; bytes: number }
    >();
    let taken = 0;
    for (const w of this.waiting) {
      if (!this.same(w.context, context)) break;
      const key = `${w.topic}\u0000${w.partition}`;
      const group = byPartition.get(key);
      if (group === undefined) {
        byPartition.set(key, { topic: w.topic, partition: w.partition, appends: [w], bytes: w.bytes });
      } else {
        // Full: this append and every later one wait for the next request (a partition's stay in order).
        if (group.bytes + w.bytes > MAX_COALESCED_BYTES) break;
        group.appends.push(w);
        group.bytes += w.bytes;
      }
      taken++;
    }
    this.waiting.splice(0, taken);
    const groups = [...byPartition.values()];
    const batches = groups.map(({ topic, partition, appends }) => ({
      topic,
      partition,
      records: appends.length === 1 ? appends[0]!.records : appends.flatMap((w) => w.records),
    }));
    this.sending = true;
    let sent: Promise<AppendResult[]>;
    try {
      sent = this.send(batches, context);
    } catch (error) {
      sent = Promise.reject(error);
    }
    const fail = (error: unknown) => {
      for (const { appends } of groups) for (const w of appends) w.reject(error); // no-op for those resolved
    };
    sent
      .then((results) => {
        groups.forEach(({ appends }, i) => {
          const result = results[i]!;
          let offset = result.baseOffset;
          for (const w of appends) {
            const lastOffset = offset + w.records.length - 1;
            w.resolve(appends.length === 1 ? result : { ...result, baseOffset: offset, lastOffset });
            offset = lastOffset + 1;
          }
        });
      })
      .catch(fail)
      .finally(() => {
        this.sending = false;
        this.next();
      });
  }
}
