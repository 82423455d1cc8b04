// Keeping a log checkpoint store's partition bounded without compaction: its start is moved (purgeBefore) up to the
// lowest record still live there, and the few live records that pin it far below the retained checkpoints — an old
// savepoint, a lease not renewed, a savepoint request — are first copied forward, same keys and bytes.
// Invariants: a copy is complete and durable before anything is purged (chunks, then metadata, then the purge), so
// a crash between the steps leaves both copies, alike, and readers take the newest; nothing a reader has not read is
// purged (the purge point is at most where this reader stopped); and a lease counts by sequence number, not log
// order, so the record of a lease that counts is the one kept, whatever copies follow it.
import type { KeyedPartition } from './keyed-partition.ts';

/** `sluice savepoint` asks every scope of a partition for a savepoint with a record of this key + name. */
export const REQUEST_PREFIX = 'savepoint-request/';
const LEASE_SUFFIX = '/lease';

/**
 * Where the record of each lease key that counts lies (log-lease.ts: the highest sequence number, the first in the
 * log of two alike): a stale copy appended after a newer record must not make that record look superseded.
 */
export class LeaseOffsets {
  private readonly counting = new Map<string, { seq: number; offset: number; value: Buffer }>();
  /** False when the partition had been read before this was listening: then leases are not copied. */
  readonly complete: boolean;

  constructor(keyed: KeyedPartition) {
    this.complete = keyed.readTo < 0;
    keyed.onRecord((record) => {
      const key = record.key?.toString();
      if (key === undefined || !key.endsWith(LEASE_SUFFIX) || record.value === null) return;
      let seq: unknown;
      try {
        seq = (JSON.parse(record.value.toString()) as { seq?: unknown }).seq;
      } catch {
        return;
      }
      if (typeof seq !== 'number') return;
      const held = this.counting.get(key);
      // A copy of the record that counts (the same bytes) stands for it; another record of the same number does not.
      if (held === undefined || seq > held.seq || (seq === held.seq && record.value.equals(held.value))) {
        this.counting.set(key, { seq, offset: record.offset, value: record.value });
      }
    });
  }

  get(key: string): { offset: number; value: Buffer } | undefined {
    return this.counting.get(key);
  }
}

export interface ReclaimOptions {
  keyed: KeyedPartition;
  /** The store's scope: its savepoints and marker are its own to copy (it is their only writer). */
  scope: string;
  /** The metadata keys of the store's retained checkpoints. */
  retained: string[];
  leases: LeaseOffsets;
  /** Copy once the dead bytes a copy frees exceed `factor` times the retained span's bytes and the bytes copied. */
  factor: number;
  /** Makes appends made with `durable: false` durable (the log's flush). */
  flush(): Promise<void>;
  /**
   * Runs before the copied metadata and markers go in; throwing stops the copy (a task checks that its lease is
   * still its own: a member that lost the task must not bring back a marker the new owner replaced).
   */
  beforeCommit?: () => Promise<void>;
  /** Steps to take (default both): tests take them one at a time, as a crash between them would leave them. */
  copy?: boolean;
  purge?: boolean;
}

export interface Reclaimed {
  /** The partition's start before and after. */
  startBefore: number;
  start: number;
  /** The lowest offset of the retained checkpoints' records. */
  floor: number;
  /** Records copied forward, and superseded chunks tombstoned with them. */
  copied: number;
  /** The offset the purge asked for (the lowest live record), if it asked. */
  purgedTo?: number;
}

/** One reclaim round, after a checkpoint was written and older ones superseded. */
export async function reclaim(options: ReclaimOptions): Promise<Reclaimed | undefined> {
  const { keyed } = options;
  const { log, topic, partition } = keyed;
  await keyed.catchUp();
  const startOf = () => log.describeTopic(topic).partitions[partition]?.logStartOffset ?? 0;
  const startBefore = startOf();
  const floor = retainedFloor(keyed, options.retained);
  if (floor === undefined) return undefined;
  const result: Reclaimed = { startBefore, start: startBefore, floor, copied: 0 };

  if (options.copy !== false) {
    const plan = planCopy(options, floor, startBefore);
    if (plan !== undefined) {
      // Chunks first, durable before the metadata that names them (their bytes are those of the originals, so
      // either copy of each reads back alike); then the metadata and the small records, durably.
      for (const key of plan.chunks) await keyed.append([{ key, value: keyed.get(key)!.value }], false);
      if (plan.chunks.length > 0) await options.flush();
      await options.beforeCommit?.();
      const small = plan.records.map((key) => ({ key, value: liveValue(options, key) }));
      const tombstones = plan.tombstones.map((key) => ({ key, value: null }));
      if (small.length + tombstones.length > 0) await keyed.append([...small, ...tombstones], true);
      result.copied = plan.chunks.length + plan.records.length + plan.tombstones.length;
      await keyed.catchUp();
    }
  }

  if (options.purge !== false && log.purgeBefore !== undefined) {
    // Nothing this reader has not read goes: another writer's record past it may be live.
    let lowest = keyed.readTo;
    for (const key of keyed.keys('')) lowest = Math.min(lowest, liveOffset(options, key));
    // Worth a request once the dead prefix is as large as the retained span (the embedded log frees whole segments
    // anyway; a cluster is asked once in a few checkpoints rather than after each).
    const dead = keyed.bytesBefore(lowest) - keyed.bytesBefore(startBefore);
    const retainedBytes = keyed.bytesBefore(keyed.readTo) - keyed.bytesBefore(floor);
    if (lowest > startBefore && dead >= retainedBytes) {
      result.purgedTo = lowest;
      result.start = await log.purgeBefore(topic, partition, lowest);
      keyed.forgetBefore(result.start);
    }
  }
  return result;
}

