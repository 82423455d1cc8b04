// The topic message browser behind GET /v1/topics/{topic}/partitions/{partition}/records: a partition's latest
// records, the records from an offset or from the first at/after a time, or those with a key (scanning back from the
// end, or on from a position, a bounded number of records). Every parameter is checked and bounded at this edge,
// and what a request reads is bounded too (records, bytes), so that browsing cannot stall the server.
import { SluiceError } from '../errors.ts';
import type { RecordReadResult, StoredRecord } from '../log/index.ts';
import { RECORD_BROWSE_LIMITS, type RecordBytesJson, type TopicRecordJson, type TopicRecordsJson } from './api.ts';
import type { ServerLog } from './options.ts';

export interface RecordsQuery {
  /** Where to read from; absent: the latest records. */
  position: { offset: number } | { timestamp: number } | null;
  key: Buffer | null;
  limit: number;
}

const PARAMETERS = new Set(['offset', 'timestamp', 'key', 'limit']);
/** Bytes a single read of the log asks for (it returns at least one whole batch). */
const READ_BYTES = 1024 * 1024;
/** Records a key search reads at a time, going back from the end. */
const SCAN_STEP = 1000;

const invalid = (parameter: string, message: string) =>
  new SluiceError('INVALID_RECORDS_QUERY', message, { parameter });

/**
 * The request's parameters, checked: `offset` or `timestamp` (not both; whole numbers ≥ 0), `key` (1 to 1,024
 * bytes of UTF-8), `limit` (1 to 500, default 50). Unknown or repeated parameters are refused, not ignored, so that
 * a typo never silently shows other records than asked.
 */
export function parseRecordsQuery(params: Record<string, string[]>): RecordsQuery {
  for (const [name, values] of Object.entries(params)) {
    if (!PARAMETERS.has(name)) {
      throw invalid(name, `unknown parameter "${name}": use offset, timestamp, key and limit`);
    }
    if (values.length > 1) throw invalid(name, `"${name}" is given ${values.length} times`);
  }
  const one = (name: string) => params[name]?.[0];
  const whole = (name: string, max: number): number | undefined => {
    const text = one(name);
    if (text === undefined) return undefined;
    if (!/^\d{1,16}$/.test(text) || Number(text) > max) {
      throw invalid(name, `"${name}" must be a whole number from 0 to ${max}, not "${text.slice(0, 40)}"`);
    }
    return Number(text);
  };
  const offset = whole('offset', Number.MAX_SAFE_INTEGER);
  // Epoch milliseconds up to the year 9999: beyond it no record can be, and Date stops being able to show it.
  const timestamp = whole('timestamp', 253_402_300_799_999);
  if (offset !== undefined && timestamp !== undefined) {
    throw invalid('timestamp', 'give "offset" or "timestamp", not both');
  }
  const limitText = one('limit');
  const limit = limitText === undefined ? RECORD_BROWSE_LIMITS.defaultLimit : whole('limit', Number.MAX_SAFE_INTEGER)!;
  if (limit < 1 || limit > RECORD_BROWSE_LIMITS.maxLimit) {
    throw invalid('limit', `"limit" must be 1 to ${RECORD_BROWSE_LIMITS.maxLimit}, not ${limit}`);
  }
  const keyText = one('key');
  let key: Buffer | null = null;
  if (keyText !== undefined) {
    key = Buffer.from(keyText, 'utf8');
    if (key.length === 0 || key.length > RECORD_BROWSE_LIMITS.maxKeyBytes) {
      throw invalid('key', `"key" must be 1 to ${RECORD_BROWSE_LIMITS.maxKeyBytes} bytes, not ${key.length}`);
    }
  }
  const position = offset !== undefined ? { offset } : timestamp !== undefined ? { timestamp } : null;
  return { position, key, limit };
}

/** The partition number of the path, checked (a whole number; whether the topic has it is checked on reading). */
export function parsePartition(text: string): number {
  if (!/^\d{1,9}$/.test(text)) throw invalid('partition', `the partition must be a whole number, not "${text}"`);
  return Number(text);
}

