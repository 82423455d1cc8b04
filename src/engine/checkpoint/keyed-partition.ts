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
  /** The offset of every record applied, and the bytes (keys and values) applied up to and including it. */
  private readonly offsets: number[] = [];
  private readonly totals: number[] = [];
  private total = 0;

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

  /** Where the next catch-up reads from: every record below it has been read or appended here. */
  get readTo(): number {
    return this.position;
  }

  /** Forgets the values below `offset` (the log's start moved past them: they are gone for every reader). */
  forgetBefore(offset: number): void {
    for (const [key, { offset: at }] of this.table) if (at < offset) this.table.delete(key);
    if (this.position >= 0 && this.position < offset) this.position = offset;
    const below = this.countBelow(offset);
    if (below > 1) {
      // Keeps the last one below, the base for bytesBefore(offset).
      this.offsets.splice(0, below - 1);
      this.totals.splice(0, below - 1);
    }
  }

  /** The bytes (keys and values) of the records this reader applied below `offset`, counted from its first. */
  bytesBefore(offset: number): number {
    const below = this.countBelow(offset);
    return below === 0 ? 0 : this.totals[below - 1]!;
  }

  /** How many of the applied offsets are below `offset` (a binary search: they ascend). */
  private countBelow(offset: number): number {
    let lo = 0;
    let hi = this.offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
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
    // Another reader of the partition may have moved its start past what this one has read (purgeBefore): what lay
    // there was superseded, and what this one holds from there is gone.
    const start = this.log.describeTopic(this.topic).partitions[this.partition]?.logStartOffset ?? 0;
    if (this.position < start) this.forgetBefore(start);
    for (;;) {
      let page: Awaited<ReturnType<PipelineLog['readRecords']>>;
      try {
        page = await this.log.readRecords(this.topic, this.partition, this.position, { maxBytes: 4 << 20 });
      } catch (error) {
        if ((error as { code?: string }).code !== 'OFFSET_OUT_OF_RANGE') throw error;
        await this.log.refresh?.(this.topic);
        const moved = this.log.describeTopic(this.topic).partitions[this.partition]?.logStartOffset ?? 0;
        if (moved <= this.position) throw error;
        this.forgetBefore(moved);
        continue;
      }
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
    this.total += (record.key?.length ?? 0) + (record.value?.length ?? 0);
    this.offsets.push(record.offset);
    this.totals.push(this.total);
    if (record.key !== null) {
      const key = record.key.toString();
      if (record.value === null) this.table.delete(key);
      else this.table.set(key, { value: record.value, offset: record.offset });
    }
    for (const listener of this.listeners) listener(record);
  }
}
