// Small durable-file helpers shared by the log and the checkpoint store: atomic replace (write temp, fsync, rename,
// fsync directory), directory fsync, temp-file cleanup, and the data-directory lock.
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from './errors.ts';

/** fsyncs a directory so that entries created, renamed or removed in it survive a crash. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `file` with `data` atomically: after a crash the old or the new content is there, never a mix. */
export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDirSync(path.dirname(file));
}

/** The asynchronous form of `writeFileAtomicSync`, so that group-offset commits do not block the event loop. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const handle = await fs.promises.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(tmp, file);
  const dir = await fs.promises.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Removes leftovers of interrupted atomic writes in `dir`. */
export function removeTempFilesSync(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (name.includes('.tmp-')) fs.rmSync(path.join(dir, name), { force: true });
  }
}

const heldLocks = new Set<string>();

/**
 * Takes the data directory's lock file so that two processes never append to the same partitions (which would
 * interleave writes and corrupt the segments). A lock left by a process that died is taken over. Returns the
 * release function.
 */
export function acquireDirLockSync(dir: string): () => void {
  const file = path.join(dir, 'LOCK');
  if (heldLocks.has(file) && fs.existsSync(file)) {
    throw new SluiceError('DATA_DIR_LOCKED', `data directory ${dir} is already open in this process`, { dir });
  }
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const owner = Number(fs.readFileSync(file, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new SluiceError(
          'DATA_DIR_LOCKED',
          `data directory ${dir} is in use by process ${owner}; stop it or choose another --data-dir`,
          { dir, pid: owner },
        );
      }
      fs.rmSync(file, { force: true }); // stale: its owner died without releasing it
    }
  }
  heldLocks.add(file);
  return () => {
    heldLocks.delete(file);
    fs.rmSync(file, { force: true });
  };
}

/** True while process `pid` exists on this host (EPERM: it does, owned by another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
