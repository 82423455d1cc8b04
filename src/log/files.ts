// Small durable-file helpers: atomic replace (write temp, fsync, rename, fsync directory) and directory fsync.
import fs from 'node:fs';
import path from 'node:path';

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
