// An embedded log in a fresh temporary directory for a test file, closed and removed after the file's tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { type Log, openLog } from '../../src/log/index.ts';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups) await cleanup();
});

export async function tempLog(prefix = 'sluice-log-'): Promise<Log> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const log = await openLog({ dataDir: dir });
  cleanups.push(async () => {
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return log;
}