/** Reads what `query` asks of a partition. Throws UNKNOWN_TOPIC / UNKNOWN_PARTITION for what is not there. */
export async function browseRecords(
  log: ServerLog,
  topic: string,
  partition: number,
  query: RecordsQuery,
): Promise<TopicRecordsJson> {
  const { readRecords, offsetForTimestamp } = log;
  if (!readRecords || !offsetForTimestamp) {
    throw new SluiceError('UNSUPPORTED', 'this server cannot read records of its log');
  }
  if (!log.hasTopic(topic)) throw new SluiceError('UNKNOWN_TOPIC', `no topic "${topic}"`, { topic });
  const info = log.describeTopic(topic).partitions.find((p) => p.partition === partition);
  if (!info) {
    throw new SluiceError('UNKNOWN_PARTITION', `topic "${topic}" has no partition ${partition}`, { topic, partition });
  }
  const start = info.logStartOffset;
  const end = info.logEndOffset;
  const read = (offset: number) => readRecords.call(log, topic, partition, offset, { maxBytes: READ_BYTES });

  let from: number;
  let kept: StoredRecord[];
  let scan: TopicRecordsJson['scan'] = null;
  /** Which records to keep when the answer is too large: the latest ones, or those right after `from`. */
  let latest = true;
  /** The offset after the last record read (for the latest records and a key search back: the end). */
  let reached = end;
  if (query.position === null && query.key === null) {
    // The latest records: offsets are dense apart from transaction markers, so `limit` back from the end holds at
    // most `limit` records.
    from = Math.max(start, end - query.limit);
    kept = (await readRange(read, from, end, query.limit, null)).records;
  } else if (query.position === null) {
    // A key, from the end backwards a step at a time, until enough match or the scan bound.
    let to = end;
    kept = [];
    while (to > start && end - to < RECORD_BROWSE_LIMITS.maxScan && kept.length < query.limit) {
      const step = Math.min(SCAN_STEP, to - start, RECORD_BROWSE_LIMITS.maxScan - (end - to));
      const found = await readRange(read, to - step, to, Number.POSITIVE_INFINITY, query.key);
      kept = [...found.records, ...kept].slice(-query.limit);
      to -= step;
    }
    scan = { from: to, to: end, records: end - to, bounded: to > start && kept.length < query.limit };
    from = kept[0]?.offset ?? to;
  } else {
    let offset: number;
    if ('offset' in query.position) offset = query.position.offset;
    else {
      const found = await offsetForTimestamp.call(log, topic, partition, query.position.timestamp);
      offset = found ?? end; // no record at or after that time: nothing to show, from the end
    }
    // An offset below the start (deleted by retention) reads from the start; one past the end reads nothing.
    from = Math.min(Math.max(offset, start), end);
    latest = false;
    const to = query.key === null ? end : Math.min(end, from + RECORD_BROWSE_LIMITS.maxScan);
    const found = await readRange(read, from, to, query.limit, query.key);
    kept = found.records;
    reached = found.reached;
    if (query.key !== null) {
      const bounded = reached < end && reached - from >= RECORD_BROWSE_LIMITS.maxScan;
      scan = { from, to: reached, records: reached - from, bounded };
    }
  }
  const shown = withinSize(kept, latest);
  if (latest && shown.length < kept.length) from = shown[0]!.offset;
  const records = shown.map(toJson);
  // Paging on: after the last record shown when the size bound cut the answer short, else after what was read.
  const nextOffset = !latest && shown.length < kept.length ? shown.at(-1)!.offset + 1 : reached;
  return {
    topic,
    partition,
    startOffset: start,
    endOffset: end,
    from,
    records,
    nextOffset,
    scan,
    truncated: shown.length < kept.length,
  };
}

type Read = (offset: number) => RecordReadResult | Promise<RecordReadResult>;

/**
 * The records of [from, to) in offset order with the key (all of them without one), at most `limit`; `reached` is
 * the offset it read up to (`to`, or after the last record kept when it stopped at the limit).
 */
async function readRange(
  read: Read,
  from: number,
  to: number,
  limit: number,
  key: Buffer | null,
): Promise<{ records: StoredRecord[]; reached: number }> {
  const records: StoredRecord[] = [];
  let position = from;
  while (position < to && records.length < limit) {
    const page = await read(position);
    if (page.records.length === 0) break; // the end moved back (truncated), or only transaction markers are left
    for (const record of page.records) {
      if (record.offset < position) continue; // the head of the first batch, before the offset asked for
      if (record.offset >= to || records.length >= limit) return { records, reached: Math.min(position, to) };
      position = record.offset + 1;
      if (key === null || record.key?.equals(key)) records.push(record);
    }
    position = Math.max(position, page.nextOffset);
  }
  return { records, reached: Math.min(position, to) };
}

/** The records that fit the answer's size bound (at least one): the latest ones, or the first ones. */
function withinSize(records: StoredRecord[], latest: boolean): StoredRecord[] {
  let bytes = 0;
  const order = latest ? [...records].reverse() : records;
  let n = 0;
  for (const record of order) {
    bytes += shownSize(record);
    if (bytes > RECORD_BROWSE_LIMITS.responseBytes && n > 0) break;
    n++;
  }
  return latest ? records.slice(records.length - n) : records.slice(0, n);
}

/** About what a record adds to the answer (hex doubles binary bytes). */
function shownSize(record: StoredRecord): number {
  const shown = (b: Buffer | null) => (b === null ? 0 : 2 * Math.min(b.length, RECORD_BROWSE_LIMITS.shownBytes));
  return 100 + shown(record.key) + shown(record.value) + record.headers.reduce((n, h) => n + 20 + shown(h.value), 0);
}

function toJson(record: StoredRecord): TopicRecordJson {
  return {
    offset: record.offset,
    timestamp: record.timestamp,
    key: bytesJson(record.key),
    value: bytesJson(record.value),
    headers: record.headers.map((h) => ({ key: h.key, value: bytesJson(h.value) })),
  };
}

// C0 controls other than tab, line feed and carriage return, and DEL: valid UTF-8, but binary in practice.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Bytes as text when they are UTF-8 without control characters, else as hex; the first `shownBytes` of them. */
export function bytesJson(bytes: Buffer | null): RecordBytesJson | null {
  if (bytes === null) return null;
  const truncated = bytes.length > RECORD_BROWSE_LIMITS.shownBytes;
  const shown = truncated ? bytes.subarray(0, RECORD_BROWSE_LIMITS.shownBytes) : bytes;
  try {
    // `stream` keeps a character that the cut splits from failing the decoding: its bytes are left out. A decoder a
    // call, since a streaming one holds those bytes for the next.
    const text = new TextDecoder('utf-8', { fatal: true }).decode(shown, { stream: truncated });
    if (!CONTROL.test(text)) return { encoding: 'utf8', data: text, size: bytes.length, truncated };
  } catch {
    // not UTF-8
  }
  return { encoding: 'hex', data: shown.toString('hex'), size: bytes.length, truncated };
}
