// The ClickHouse sink against a real server (Debian's clickhouse-server 18.16 or newer), started for the test in
// a temp directory; skipped, saying why, when no ClickHouse binary is installed or it does not start.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createClient } from '@clickhouse/client';
import { clickhouseSink } from '../src/serve/index.ts';

function findClickHouse(): string[] | undefined {
  for (const candidate of ['clickhouse-server', '/usr/sbin/clickhouse-server', '/usr/bin/clickhouse-server']) {
    if (spawnSync('sh', ['-c', `command -v ${candidate}`]).status === 0) return [candidate];
  }
  if (spawnSync('sh', ['-c', 'command -v clickhouse']).status === 0) return ['clickhouse', 'server'];
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

let child: ChildProcess | undefined;
let dir: string | undefined;
after(() => {
  child?.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Starts a throwaway server; resolves with its URL, or with the reason it could not. */
async function startClickHouse(): Promise<{ url: string } | { skip: string }> {
  const command = findClickHouse();
  if (!command) return { skip: 'no ClickHouse binary (apt-get install clickhouse-server) — skipping' };
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ch-'));
  const [httpPort, tcpPort] = [await freePort(), await freePort()];
  fs.writeFileSync(
    path.join(dir, 'config.xml'),
    `<yandex><logger><level>warning</level><console>1</console></logger>
<http_port>${httpPort}</http_port><tcp_port>${tcpPort}</tcp_port><listen_host>127.0.0.1</listen_host>
<path>${dir}/data/</path><tmp_path>${dir}/tmp/</tmp_path><user_files_path>${dir}/files/</user_files_path>
<format_schema_path>${dir}/schemas/</format_schema_path><mark_cache_size>5368709</mark_cache_size>
<users_config>users.xml</users_config><default_profile>default</default_profile>
<default_database>default</default_database><timezone>UTC</timezone></yandex>`,
  );
  fs.writeFileSync(
    path.join(dir, 'users.xml'),
    `<yandex><profiles><default/></profiles><quotas><default/></quotas><users><default><password></password>
<networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users></yandex>`,
  );
  let output = '';
  child = spawn(command[0]!, [...command.slice(1), `--config-file=${path.join(dir, 'config.xml')}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => (output += c));
  child.stderr!.on('data', (c: Buffer) => (output += c));
  const url = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return { skip: `clickhouse-server exited (${child.exitCode}): ${output.slice(-300)}` };
    const ok = await fetch(`${url}/ping`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { skip: `clickhouse-server did not answer within 20 s: ${output.slice(-300)}` };
}

describe('ClickHouse sink', () => {
  it('batches appends and upserts by key (a late update and a replay replace, a delete retracts)', async (t) => {
    const server = await startClickHouse();
    if ('skip' in server) {
      t.skip(server.skip);
      return;
    }
    const client = createClient({ url: server.url });
    const rows = async (query: string) =>
      (await (await client.query({ query, format: 'JSONEachRow' })).json()) as Record<string, unknown>[];
    try {
      const events = clickhouseSink({
        url: server.url,
        table: 'events',
        columns: [
          { name: 'ts', type: 'TIMESTAMP_MS' },
          { name: 'key', type: 'VARCHAR' },
          { name: 'value', type: 'DOUBLE' },
        ],
        partitionBy: 'toYYYYMMDD(ts)',
        flushMs: 60_000,
      });
      await events.open!();
      for (let i = 0; i < 2500; i += 500) {
        const values = Array.from({ length: 500 }, (_, j) => ({
          ts: 1_700_000_000_000 + (i + j) * 1000,
          key: `k${j % 5}`,
          value: 1,
        }));
        await events.write({ values, timestamps: [] });
      }
      assert.equal(events.inserts, 2, 'an insert per 1,000 rows');
      await events.close!();
      assert.equal(events.inserts, 3);
      assert.deepEqual(await rows('SELECT count() AS n, sum(value) AS s FROM events'), [{ n: '2500', s: 2500 }]);

      const totals = clickhouseSink({
        url: server.url,
        table: 'window_totals',
        columns: [
          { name: 'window_start', type: 'TIMESTAMP_MS' },
          { name: 'key', type: 'VARCHAR' },
          { name: 'cnt', type: 'BIGINT' },
        ],
        key: ['window_start', 'key'],
      });
      await totals.open!();
      const batch = [
        { window_start: 60_000, key: 'a', cnt: 1, kind: 'insert' },
        { window_start: 60_000, key: 'b', cnt: 1, kind: 'insert' },
        { window_start: 120_000, key: 'c', cnt: 4, kind: 'insert' },
      ];
      await totals.write({ values: batch, timestamps: [] });
      await totals.prepareCheckpoint!(1);
      const later = [
        { window_start: 60_000, key: 'a', cnt: 2, kind: 'update' },
        { window_start: 120_000, key: 'c', cnt: 4, kind: 'delete' },
      ];
      await totals.write({ values: later, timestamps: [] });
      await totals.flush();
      // A crash and a replay from the checkpoint write the later rows again: still one row per key.
      await totals.write({ values: later, timestamps: [] });
      await totals.close!();
      const latest = await rows(
        'SELECT toUnixTimestamp(window_start) AS w, key, cnt FROM window_totals_latest ORDER BY key',
      );
      assert.deepEqual(latest, [
        { w: 60, key: 'a', cnt: '2' },
        { w: 60, key: 'b', cnt: '1' },
      ]);
      const argMax = await rows(
        "SELECT key, argMax(cnt, _version) AS cnt FROM window_totals WHERE key = 'a' GROUP BY key",
      );
      assert.deepEqual(argMax, [{ key: 'a', cnt: '2' }]);
    } finally {
      await client.close();
    }
  });
});