/** The lowest offset of the retained checkpoints' metadata and chunks; undefined when none is retained. */
function retainedFloor(keyed: KeyedPartition, retained: string[]): number | undefined {
  let floor = Number.POSITIVE_INFINITY;
  for (const key of retained) {
    const meta = keyed.get(key);
    if (meta === undefined) continue;
    floor = Math.min(floor, meta.offset);
    for (const chunk of namedChunks(keyed, key)) floor = Math.min(floor, keyed.get(chunk)?.offset ?? floor);
  }
  return Number.isFinite(floor) ? floor : undefined;
}

/** The chunk keys a checkpoint's or savepoint's metadata record names (none if it is unreadable). */
function namedChunks(keyed: KeyedPartition, key: string): string[] {
  try {
    const meta = JSON.parse(keyed.get(key)!.value.toString()) as { nonce: string; chunks: unknown[] };
    return meta.chunks.map((_, n) => `${key}/${meta.nonce}/${n}`);
  } catch {
    return [];
  }
}

function liveOffset(options: ReclaimOptions, key: string): number {
  const table = options.keyed.get(key)!.offset;
  if (!key.endsWith(LEASE_SUFFIX)) return table;
  return options.leases.get(key)?.offset ?? table;
}

function liveValue(options: ReclaimOptions, key: string): Buffer {
  const record = key.endsWith(LEASE_SUFFIX) ? options.leases.get(key) : undefined;
  return record?.value ?? options.keyed.get(key)!.value;
}

interface CopyPlan {
  /** Savepoint chunks to copy, each a record of its own (up to a chunk's size). */
  chunks: string[];
  /** Savepoint metadata, the applied-savepoint marker, savepoint requests, lease records. */
  records: string[];
  /** Chunks of this scope's savepoints that no metadata names (a torn or superseded write). */
  tombstones: string[];
}

/**
 * What to copy forward, or undefined when copying is not worth it: the live records below the retained checkpoints
 * that this store may copy — its own savepoints and marker (it is their only writer), savepoint requests (every copy
 * asks the same) and lease records (counted by sequence number) — when what a copy lets go exceeds `factor` times
 * both the retained span and the copy. Other scopes' records stay where they are: their own stores copy them.
 */
function planCopy(options: ReclaimOptions, floor: number, start: number): CopyPlan | undefined {
  const { keyed, scope, factor } = options;
  const ownSavepoints = `${scope}/sp/`;
  const candidates: { key: string; offset: number }[] = [];
  let fixed = floor;
  for (const key of keyed.keys('')) {
    const offset = liveOffset(options, key);
    if (offset >= floor) continue;
    const movable =
      key.startsWith(ownSavepoints) ||
      key === `${scope}/savepoint-applied` ||
      key.startsWith(REQUEST_PREFIX) ||
      (key.endsWith(LEASE_SUFFIX) && options.leases.complete);
    if (movable) candidates.push({ key, offset });
    else fixed = Math.min(fixed, offset);
  }
  const moving = candidates.filter((c) => c.offset < fixed);
  if (moving.length === 0) return undefined;
  const lowest = Math.min(...moving.map((c) => c.offset));
  const copyBytes = moving.reduce((sum, c) => sum + c.key.length + liveValue(options, c.key).length, 0);
  const freed = keyed.bytesBefore(fixed) - keyed.bytesBefore(Math.max(start, lowest));
  const retainedBytes = keyed.bytesBefore(keyed.readTo) - keyed.bytesBefore(floor);
  if (freed <= factor * Math.max(retainedBytes, copyBytes)) return undefined;

  const plan: CopyPlan = { chunks: [], records: [], tombstones: [] };
  const named = new Set<string>();
  for (const key of keyed.keys(ownSavepoints)) {
    if (key.slice(ownSavepoints.length).split('/').length === 1) for (const c of namedChunks(keyed, key)) named.add(c);
  }
  for (const { key } of moving) {
    const isChunk = key.startsWith(ownSavepoints) && key.slice(ownSavepoints.length).split('/').length === 3;
    if (!isChunk) plan.records.push(key);
    else if (named.has(key)) plan.chunks.push(key);
    else plan.tombstones.push(key);
  }
  // A savepoint's chunks that stay (above `fixed`) are not purged: its copied metadata names them where they are.
  return plan;
}
