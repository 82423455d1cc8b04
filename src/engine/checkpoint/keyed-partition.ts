// One partition of a keyed, compactable topic read as a table: the latest value of every key (a record with a null
// value — a tombstone — deletes it), caught up on demand from where the last read stopped. The log checkpoint store
// and the scale-out leases keep their records this way, in one partition per task, so that whatever was appended
// before a record is seen by whoever has read past it.
import type { PipelineLog, StoredRecord } from '../../contracts/index.ts';

export interface KeyedValue {
  value: Buffer;
  offset: number;
}

export class KeyedPartition {
  readonly log: PipelineLog;
  readonly topic: string;
  readonly partition: number;
  private readonly table = new Map<string, KeyedValue>();
  private readonly listeners: ((record: StoredRecord) => void)[] = [];
  private position = -1;
  private reading: Promise<void> = Promise.resolve();

  constructor(log: PipelineLog, topic: string, partition: number) {
    this.log = log;
    this.topic = topic;
    this.partition = partition;
  }

  /** Calls `listener` with every record read from now on, in offset order (tombstones included). */
  onRecord(listener: (record: StoredRecord) => void): void {
    this.listeners.push(listener);
  }

  get(key: string): KeyedValue | undefined {
    return this.table.get(key);
  }

  /** The live keys that start with `prefix`. */
  keys(prefix: string): string[] {
    const found: string[] = [];
    for (const key of this.table.keys()) if (key.startsWith(prefix)) found.push(key);
    return found;
  }

  /** Reads up to the partition's end as of now (one read at a time: a second call waits for the first, then reads on). */
  catchUp(): Promise<void> {
    const next = this.reading.catch(() => {}).then(() => this.readToEnd());
    this.reading = next;
    return next;
  }

  /**
   * Appends `records` (keys as UTF-8) as one batch and applies them to the table at once, as they will read back: a
   * key's one writer sees its own writes without a read (listeners hear them when a catch-up reads them).
   */
  async append(records: { key: string; value: Buffer | null }[], durable = true): Promise<number> {
    const result = await this.log.append(
      this.topic,
      this.partition,
      records.map((r) => ({ key: Buffer.from(r.key), value: r.value })),
      { durable },
    );
    for (const [i, r] of records.entries()) {
      if (r.value === null) this.table.delete(r.key);
      else this.table.set(r.key, { value: r.value, offset: result.baseOffset + i });
    }
    // Nothing came between what was read and these records: the reader moves past them without reading back what
    // it wrote (a checkpoint's chunks would otherwise travel back on the next catch-up), its listeners told as by a
    // read. Otherwise a catch-up reads them in order with the rest.
    this.reading = this.reading
      .catch(() => {})
      .then(() => {
        const contiguous = result.lastOffset - result.baseOffset + 1 === records.length;
        if (this.position !== result.baseOffset || !contiguous) return;
        for (const [i, r] of records.entries()) {
          const key = Buffer.from(r.key);
          this.apply({ offset: result.baseOffset + i, timestamp: 0, key, value: r.value, headers: [] });
        }
        this.position = result.lastOffset + 1;
      });
    await this.reading;
    return result.baseOffset;
  }

  private async readToEnd(): Promise<void> {
    if (this.position < 0) {
      await this.log.refresh?.(this.topic);
      this.position = this.log.describeTopic(this.topic).partitions[this.partition]?.logStartOffset ?? 0;
    }
    for (;;) {
      const page = await this.log.readRecords(this.topic, this.partition, this.position, { maxBytes: 4 << 20 });
      for (const record of page.records) {
        if (record.offset < this.position) continue;
        this.apply(record);
      }
      const advanced = page.nextOffset > this.position;
      if (advanced) this.position = page.nextOffset;
      if (!advanced || this.position >= page.highWatermark) return;
    }
  }

  private apply(record: StoredRecord): void {
    if (record.key !== null) {
      const key = record.key.toString();
      if (record.value === null) this.table.delete(key);
      else this.table.set(key, { value: record.value, offset: record.offset });
    }
    for (const listener of this.listeners) listener(record);
  }
}
