// `npm start` = `sluice dev`: the demo runs end to end (generator → log → windowed pipeline → results topic,
// with late events counted) and stops cleanly on Ctrl-C.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { startSluice } from './helpers/processes.ts';

it('sluice dev runs the demo pipeline end to end and stops on SIGINT', { timeout: 60_000 }, async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dev-'));
  const dev = startSluice(['dev', '--data-dir', dataDir, '--kafka-port', '0', '--report-every', '1']);
  try {
    await dev.waitFor(/Kafka protocol\s+127\.0\.0\.1:\d+/);
    // Demo time runs 10x: the first one-minute windows close after about 6.5 s.
    await dev.waitFor(/window rows [1-9]\d*/, 40_000);
    assert.equal(await dev.stop('SIGINT'), 0);
    assert.match(dev.output(), /sluice dev: stopped/);
  } finally {
    await dev.stop('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
