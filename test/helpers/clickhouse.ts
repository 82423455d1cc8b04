// A throwaway clickhouse-server (Debian's 18.16 or newer) in a temp directory, for the tests that drive the
// ClickHouse sink; when none is installed or it does not start, the reason to skip instead.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type ClickHouseClient, createClient } from '@clickhouse/client';

export interface TestClickHouse {
  url: string;
  client: ClickHouseClient;
  /** Runs a query and returns its rows (64-bit integers come as strings). */
  rows(query: string): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

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

/** Starts a server; resolves with it, or with the reason it could not (the caller skips, saying so). */
export async function startClickHouse(): Promise<TestClickHouse | { skip: string }> {
  const command = findClickHouse();
  if (!command) return { skip: 'no ClickHouse binary (apt-get install clickhouse-server) — skipping' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ch-'));
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
  const child: ChildProcess = spawn(
    command[0]!,
    [...command.slice(1), `--config-file=${path.join(dir, 'config.xml')}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (c: Buffer) => (output += c));
  child.stderr!.on('data', (c: Buffer) => (output += c));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const remove = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${httpPort}`;
  // Until it answers or exits: the bound only catches a server that hangs (on a loaded machine it starts in tens of
  // seconds, and a test skipped for that would pass having checked nothing).
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      await remove();
      return { skip: `clickhouse-server exited (${child.exitCode}): ${output.slice(-300)}` };
    }
    const ok = await fetch(`${url}/ping`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) {
      const client = createClient({ url });
      return {
        url,
        client,
        rows: async (query) =>
          (await (await client.query({ query, format: 'JSONEachRow' })).json()) as Record<string, unknown>[],
        async stop() {
          await client.close();
          await remove();
        },
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await remove();
  return { skip: `clickhouse-server did not answer within 120 s: ${output.slice(-300)}` };
}
