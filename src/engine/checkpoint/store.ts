// Where a pipeline's checkpoints and savepoints live: `<dir>/chk-<id>.ckpt` (the last `retain` kept) and
// `<dir>/savepoints/<name>.ckpt`. A file is written under a temporary name, fsynced, renamed and its directory
// fsynced, so a crash leaves either the whole new checkpoint or none of it; loading skips a corrupt file (with a
// warning) and falls back to the one before. Savepoints are requested from other processes by dropping a file
// in `<dir>/requests/` (see `sluice savepoint`).
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../../errors.ts';
import { removeTempFilesSync, writeFileAtomic } from '../../files.ts';
import type { Logger } from '../../logger.ts';
import { type CheckpointData, decodeCheckpoint } from './format.ts';
import type { CheckpointStorage, StoredCheckpoint } from './storage.ts';

export type { StoredCheckpoint } from './storage.ts';

const CHECKPOINT_FILE = /^chk-(\d{20})\.ckpt$/;
const SAVEPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export class CheckpointStore implements CheckpointStorage {
  readonly dir: string;
  private readonly retain: number;
  private readonly logger: Logger;

  constructor(dir: string, retain: number, logger: Logger) {
    if (!Number.isInteger(retain) || retain < 1) {
      throw new SluiceError('INVALID_CONFIG', `checkpoints.retain must be an integer >= 1, got ${retain}`);
    }
    this.dir = dir;
    this.retain = retain;
    this.logger = logger;
    fs.mkdirSync(path.join(dir, 'savepoints'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'requests'), { recursive: true });
    removeTempFilesSync(dir);
    removeTempFilesSync(path.join(dir, 'savepoints'));
  }

  get location(): string {
    return this.dir;
  }

  async open(): Promise<void> {}

  async lastId(): Promise<number> {
    return this.ids()[0] ?? 0;
  }

  async loadLatest(): Promise<StoredCheckpoint | undefined> {
    return this.latest();
  }

  async loadSavepoint(name: string): Promise<StoredCheckpoint> {
    const file = this.savepointFile(name);
    if (!fs.existsSync(file)) {
      throw new SluiceError('SAVEPOINT_NOT_FOUND', `no savepoint "${name}" (${file})`, { file });
    }
    return { data: readCheckpointFile(file), file };
  }

  checkSavepointName(name: string): void {
    this.savepointFile(name);
  }

  /** Ids of the checkpoints on disk, newest first. */
  ids(): number[] {
    return fs
      .readdirSync(this.dir)
      .map((name) => CHECKPOINT_FILE.exec(name)?.[1])
      .filter((id): id is string => id !== undefined)
      .map(Number)
      .sort((a, b) => b - a);
  }

  checkpointFile(id: number): string {
    return path.join(this.dir, `chk-${String(id).padStart(20, '0')}.ckpt`);
  }

  savepointFile(name: string): string {
    if (!SAVEPOINT_NAME.test(name)) {
      throw new SluiceError(
        'INVALID_NAME',
        `savepoint name "${name}" must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      );
    }
    return path.join(this.dir, 'savepoints', `${name}.ckpt`);
  }

  /** The newest checkpoint that reads back whole and checksums right; older ones stand in for corrupt ones. */
  latest(): StoredCheckpoint | undefined {
    for (const id of this.ids()) {
      const file = this.checkpointFile(id);
      try {
        return { data: readCheckpointFile(file), file };
      } catch (error) {
        this.logger.warn({ file, err: error }, 'skipping an unreadable checkpoint; trying the one before');
      }
    }
    return undefined;
  }

  /** Writes a checkpoint atomically, then removes checkpoints beyond the newest `retain`. */
  async writeCheckpoint(id: number, bytes: Buffer): Promise<string> {
    const file = this.checkpointFile(id);
    await writeFileAtomic(file, bytes);
    for (const old of this.ids().slice(this.retain)) await fs.promises.rm(this.checkpointFile(old), { force: true });
    return file;
  }

  async writeSavepoint(name: string, bytes: Buffer): Promise<string> {
    const file = this.savepointFile(name);
    await writeFileAtomic(file, bytes);
    return file;
  }

  /** Savepoint names other processes asked for (and forgets the requests). */
  takeRequests(): string[] {
    const dir = path.join(this.dir, 'requests');
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return [];
    }
    const wanted: string[] = [];
    for (const name of names) {
      if (name.startsWith('.')) continue;
      fs.rmSync(path.join(dir, name), { force: true });
      if (SAVEPOINT_NAME.test(name)) wanted.push(name);
      else this.logger.warn({ name }, 'ignoring a savepoint request with an invalid name');
    }
    return wanted;
  }
}

export function readCheckpointFile(file: string): CheckpointData {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new SluiceError('CHECKPOINT_NOT_FOUND', `cannot read ${file}: ${(error as Error).message}`, { file });
  }
  return decodeCheckpoint(bytes, file);
}

/** Asks the pipeline whose checkpoints are in `dir` for a savepoint; resolves with its file once written. */
export async function requestSavepoint(dir: string, name: string, timeoutMs = 60_000): Promise<string> {
  const requests = path.join(dir, 'requests');
  if (!fs.existsSync(requests)) {
    throw new SluiceError('UNKNOWN_PIPELINE', `no pipeline keeps its checkpoints in ${dir}`, { dir });
  }
  const file = path.join(dir, 'savepoints', `${name}.ckpt`);
  if (fs.existsSync(file)) throw new SluiceError('SAVEPOINT_EXISTS', `savepoint ${file} already exists`, { file });
  if (!SAVEPOINT_NAME.test(name)) throw new SluiceError('INVALID_NAME', `invalid savepoint name "${name}"`);
  fs.writeFileSync(path.join(requests, name), '');
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) {
      fs.rmSync(path.join(requests, name), { force: true });
      throw new SluiceError('TIMEOUT', `no savepoint after ${timeoutMs} ms: is the pipeline running?`, { dir });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return file;
}
