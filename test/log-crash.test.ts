// Kills a process that appends with fsync per batch at random instants, 20+ times, and proves that every
// acknowledged record survives with its exact content and that the log keeps accepting appends.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { openLog } from '../src/log/index.ts';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-crash-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

const KILLS = 24;

function runAndKill(killAfterMs: number): Promise<{ acked: number; started: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(import.meta.dirname, 'fixtures', 'log-appender.ts'), dataDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let acked = -1;
    let started = false;
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [kind, , last] = line.split(' ');
        if (kind === 'start' && !started) {
          started = true;
          setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        }
        if (kind === 'ack') acked = Math.max(acked, Number(last));
      }
    });
    child.on('error', reject);
    child.on('exit', () => resolve({ acked, started }));
  });
}

// Budgeted by progress (KILLS rounds, each a process started, killed and checked), not by time: each round costs a
// process start, seconds on a loaded machine (npm test's timeout only stops a hang).
it(`loses no acknowledged record across ${KILLS} SIGKILLs`, async () => {
  let highestAcked = -1;
  for (let round = 0; round < KILLS; round++) {
    const { acked, started } = await runAndKill(Math.floor(Math.random() * 120));
    assert.ok(started, `round ${round}: the appender did not start`);
    highestAcked = Math.max(highestAcked, acked);
    const log = await openLog({ dataDir });
    const end = log.describeTopic('crash').partitions[0]!.logEndOffset;
    assert.ok(end > highestAcked, `round ${round}: log end ${end} but offset ${highestAcked} was acknowledged`);
    // Every acknowledged record is there, in order, with its exact content.
    let offset = 0;
    while (offset <= highestAcked) {
      const page = log.readRecords('crash', 0, offset, { maxBytes: 256 * 1024 });
      assert.ok(page.records.length > 0, `round ${round}: no record at offset ${offset}`);
      for (const record of page.records) {
        assert.equal(record.offset, offset);
        assert.equal(record.key?.toString(), String(offset));
        assert.equal(record.value?.toString(), `record-${offset}-`.padEnd(100, 'x'));
        offset++;
      }
    }
    await log.close();
  }
  assert.ok(highestAcked > 0, 'some records were acknowledged');
  const log = await openLog({ dataDir });
  const end = log.describeTopic('crash').partitions[0]!.logEndOffset;
  const r = await log.append('crash', 0, [{ key: null, value: Buffer.from('after all the crashes') }]);
  assert.equal(r.baseOffset, end);
  assert.equal(log.readRecords('crash', 0, end).records[0]!.value?.toString(), 'after all the crashes');
  await log.close();
});
