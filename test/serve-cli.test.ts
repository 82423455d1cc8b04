// `sluice serve` and `sluice query` as a user runs them: a server on a data directory (free port, a token), a
// table printed in the terminal and as JSON, refusals with their exit codes, and the non-loopback rule.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { type Daemon, sluice, startSluice } from '../support/processes.ts';

const dirs: string[] = [];
const daemons: Daemon[] = [];
after(async () => {
  for (const daemon of daemons) await daemon.stop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-serve-cli-'));
  dirs.push(dir);
  return dir;
}

describe('sluice serve and sluice query', () => {
  it('serve a data directory; query prints a table or JSON; refusals exit with their codes', async () => {
    const dir = tempDir();
    const server = startSluice(['serve', '--data-dir', dir, '--port', '0'], { SLUICE_AUTH_TOKEN: 'tok' });
    daemons.push(server);
    const [, url] = await server.waitFor(/HTTP on (http:\/\/\S+)/);
    const auth = ['--url', url!, '--auth-token', 'tok'];

    const table = await sluice([
      'query',
      "SELECT 42 AS answer, 'forty-two' AS words UNION ALL SELECT 7, 'seven' ORDER BY 1",
      ...auth,
    ]);
    assert.equal(table.code, 0, table.stderr);
    assert.equal(
      table.stdout.toString(),
      ['answer  words', '------  ---------', '     7  seven', '    42  forty-two', ''].join('\n'),
    );
    assert.match(table.stderr, /2 rows in/);

    const json = await sluice(['query', 'SELECT 1 AS n', ...auth, '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout.toString()), [{ n: 1 }]);

    const refused = await sluice(['query', "COPY (SELECT 1) TO '/tmp/sluice-cli.csv'", ...auth]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /INVALID_SQL|READ_ONLY/);

    const noToken = await sluice(['query', 'SELECT 1', '--url', url!]);
    assert.notEqual(noToken.code, 0);
    assert.match(noToken.stderr, /UNAUTHORIZED/);

    const unreachable = await sluice(['query', 'SELECT 1', '--url', 'http://127.0.0.1:1']);
    assert.equal(unreachable.code, 4, unreachable.stderr);
  });

  it('refuses to serve on a non-loopback address without a token', async () => {
    const result = await sluice(
      ['serve', '--data-dir', tempDir(), '--host', '0.0.0.0', '--port', '0'],
      undefined,
      30_000,
    );
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /INSECURE_BIND/);
  });
});
