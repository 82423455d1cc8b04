// NDJSON ingest: every line of the body is one JSON object, the record's value. The whole body is decoded, parsed
// and sized before anything is written (a bad line rejects the request with its line number, and writes nothing),
// rate-limited per topic, partitioned by key like Kafka producers do, appended in batches that fit the topic's
// max message bytes, and acknowledged only once the log says it is durable.
import { SluiceError } from '../errors.ts';
import { type LogRecord, partitionForKey } from '../log/index.ts';
import type { ServerLog } from './options.ts';

export interface IngestOptions {
  /** The field of each object holding the record key (`?key=field`). */
  keyField?: string;
  /** The field holding the record timestamp in epoch ms (`?timestamp=field`); default: now. */
  timestampField?: string;
  limiter?: RateLimiter;
}

export interface IngestResult {
  count: number;
  offsets: { partition: number; first: number; last: number }[];
}

/** A record batch's header (61 bytes), and a record's own overhead at most: length, attributes, deltas, lengths. */
const BATCH_OVERHEAD = 61;
const RECORD_OVERHEAD = 1 + 5 * 6;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Appends the body's records to `topic` all or nothing: every line is decoded (strict UTF-8), parsed and sized
 * before the first append, so a refused request writes nothing; records are then appended in batches that fit the
 * topic's max message bytes (a body may hold many megabytes of one key).
 */
export async function ingestRecords(
  log: ServerLog,
  topic: string,
  body: Uint8Array | string,
  options: IngestOptions = {},
): Promise<IngestResult> {
  if (!log.hasTopic(topic)) {
    throw new SluiceError('UNKNOWN_TOPIC', `topic ${topic} does not exist (create it with sluice topics create)`, {
      topic,
    });
  }
  const info = log.describeTopic(topic);
  const partitions = info.partitions.length;
  const maxBatchBytes = info.config.maxMessageBytes;
  const byPartition: LogRecord[][] = Array.from({ length: partitions }, () => []);
  const now = Date.now();
  let count = 0;
  let roundRobin = Math.floor(Math.random() * partitions);
  const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.length);
  let lineNumber = 0;
  for (let start = 0; start <= bytes.length; ) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    lineNumber++;
    const raw = bytes.subarray(start, end);
    start = end + 1;
    const where = `line ${lineNumber}`;
    let text: string;
    try {
      text = utf8.decode(raw);
    } catch {
      throw invalid(lineNumber, `${where} is not valid UTF-8 (records are stored as the bytes sent)`);
    }
    const line = text.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw invalid(lineNumber, `${where} is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw invalid(lineNumber, `${where} must be a JSON object`);
    }
    const fields = value as Record<string, unknown>;
    let key: Buffer | null = null;
    if (options.keyField !== undefined) {
      const k = fields[options.keyField];
      if (typeof k !== 'string' && typeof k !== 'number') {
        throw invalid(lineNumber, `${where} has no string or number field "${options.keyField}" for the key`);
      }
      key = Buffer.from(String(k));
    }
    let timestamp = now;
    if (options.timestampField !== undefined) {
      const t = fields[options.timestampField];
      if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
        throw invalid(lineNumber, `${where} has no epoch-ms number field "${options.timestampField}"`);
      }
      timestamp = Math.trunc(t);
    }
    const stored = Buffer.from(line);
    if (BATCH_OVERHEAD + recordBytes(key, stored) > maxBatchBytes) {
      throw new SluiceError(
        'RECORD_TOO_LARGE',
        `${where} is ${stored.length} bytes, more than topic ${topic} takes in one record (max.message.bytes ` +
          `${maxBatchBytes}); nothing was written`,
        { line: lineNumber, topic, bytes: stored.length, maxMessageBytes: maxBatchBytes },
      );
    }
    const partition = key === null ? roundRobin++ % partitions : partitionForKey(key, partitions);
    byPartition[partition]!.push({ key, value: stored, timestamp });
    count++;
  }
  if (count === 0) throw new SluiceError('INVALID_RECORD', 'the body has no records (one JSON object per line)');
  options.limiter?.take(topic, count);
  const offsets: IngestResult['offsets'] = [];
  await Promise.all(
    byPartition.map(async (records, partition) => {
      for (const batch of batchesOf(records, maxBatchBytes)) {
        const result = await log.append(topic, partition, batch);
        const last = offsets.find((o) => o.partition === partition);
        if (last) last.last = result.lastOffset;
        else offsets.push({ partition, first: result.baseOffset, last: result.lastOffset });
      }
    }),
  );
  offsets.sort((a, b) => a.partition - b.partition);
  return { count, offsets };
}

/** An upper bound of a record's size in a record batch. */
function recordBytes(key: Buffer | null, value: Buffer): number {
  return RECORD_OVERHEAD + (key?.length ?? 0) + value.length;
}

/** Consecutive runs of `records` whose batches stay within `maxBatchBytes` (every record fits alone: checked). */
function* batchesOf(records: LogRecord[], maxBatchBytes: number): Generator<LogRecord[]> {
  let from = 0;
  let bytes = BATCH_OVERHEAD;
  for (let i = 0; i < records.length; i++) {
    const size = recordBytes(records[i]!.key, records[i]!.value!);
    if (i > from && bytes + size > maxBatchBytes) {
      yield records.slice(from, i);
      from = i;
      bytes = BATCH_OVERHEAD;
    }
    bytes += size;
  }
  if (from < records.length) yield records.slice(from);
}

function invalid(line: number, message: string): SluiceError {
  return new SluiceError('INVALID_RECORD', `${message}; nothing was written`, { line });
}

/** A token bucket per topic: `ratePerSec` records per second, bursting to one second's worth. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly ratePerSec: number;

  constructor(ratePerSec: number) {
    this.ratePerSec = ratePerSec;
  }

  /** Takes `n` tokens or throws RATE_LIMITED (taking none) with the seconds to wait. */
  take(topic: string, n: number, now = performance.now()): void {
    let bucket = this.buckets.get(topic);
    if (!bucket) this.buckets.set(topic, (bucket = { tokens: this.ratePerSec, at: now }));
    bucket.tokens = Math.min(this.ratePerSec, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerSec);
    bucket.at = now;
    if (n <= bucket.tokens) {
      bucket.tokens -= n;
      return;
    }
    const waitSec =
      n > this.ratePerSec ? Math.ceil(n / this.ratePerSec) : Math.ceil((n - bucket.tokens) / this.ratePerSec);
    throw new SluiceError(
      'RATE_LIMITED',
      `topic ${topic} takes at most ${this.ratePerSec} records/s over HTTP; retry after ${waitSec} s${n > this.ratePerSec ? ' in smaller requests' : ''}`,
      { topic, retryAfterSec: waitSec },
    );
  }
}
