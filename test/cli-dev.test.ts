// `npm start` = `sluice dev`: the demo runs end to end (generator → log → windowed pipeline → results topic and
// serving table, with late events counted), its results are queryable over HTTP and with `sluice query`, and it
// stops cleanly on Ctrl-C.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { sluice, startSluice } from '../support/processes.ts';

it('sluice dev runs the demo pipeline end to end and stops on SIGINT', { timeout: 60_000 }, async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dev-'));
  const dev = startSluice([
    'dev',
    '--data-dir',
    dataDir,
    '--kafka-port',
    '0',
    '--http-port',
    '0',
    '--report-every',
    '1',
  ]);
  try {
    await dev.waitFor(/Kafka protocol\s+127\.0\.0\.1:\d+/);
    const url = (await dev.waitFor(/HTTP API\s+(http:\/\/\S+)/))[1]!;
    // Demo time runs 10x: the first one-minute windows close after about 6.5 s.
    await dev.waitFor(/windowed-counts \d+→[1-9]\d*/, 40_000);
    await dev.waitFor(/clickstream \d+→[1-9]\d*.*sensor-averages \d+→[1-9]\d*/, 40_000);
    const health = await fetch(`${url}/health`);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const tables = (await (await fetch(`${url}/v1/tables`)).json()) as { tables: { name: string; rows: number }[] };
    for (const name of ['window_totals', 'ad_ctr', 'user_sessions', 'sensor_averages']) {
      assert.ok(
        tables.tables.some((t) => t.name === name),
        `${name} in ${JSON.stringify(tables)}`,
      );
    }
    const query = await sluice(['query', 'SELECT key, cnt FROM window_totals ORDER BY key', '--url', url, '--json']);
    assert.equal(query.code, 0, query.stderr);
    const rows = JSON.parse(query.stdout.toString()) as { key: string; cnt: number }[];
    assert.ok(
      rows.length > 0 && rows.every((r) => typeof r.key === 'string' && Number(r.cnt) > 0),
      query.stdout.toString(),
    );
    const table = await sluice(['query', 'SELECT count(*) AS n FROM window_totals', '--url', url]);
    assert.match(table.stdout.toString(), /n\s*\n.*\d+/s);
    assert.equal(await dev.stop('SIGINT'), 0);
    assert.match(dev.output(), /sluice dev: stopped/);
  } finally {
    await dev.stop('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
