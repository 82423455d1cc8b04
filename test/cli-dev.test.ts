// `npm start` = `sluice dev`: the demo runs end to end (generator → log → windowed pipeline → results topic and
// serving table, with late events counted), its results are queryable over HTTP and with `sluice query`, and it
// stops cleanly on Ctrl-C. An event stamped with the demo clock (GET /v1/demo/now, as the README shows) is on time.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { sluice, startSluice } from '../support/processes.ts';

it('sluice dev runs the demo pipeline end to end and stops on SIGINT', async () => {
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
    // on time, and its window comes out; one stamped with the wall clock would be late. Demo time runs 10x, so the
    // event is posted over HTTP at once (a process spawned under load can take seconds: tens of demo seconds).
    const demoNow = Number(await (await fetch(`${url}/v1/demo/now`)).text());
    assert.ok(demoNow > Date.now() + 10_000, `demo time ${demoNow} runs ahead of the clock ${Date.now()}`);
    const posted = await fetch(`${url}/v1/topics/events/records?key=key`, {
      method: 'POST',
      body: `${JSON.stringify({ key: 'readme-lab', ts: demoNow, value: 21 })}\n`,
    });
    assert.equal(posted.status, 200, await posted.clone().text());
    const lateCopies = async () => {
      let n = 0;
      for (const partition of [0, 1, 2]) {
        const answer = await fetch(`${url}/v1/topics/events-late/partitions/${partition}/records?key=readme-lab`);
        if (answer.ok) n += ((await answer.json()) as { records: unknown[] }).records.length;
      }
      return n;
    };
    for (;;) {
      const rows = await sql(url, "SELECT cnt::INTEGER AS cnt, total FROM window_totals WHERE key = 'readme-lab'");
      if (rows.length > 0) {
        assert.deepEqual(rows, [[1, 21]]);
        break;
      }
      assert.equal(await lateCopies(), 0, 'an event stamped with the demo clock went to events-late');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(await dev.stop('SIGINT'), 0);
    assert.match(dev.output(), /sluice dev: stopped/);
  } finally {
    await dev.stop('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

async function sql(url: string, query: string): Promise<unknown[][]> {
  const response = await fetch(`${url}/v1/sql`, { method: 'POST', body: JSON.stringify({ sql: query }) });
  const body = (await response.json()) as { rows: unknown[][]; error?: { message: string } };
  if (!response.ok) throw new Error(body.error?.message);
  return body.rows;
}
