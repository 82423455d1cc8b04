// `npm start` = `sluice dev`: the demo runs end to end (generator → log → windowed pipeline → results topic and
// serving table, with late events counted), its results are queryable over HTTP and with `sluice query`, and it
// stops cleanly on Ctrl-C. An event stamped with the demo clock (GET /v1/demo/now, as the README shows) is on time.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { sluice, startSluice } from '../support/processes.ts';

it('sluice dev runs the demo pipeline end to end and stops on SIGINT', { timeout: 240_000 }, async () => {
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

    // The README's produce example: an event stamped with the demo clock (which runs ahead of the wall clock) is
    // on time, and its window comes out; one stamped with the wall clock would be late.
    const demoNow = Number(await (await fetch(`${url}/v1/demo/now`)).text());
    assert.ok(demoNow > Date.now() + 10_000, `demo time ${demoNow} runs ahead of the clock ${Date.now()}`);
    const broker = (await dev.waitFor(/Kafka protocol\s+(127\.0\.0\.1:\d+)/))[1]!;
    const produce = await sluice(
      ['produce', 'events', '--key-field', 'key', '--bootstrap', broker],
      `${JSON.stringify({ key: 'readme-lab', ts: demoNow, value: 21 })}\n`,
    );
    assert.equal(produce.code, 0, produce.stderr.toString());
    for (let found = false; !found; await new Promise((resolve) => setTimeout(resolve, 200))) {
      const result = await sluice([
        'query',
        "SELECT cnt::INTEGER AS cnt, total FROM window_totals WHERE key = 'readme-lab'",
        '--url',
        url,
        '--json',
      ]);
      found = JSON.parse(result.stdout.toString()).length > 0;
      if (found) assert.deepEqual(JSON.parse(result.stdout.toString()), [{ cnt: 1, total: 21 }]);
    }
    assert.equal(await dev.stop('SIGINT'), 0);
    assert.match(dev.output(), /sluice dev: stopped/);
  } finally {
    await dev.stop('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
