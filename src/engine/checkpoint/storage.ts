// What the checkpoint coordinator needs of wherever checkpoints live: a directory (store.ts, files renamed into
// place) or the log itself (log-store.ts, chunked records in a compactable topic, for members on hosts that share
// no filesystem). Either way a checkpoint is whole or absent, and loading falls back past a corrupt one.
import type { CheckpointData } from './format.ts';

export interface StoredCheckpoint {
  data: CheckpointData;
  /** Where it was read from: a file, or `<topic>/<partition>:<key>` in the log. */
  file: string;
}

export interface CheckpointStorage {
  /** Where the checkpoints live, for messages. */
  readonly location: string;
  /** Makes the store ready (creates its directory or topic, reads what is there); called before anything else. */
  open(): Promise<void>;
  /** The newest checkpoint id stored (0 when none): the next checkpoint's id follows it. */
  lastId(): Promise<number>;
  /** The newest checkpoint that reads back whole and verifies; older ones stand in for a corrupt or torn one. */
  loadLatest(): Promise<StoredCheckpoint | undefined>;
  /** A savepoint by name (SAVEPOINT_NOT_FOUND, CORRUPT_CHECKPOINT). */
  loadSavepoint(name: string): Promise<StoredCheckpoint>;
  /** Throws INVALID_NAME for a name a savepoint cannot have. */
  checkSavepointName(name: string): void;
  /** Stores a checkpoint durably, whole or not at all, then lets go of those beyond the newest `retain`. */
  writeCheckpoint(id: number, bytes: Buffer): Promise<string>;
  /** Stores a savepoint (kept until deleted by hand). */
  writeSavepoint(name: string, bytes: Buffer): Promise<string>;
  /** Savepoint names other processes asked for since the last call (`sluice savepoint`), where the store has them. */
  takeRequests(): string[];
}
