// Checkpoints kept in the log itself, for processes on hosts that share no filesystem: a topic
// (`<pipeline>-checkpoints`, one partition per task) of keyed records, on the embedded log or any Kafka cluster.
// A checkpoint is its chunks — `<scope>/chk/<id>/<nonce>/<n>`, at most `chunkBytes` each — and then its metadata
// record `<scope>/chk/<id>` (JSON: chunk count, sizes, CRC-32C of each chunk and of the whole, the writer's nonce),
// appended last and durably: a checkpoint counts only once its metadata record is in the log and every chunk it
// names reads back with its checksum. A write that a crash tore (chunks without metadata) or a chunk that fails its
// checksum is skipped with a warning and the checkpoint before it used, as the directory store does. Checkpoints
// beyond the newest `retain`, and chunks no metadata names, are superseded with tombstones (metadata first).
// Savepoints are `<scope>/sp/<name>` alike, never superseded. The partition stays bounded without compaction: after
// each checkpoint the store moves the partition's start (purgeBefore) up to its lowest live record, first copying
// forward the few live records that lie far below the retained checkpoints (reclaim.ts).
import { randomBytes } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';
import type { PipelineLog } from '../../contracts/index.ts';
import { SluiceError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { ensureTopic } from '../ensure-topic.ts';
import { decodeCheckpoint } from './format.ts';
import { KeyedPartition } from './keyed-partition.ts';
import { LeaseOffsets, REQUEST_PREFIX, type Reclaimed, reclaim } from './reclaim.ts';
import type { CheckpointStorage, StoredCheckpoint } from './storage.ts';

const SAVEPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const META_FORMAT = 1;
/** How often a store looks for new savepoint requests (a catch-up of its partition). */
const REQUEST_POLL_MS = 1000;

/** The metadata record of a checkpoint or savepoint: what its chunks must be to count. */
export interface ChunkedMeta {
  format: number;
  kind: 'checkpoint' | 'savepoint';
  /** The checkpoint id, or the savepoint's name. */
  name: string;
  /** The writer's nonce: chunk keys carry it, so chunks of two writes of one id never mix. */
  nonce: string;
  bytes: number;
  crc: number;
  chunks: { bytes: number; crc: number }[];
  writtenAt: number;
}

/** The topic that holds a pipeline's checkpoints in the log. */
export function checkpointTopic(pipeline: string): string {
  return `${pipeline}-checkpoints`;
}

export interface LogCheckpointStoreOptions {
  log: PipelineLog;
  /** The topic (see checkpointTopic()); created with `partitions` partitions if missing. */
  topic: string;
  /** Whose checkpoints: `p0003` for partition task 3, `main` for a whole pipeline. Keys start with it. */
  scope: string;
  /** The partition the scope's records go to (default 0; a task's: its partition, modulo the topic's count). */
  partition?: number;
  /** Partitions to create the topic with (default 1: a scaled-out pipeline's tasks, one each). */
  partitions?: number;
  retain: number;
  logger: Logger;
  /** The largest chunk (default 512 KiB: well under Kafka's default 1 MiB message size). */
  chunkBytes?: number;
  /**
   * The segment size the topic is created with, when this store creates it (default 64 MiB): the embedded log
   * frees a purged prefix a whole segment at a time, a Kafka cluster its disk likewise (its start moves at once).
   */
  segmentBytes?: number;
  /**
   * Copy live records forward once they hold back more than this many times the records of the retained
   * checkpoints' span (default 2): larger copies less often and keeps a larger dead prefix.
   */
  reclaimFactor?: number;
  /** The partition's reader, when the caller shares it (the task's lease keeps its records there too). */
  keyed?: KeyedPartition;
  /**
   * Runs after a write's chunks, before its metadata record; throwing refuses the write. A task runner checks here
   * that the task's lease is still its own, so that a member that stalled past its lease and lost the task to
   * another does not supersede the new owner's checkpoints (it learns of the loss within a renewal anyway).
   */
  beforeCommit?: () => Promise<void>;
}

const pad = (id: number) => String(id).padStart(20, '0');

export class LogCheckpointStore implements CheckpointStorage {
  readonly location: string;
  private readonly options: LogCheckpointStoreOptions;
  private readonly keyed: KeyedPartition;
  private readonly chunkBytes: number;
  /** Savepoint requests already seen (served, or found served). */
  private readonly requestsSeen = new Set<string>();
  private polling: Promise<void> | undefined;
  private polledAt = 0;
  /** Where each lease key's record that counts lies (the highest sequence number: reclaim.ts). */
  private readonly leases: LeaseOffsets;
  private purgeWarned = false;
  /** What the last reclaim did (tests, and the dashboard's curious). */
  lastReclaim: Reclaimed | undefined;

  constructor(options: LogCheckpointStoreOptions) {
    if (!Number.isInteger(options.retain) || options.retain < 1) {
      throw new SluiceError('INVALID_CONFIG', `checkpoints.retain must be an integer >= 1, got ${options.retain}`);
    }
    if (!/^[A-Za-z0-9._-]+$/.test(options.scope)) {
      throw new SluiceError('INVALID_NAME', `checkpoint scope "${options.scope}" must be letters, digits, . _ -`);
    }
    this.options = options;
    this.chunkBytes = options.chunkBytes ?? 512 * 1024;
    this.keyed = options.keyed ?? new KeyedPartition(options.log, options.topic, options.partition ?? 0);
    this.location = `${options.topic}/${this.keyed.partition}:${options.scope}`;
    this.leases = new LeaseOffsets(this.keyed);
  }

  /**
   * Creates a checkpoint topic unless it exists: kept until purged, never by time or size (a savepoint may be months
   * old), in segments of `segmentBytes` (default 64 MiB: the embedded log frees a purged prefix a segment at a
   * time); cleanup.policy stays Kafka's default `delete`, which DeleteRecords needs. Whoever creates the topic
   * before the stores open (a scaled-out member) creates it through here.
   */
  static async ensureTopic(
    log: PipelineLog,
    topic: string,
    partitions: number,
    segmentBytes = 64 << 20,
  ): Promise<void> {
    await ensureTopic(log, topic, { partitions, config: { retentionMs: -1, retentionBytes: -1, segmentBytes } });
  }

  async open(): Promise<void> {
    const { log, topic } = this.options;
    await LogCheckpointStore.ensureTopic(log, topic, this.options.partitions ?? 1, this.options.segmentBytes);
    await this.keyed.catchUp();
  }

  /** Ids of the checkpoints whose metadata is in the log, newest first. */
  ids(): number[] {
    const prefix = `${this.options.scope}/chk/`;
    return this.keyed
      .keys(prefix)
      .map((key) => key.slice(prefix.length))
      .filter((rest) => /^\d{20}$/.test(rest))
      .map(Number)
      .sort((a, b) => b - a);
  }

  async lastId(): Promise<number> {
    await this.keyed.catchUp();
    return this.ids()[0] ?? 0;
  }

  async loadLatest(): Promise<StoredCheckpoint | undefined> {
    await this.keyed.catchUp();
    for (const id of this.ids()) {
      const key = this.checkpointKey(id);
      try {
        return { data: decodeCheckpoint(this.assemble(key), this.where(key)), file: this.where(key) };
      } catch (error) {
        this.options.logger.warn(
          { checkpoint: this.where(key), err: error },
          'skipping an unreadable checkpoint; trying the one before',
        );
      }
    }
    return undefined;
  }

  async loadSavepoint(name: string): Promise<StoredCheckpoint> {
    this.checkSavepointName(name);
    await this.keyed.catchUp();
    const key = this.savepointKey(name);
    if (this.keyed.get(key) === undefined) {
      throw new SluiceError('SAVEPOINT_NOT_FOUND', `no savepoint "${name}" in ${this.location}`, { name });
    }
    return { data: decodeCheckpoint(this.assemble(key), this.where(key)), file: this.where(key) };
  }

  checkSavepointName(name: string): void {
    if (!SAVEPOINT_NAME.test(name)) {
      throw new SluiceError(
        'INVALID_NAME',
        `savepoint name "${name}" must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      );
    }
  }

  hasSavepoint(name: string): boolean {
    return this.keyed.get(this.savepointKey(name)) !== undefined;
  }

  async writeCheckpoint(id: number, bytes: Buffer): Promise<string> {
    const key = this.checkpointKey(id);
    await this.write(key, 'checkpoint', String(id), bytes);
    await this.supersede();
    await this.reclaim();
    return this.where(key);
  }

  /**
   * Copies forward what pins the partition's start far below the retained checkpoints, then purges below the lowest
   * live record (reclaim.ts). The checkpoint counts already: a failure here is logged, and the next one tries again.
   */
  async reclaim(options: { copy?: boolean; purge?: boolean } = {}): Promise<Reclaimed | undefined> {
    if (this.options.log.purgeBefore === undefined) return undefined;
    try {
      this.lastReclaim = await reclaim({
        keyed: this.keyed,
        scope: this.options.scope,
        retained: this.ids()
          .slice(0, this.options.retain)
          .map((id) => this.checkpointKey(id)),
        leases: this.leases,
        factor: this.options.reclaimFactor ?? 2,
        flush: () => this.options.log.flush?.(this.options.topic) ?? Promise.resolve(),
        beforeCommit: this.options.beforeCommit,
        copy: options.copy,
        purge: options.purge,
      });
      return this.lastReclaim;
    } catch (error) {
      if (!this.purgeWarned) {
        this.purgeWarned = true;
        this.options.logger.warn(
          { topic: this.options.topic, partition: this.keyed.partition, err: error },
          'could not purge superseded checkpoints from the log; it grows until this succeeds',
        );
      }
      return undefined;
    }
  }

  async writeSavepoint(name: string, bytes: Buffer): Promise<string> {
    this.checkSavepointName(name);
    const key = this.savepointKey(name);
    await this.write(key, 'savepoint', name, bytes);
    return this.where(key);
  }

  /**
   * Savepoints `sluice savepoint --bootstrap` asked for (requestLogSavepoint) that this scope has not written; a
   * catch-up to see new requests runs in the background, at most every second.
   */
  takeRequests(): string[] {
    const now = Date.now();
    if (this.polling === undefined && now - this.polledAt >= REQUEST_POLL_MS) {
      this.polledAt = now;
      this.polling = this.keyed
        .catchUp()
        .catch(() => {})
        .finally(() => {
          this.polling = undefined;
        });
    }
    const wanted: string[] = [];
    for (const key of this.keyed.keys(REQUEST_PREFIX)) {
      const name = key.slice(REQUEST_PREFIX.length);
      if (this.requestsSeen.has(name) || !SAVEPOINT_NAME.test(name)) continue;
      this.requestsSeen.add(name);
      if (!this.hasSavepoint(name)) wanted.push(name);
    }
    return wanted;
  }

  /**
   * Which savepoint (name and the nonce of its write) this scope last started from, if any (`--from-savepoint`):
   * the same for every copy of it that reclaiming makes.
   */
  savepointStamp(name: string): string | undefined {
    const meta = this.keyed.get(this.savepointKey(name));
    if (meta === undefined) return undefined;
    try {
      return `${name}@${(JSON.parse(meta.value.toString()) as ChunkedMeta).nonce}`;
    } catch {
      return `${name}@${meta.offset}`;
    }
  }

  appliedSavepoint(): string | undefined {
    return this.keyed.get(`${this.options.scope}/savepoint-applied`)?.value.toString();
  }

  async markSavepointApplied(stamp: string): Promise<void> {
    await this.keyed.append([{ key: `${this.options.scope}/savepoint-applied`, value: Buffer.from(stamp) }]);
  }

  private checkpointKey(id: number): string {
    return `${this.options.scope}/chk/${pad(id)}`;
  }

  private savepointKey(name: string): string {
    return `${this.options.scope}/sp/${name}`;
  }

  private where(key: string): string {
    return `${this.options.topic}/${this.keyed.partition}:${key}`;
  }

  /** Chunks first (flushed), then the metadata record, durably: until it is in the log, the write does not count. */
  private async write(key: string, kind: ChunkedMeta['kind'], name: string, bytes: Buffer): Promise<void> {
    const nonce = randomBytes(6).toString('hex');
    const meta: ChunkedMeta = {
      format: META_FORMAT,
      kind,
      name,
      nonce,
      bytes: bytes.length,
      crc: crc32c(bytes),
      chunks: [],
      writtenAt: Date.now(),
    };
    const { log, topic } = this.options;
    for (let at = 0, n = 0; at < bytes.length || n === 0; at += this.chunkBytes, n++) {
      const chunk = bytes.subarray(at, Math.min(bytes.length, at + this.chunkBytes));
      meta.chunks.push({ bytes: chunk.length, crc: crc32c(chunk) });
      await this.keyed.append([{ key: `${key}/${nonce}/${n}`, value: Buffer.from(chunk) }], false);
    }
    await log.flush?.(topic);
    await this.options.beforeCommit?.();
    await this.keyed.append([{ key, value: Buffer.from(JSON.stringify(meta)) }], true);
  }

  /** Reads a checkpoint's chunks back as its metadata names them, each verified, and joins them. */
  private assemble(key: string): Buffer {
    const record = this.keyed.get(key);
    if (record === undefined) throw corrupt(this.where(key), 'no metadata record');
    let meta: ChunkedMeta;
    try {
      meta = JSON.parse(record.value.toString()) as ChunkedMeta;
    } catch {
      throw corrupt(this.where(key), 'the metadata record is not JSON');
    }
    if (meta.format !== META_FORMAT || !Array.isArray(meta.chunks)) {
      throw corrupt(this.where(key), `metadata format ${meta.format}; this Sluice reads ${META_FORMAT}`);
    }
    const parts: Buffer[] = [];
    for (const [n, expected] of meta.chunks.entries()) {
      const chunk = this.keyed.get(`${key}/${meta.nonce}/${n}`)?.value;
      if (chunk === undefined) throw corrupt(this.where(key), `chunk ${n} of ${meta.chunks.length} is missing`);
      if (chunk.length !== expected.bytes || crc32c(chunk) !== expected.crc) {
        throw corrupt(this.where(key), `chunk ${n} of ${meta.chunks.length} fails its checksum`);
      }
      parts.push(chunk);
    }
    const whole = Buffer.concat(parts);
    if (whole.length !== meta.bytes || crc32c(whole) !== meta.crc) throw corrupt(this.where(key), 'checksum mismatch');
    return whole;
  }

  /**
   * Tombstones for the checkpoints beyond the newest `retain` (metadata before chunks: a reader never takes a
   * checkpoint whose chunks are going) and for chunks no retained checkpoint names (a torn write's, an older
   * write's of the same id); savepoints' chunks stay.
   */
  private async supersede(): Promise<void> {
    const scope = this.options.scope;
    const ids = this.ids();
    const keep = new Set(ids.slice(0, this.options.retain));
    const metas: string[] = [];
    const chunks: string[] = [];
    for (const id of ids.slice(this.options.retain)) metas.push(this.checkpointKey(id));
    const named = new Set<string>();
    for (const id of keep) {
      const key = this.checkpointKey(id);
      try {
        const meta = JSON.parse(this.keyed.get(key)!.value.toString()) as ChunkedMeta;
        for (let n = 0; n < meta.chunks.length; n++) named.add(`${key}/${meta.nonce}/${n}`);
      } catch {
        // unreadable metadata: its chunks go with the rest
      }
    }
    const newest = ids[0] ?? 0;
    const prefix = `${scope}/chk/`;
    for (const key of this.keyed.keys(prefix)) {
      const parts = key.slice(prefix.length).split('/');
      if (parts.length !== 3 || named.has(key)) continue;
      // A chunk of a checkpoint newer than the newest whole one may be a write in progress (not ours: we are its
      // only writer, and ours is done); it goes once a newer checkpoint completes.
      if (Number(parts[0]) <= newest) chunks.push(key);
    }
    const tombstones = [...metas, ...chunks].map((key) => ({ key, value: null }));
    if (tombstones.length > 0) await this.keyed.append(tombstones, true);
  }
}

function corrupt(where: string, why: string): SluiceError {
  return new SluiceError('CORRUPT_CHECKPOINT', `${where}: ${why}`, { file: where });
}

/** Every partition of a pipeline's checkpoint topic read to its end, and the scopes (tasks) with checkpoints there. */
async function readCheckpointTopic(
  log: PipelineLog,
  pipeline: string,
): Promise<{ topic: string; scopes: Map<string, KeyedPartition> }> {
  const topic = checkpointTopic(pipeline);
  await log.refresh?.(topic).catch(() => {});
  if (!log.hasTopic(topic)) {
    throw new SluiceError(
      'UNKNOWN_PIPELINE',
      `pipeline ${pipeline} keeps no checkpoints in the log (no topic ${topic})`,
    );
  }
  const partitions = log.describeTopic(topic).partitions.map((p) => new KeyedPartition(log, topic, p.partition));
  await Promise.all(partitions.map((k) => k.catchUp()));
  const scopes = new Map<string, KeyedPartition>();
  for (const keyed of partitions) {
    for (const key of keyed.keys('')) {
      const scope = /^([A-Za-z0-9._-]+)\/chk\/\d{20}$/.exec(key)?.[1];
      if (scope !== undefined) scopes.set(scope, keyed);
    }
  }
  return { topic, scopes };
}

/** The scopes (`p0003`, `main`) of a pipeline's checkpoint topic that have savepoint `name`, and those that do not. */
export async function logSavepointScopes(
  log: PipelineLog,
  pipeline: string,
  name: string,
): Promise<{ with: string[]; without: string[] }> {
  const { scopes } = await readCheckpointTopic(log, pipeline);
  const found = { with: [] as string[], without: [] as string[] };
  for (const [scope, keyed] of scopes) (keyed.get(`${scope}/sp/${name}`) ? found.with : found.without).push(scope);
  return found;
}

/**
 * Asks every task (scope) of a pipeline that checkpoints into the log for savepoint `name` — a request record in
 * every partition of its checkpoint topic, which each task's store sees within a second — and resolves with where
 * each one was written, once all are.
 */
export async function requestLogSavepoint(
  log: PipelineLog,
  pipeline: string,
  name: string,
  timeoutMs = 60_000,
): Promise<string[]> {
  if (!SAVEPOINT_NAME.test(name)) throw new SluiceError('INVALID_NAME', `invalid savepoint name "${name}"`);
  const { topic, scopes } = await readCheckpointTopic(log, pipeline);
  if (scopes.size === 0) throw new SluiceError('UNKNOWN_PIPELINE', `no checkpoints of ${pipeline} in ${topic}`);
  const keyOf = (scope: string) => `${scope}/sp/${name}`;
  const partitions = new Set(scopes.values());
  if ([...scopes].some(([scope, keyed]) => keyed.get(keyOf(scope)) !== undefined)) {
    throw new SluiceError('SAVEPOINT_EXISTS', `savepoint ${name} of ${pipeline} already exists in ${topic}`);
  }
  const request = Buffer.from(JSON.stringify({ requestedAt: Date.now() }));
  await Promise.all(
    [...partitions].map((keyed) => keyed.append([{ key: `${REQUEST_PREFIX}${name}`, value: request }])),
  );
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing = [...scopes].filter(([scope, keyed]) => keyed.get(keyOf(scope)) === undefined);
    if (missing.length === 0) break;
    if (Date.now() > deadline) {
      throw new SluiceError(
        'TIMEOUT',
        `no savepoint after ${timeoutMs} ms from ${missing.map(([s]) => s).join(', ')}: is the pipeline running?`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    await Promise.all([...partitions].map((keyed) => keyed.catchUp()));
  }
  return [...scopes].map(([scope, keyed]) => `${topic}/${keyed.partition}:${keyOf(scope)}`).sort();
}
