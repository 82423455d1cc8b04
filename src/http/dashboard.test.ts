// The server side of the dashboard, in process (app.request): its files with content types, caching, the SPA
// fallback and the page shown when it is not built; and the bearer token, which guards every API route but not
// the dashboard's files. The JSON endpoints: dashboard-api.test.ts; the live stream: dashboard-live.test.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { cleanup, tempDir } from '../../test/helpers/dashboard.ts';
import { openLog } from '../log/index.ts';
import { createApp } from './index.ts';

describe('dashboard files', () => {
  let dist: string;
  before(() => {
    dist = tempDir('sluice-dist-');
    fs.mkdirSync(path.join(dist, 'assets'));
    fs.writeFileSync(
      path.join(dist, 'index.html'),
      '<!doctype html><script type="module" src="/assets/app-1a2b3c.js"></script>',
    );
    fs.writeFileSync(path.join(dist, 'assets', 'app-1a2b3c.js'), 'console.log("hi")');
    fs.writeFileSync(path.join(dist, 'assets', 'app-1a2b3c.css'), 'body{}');
    fs.writeFileSync(path.join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    fs.writeFileSync(path.join(path.dirname(dist), `${path.basename(dist)}-secret.txt`), 'TOP-SECRET');
    cleanup.push(() => fs.rmSync(path.join(path.dirname(dist), `${path.basename(dist)}-secret.txt`), { force: true }));
  });

  async function app(options: { authToken?: string; dashboardDir?: string } = {}) {
    const log = await openLog({ dataDir: tempDir('sluice-dash-') });
    cleanup.push(() => log.close());
    return createApp({ log, dashboardDir: dist, ...options });
  }

  it('serves index.html at / and for client-side routes, revalidated, with a strict CSP', async () => {
    const a = await app();
    for (const route of ['/', '/topics', '/results/window_totals']) {
      const response = await a.request(route);
      assert.equal(response.status, 200, route);
      assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(response.headers.get('cache-control'), 'no-cache');
      assert.match(response.headers.get('content-security-policy')!, /script-src 'self'/);
      assert.match(await response.text(), /app-1a2b3c\.js/);
    }
    const etag = (await a.request('/')).headers.get('etag')!;
    const again = await a.request('/', { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    const head = await a.request('/', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  it('serves hashed assets with their type, cached for good; a missing one is 404, never the app', async () => {
    const a = await app();
    const js = await a.request('/assets/app-1a2b3c.js');
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(await js.text(), 'console.log("hi")');
    assert.equal((await a.request('/assets/app-1a2b3c.css')).headers.get('content-type'), 'text/css; charset=utf-8');
    const svg = await a.request('/favicon.svg');
    assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
    assert.equal(svg.headers.get('cache-control'), 'no-cache', 'only assets/ is content-hashed');
    assert.equal((await a.request('/assets/gone-123.js')).status, 404);
  });

  it('never serves a file outside its directory', async () => {
    const a = await app();
    const name = `${path.basename(dist)}-secret.txt`;
    for (const attempt of [`/../${name}`, `/%2e%2e/${name}`, `/assets/%2e%2e/%2e%2e/${name}`, '/%00', '/%E0%A4%A']) {
      const response = await a.request(attempt);
      const body = await response.text();
      assert.ok(!body.includes('TOP-SECRET'), `${attempt}: ${response.status} ${body}`);
      assert.ok(response.status === 400 || response.status === 404 || body.includes('app-1a2b3c'), attempt);
    }
  });

  it('says how to build the dashboard when it is not built; API routes stay JSON', async () => {
    const a = await app({ dashboardDir: tempDir('sluice-empty-') });
    const response = await a.request('/');
    assert.equal(response.status, 503);
    assert.match(await response.text(), /has not been built.*npm run build:web/s);
    const api = await a.request('/v1/nope');
    assert.equal(api.status, 404);
    assert.equal(((await api.json()) as { error: { code: string } }).error.code, 'UNKNOWN_ROUTE');
    // `/v1` itself is the API's index, never the dashboard.
    assert.deepEqual(await (await a.request('/v1')).json(), { mounts: [], streamingQueries: false });
  });

  it('loads without the token; every API route, the stream included, needs it', async () => {
    const a = await app({ authToken: 's3cret' });
    assert.equal((await a.request('/')).status, 200);
    assert.equal((await a.request('/assets/app-1a2b3c.js')).status, 200);
    for (const route of ['/v1/topics', '/v1/pipelines', '/v1/checkpoints', '/v1/stream?channels=topics', '/health']) {
      assert.equal((await a.request(route)).status, 401, route);
    }
    assert.equal((await a.request('/v1/sql', { method: 'POST', body: '{}' })).status, 401);
    assert.equal((await a.request('/', { method: 'POST' })).status, 401, 'only reads of files are public');
    const ok = await a.request('/v1/topics', { headers: { Authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
  });
});
