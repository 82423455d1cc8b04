// Appends to one partition go out one produce request after the other, in call order: an idempotent producer keeps
// one partition's batches in order only while none needs a retry. Appends made while the partition's request is in
// flight wait, and go out together as the next request — one record batch, one round trip and one fsync of the
// brokers for all of them, as a Kafka producer's accumulator batches — up to MAX_COALESCED_BYTES (an append larger
// than that goes alone); each then resolves with its own records' offsets within the batch.
import type { AppendResult, LogRecord } from '../../log/index.ts';

/** The most record bytes (keys and values) appends waiting for one partition are merged into one request. */
export const MAX_COALESCED_BYTES = 512 << 10;

/** Sends one partition's records as one produce request. */
export type SendRecords = (records: readonly LogRecord[]) => Promise<AppendResult>;

interface Waiting {
  records: readonly LogRecord[];
  bytes: number;
  send: SendRecords;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

export class InOrder {
  /** The appends waiting for each partition whose request is in flight. */
  private readonly queues = new Map<string, Waiting[]>();
  /** Every append not yet settled. */
  private readonly pending = new Set<Promise<AppendResult>>();

  /**
   * Sends `records` once the partition's request in flight has settled (succeeded or not), merged with the appends
   * that wait with it; `send` is called with the records of them all (the first one's `send`).
   */
  run(topic: string, partition: number, records: readonly LogRecord[], send: SendRecords): Promise<AppendResult> {
    const key = `${topic}\u0000${partition}`;
    let bytes = 0;
    for (const r of records) bytes += (r.key?.length ?? 0) + (r.value?.length ?? 0);
    const result = new Promise<AppendResult>((resolve, reject) => {
      const waiting: Waiting = { records, bytes, send, resolve, reject };
      const queue = this.queues.get(key);
      if (queue === undefined) {
        this.queues.set(key, []);
        this.sendFrom(key, [waiting]);
      } else {
        queue.push(waiting);
      }
    });
    this.pending.add(result);
    const forget = () => this.pending.delete(result);
    result.then(forget, forget);
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

  /** Sends `group` as one request; then the appends that waited meanwhile, or forgets the partition. */
  private sendFrom(key: string, group: Waiting[]): void {
    const records = group.length === 1 ? group[0]!.records : group.flatMap((w) => w.records);
    let sent: Promise<AppendResult>;
    try {
      sent = group[0]!.send(records);
    } catch (error) {
      sent = Promise.reject(error);
    }
    const next = () => {
      const queue = this.queues.get(key)!;
      if (queue.length === 0) {
        this.queues.delete(key);
        return;
      }
      let bytes = queue[0]!.bytes;
      let n = 1;
      while (n < queue.length && bytes + queue[n]!.bytes <= MAX_COALESCED_BYTES) bytes += queue[n++]!.bytes;
      this.sendFrom(key, queue.splice(0, n));
    };
    sent.then(
      (result) => {
        let offset = result.baseOffset;
        for (const w of group) {
          const lastOffset = offset + w.records.length - 1;
          w.resolve(group.length === 1 ? result : { ...result, baseOffset: offset, lastOffset });
          offset = lastOffset + 1;
        }
        next();
      },
      (error: unknown) => {
        for (const w of group) w.reject(error);
        next();
      },
    );
  }
}
