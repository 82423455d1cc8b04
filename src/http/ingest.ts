// NDJSON ingest: every line of the body is one JSON object, the record's value. The whole body is parsed and
// checked before anything is written (a bad line rejects the request with its line number), rate-limited per
// topic, partitioned by key like Kafka producers do, and acknowledged only once the log says it is durable.
import { SluiceError } from '../errors.ts';
import { type LogRecord, partitionForKey } from '../log/index.ts';
import type { ServerLog } from './server.ts';

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

/** Records per append: well under the default 1 MiB batch limit for ordinary events. */
const CHUNK = 2000;

export async function ingestRecords(
  log: ServerLog,
  topic: string,
  body: string,
  options: IngestOptions = {},
): Promise<IngestResult> {
  if (!log.hasTopic(topic)) {
    throw new SluiceError('UNKNOWN_TOPIC', `topic ${topic} does not exist (create it with sluice topics create)`, {
      topic,
    });
  }
  const partitions = log.describeTopic(topic).partitions.length;
  const byPartition: LogRecord[][] = Array.from({ length: partitions }, () => []);
  const now = Date.now();
  let count = 0;
  let roundRobin = Math.floor(Math.random() * partitions);
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const where = `line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw invalid(i + 1, `${where} is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw invalid(i + 1, `${where} must be a JSON object`);
    }
    const fields = value as Record<string, unknown>;
    let key: Buffer | null = null;
    if (options.keyField !== undefined) {
      const k = fields[options.keyField];
      if (typeof k !== 'string' && typeof k !== 'number') {
        throw invalid(i + 1, `${where} has no string or number field "${options.keyField}" for the key`);
      }
      key = Buffer.from(String(k));
    }
    let timestamp = now;
    if (options.timestampField !== undefined) {
      const t = fields[options.timestampField];
      if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
        throw invalid(i + 1, `${where} has no epoch-ms number field "${options.timestampField}"`);
      }
      timestamp = Math.trunc(t);
    }
    const partition = key === null ? roundRobin++ % partitions : partitionForKey(key, partitions);
    byPartition[partition]!.push({ key, value: Buffer.from(line), timestamp });
    count++;
  }
  if (count === 0) throw new SluiceError('INVALID_RECORD', 'the body has no records (one JSON object per line)');
  options.limiter?.take(topic, count);
  const offsets: IngestResult['offsets'] = [];
  await Promise.all(
    byPartition.map(async (records, partition) => {
      for (let i = 0; i < records.length; i += CHUNK) {
        const result = await log.append(topic, partition, records.slice(i, i + CHUNK));
        const last = offsets.find((o) => o.partition === partition);
        if (last) last.last = result.lastOffset;
        else offsets.push({ partition, first: result.baseOffset, last: result.lastOffset });
      }
    }),
  );
  offsets.sort((a, b) => a.partition - b.partition);
  return { count, offsets };
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
