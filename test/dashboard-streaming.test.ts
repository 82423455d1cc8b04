// The SQL editor's "Start streaming query" mode, in real headless Chromium against a real server with a log to run
// queries on: a script with a mistake shows the SQL error's code and line:column; the corrected script starts a
// pipeline (listed, and in /v1/pipelines), whose view's table shows live — rows appear as records are ingested while
// the page is open, without a reload — and Stop ends it. After a restart of the server, the query it resumed is
// listed running with its table live (every record once), a damaged one failed with why, until Stop. A server
// without streaming queries shows no such mode.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { type RunningServer, startServer } from '../src/http/index.ts';
import { type Log, openLog } from '../src/log/index.ts';
import { ServingStore } from '../src/serve/index.ts';
import { launchBrowser, SKIP_WITHOUT_CHROMIUM } from './helpers/browser.ts';

const ARTIFACTS = path.resolve(import.meta.dirname, '..', 'test-artifacts');

const SCRIPT = `CREATE TABLE clicks (page VARCHAR, ts BIGINT, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('topic' = 'clicks');
CREATE MATERIALIZED VIEW clicks_per_page AS
SELECT page, count(*) AS clicks FROM clicks GROUP BY page;`;

/** Waits for `probe` to hold, polling (a page updates on its own schedule). */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('dashboard: streaming queries from the SQL editor', { skip: SKIP_WITHOUT_CHROMIUM }, () => {
  let dir: string;
  let browser: Browser;
  let log: Log;
  let store: ServingStore;
  let server: RunningServer;
  let plain: RunningServer;

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dashboard-streaming-'));
    browser = await launchBrowser();
    log = await openLog({ dataDir: dir });
    await log.createTopic('clicks', { partitions: 1 });
    store = await ServingStore.open({ dir: path.join(dir, 'serve') });
    server = await startServer({
      log,
      store,
      port: 0,
      streaming: { log, dataDir: dir, checkpointIntervalMs: 500 },
      liveIntervalMs: 200,
    });
    plain = await startServer({ log, store, port: 0 });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await plain?.close();
    await store?.close();
    await log?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function open(url: string): Promise<{ page: Page; logged: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const logged: string[] = [];
    page.on('pageerror', (error) => logged.push(`exception: ${error.message}`));
    // The refused script answers 400: that one is expected.
    page.on('response', (response) => {
      if (response.status() >= 400 && response.status() !== 400) logged.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(url);
    return { page, logged };
  }

  const ingest = async (records: object[]) => {
    const response = await fetch(`${server.url}/v1/topics/clicks/records`, {
      method: 'POST',
      body: records.map((r) => JSON.stringify(r)).join('\n'),
    });
    assert.equal(response.status, 200, await response.text());
  };

  it('starts a script, shows its SQL error first, then its view live, and stops it', async () => {
    const { page, logged } = await open(`${server.url}/results`);
    const panel = page.getByTestId('sql-panel');
    await panel.getByTestId('sql-mode-streaming').click();
    const editor = panel.getByTestId('streaming-editor');

    // A mistake: the error names its code and where it is.
    await editor.fill(SCRIPT.replace('count(*) AS clicks', 'count(*) AS clicks, nope'));
    await panel.getByTestId('streaming-start').click();
    const error = panel.getByTestId('streaming-error');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /^INVALID_SQL: .*"nope".*\(at line 4, column \d+\)/);

    // The script as it should be: a running query, its table shown (empty until records come).
    await ingest([{ page: 'home', ts: 1000 }]);
    await editor.fill(SCRIPT);
    await panel.getByTestId('streaming-start').click();
    const queries = panel.getByTestId('streaming-queries');
    await until('the query listed as running', async () =>
      /clicks_per_page\s*running/.test((await queries.textContent()) ?? ''),
    );
    assert.equal(await error.count(), 0, 'the error is gone');
    const pipelines = (await (await fetch(`${server.url}/v1/pipelines`)).json()) as { pipelines: { name: string }[] };
    assert.deepEqual(
      pipelines.pipelines.map((p) => p.name),
      ['clicks_per_page'],
    );

    // Live: records ingested while the page is open show in the table without a reload.
    const rows = panel.getByTestId('streaming-rows');
    const shown = async () =>
      (await rows.locator('tbody tr').allTextContents()).map((r) => r.replace(/\s+/g, ' ').trim()).sort();
    await until('the first record in the live table', async () => (await shown()).join('|') === 'home1');
    await ingest([
      { page: 'home', ts: 2000 },
      { page: 'cart', ts: 2100 },
      { page: 'home', ts: 2200 },
    ]);
    await until('the new records in the live table', async () => (await shown()).join('|') === 'cart1|home3');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-streaming-query.png'), fullPage: true });

    // Stop: the query leaves the list and /v1/pipelines; its table stays queryable.
    await panel.getByTestId('streaming-stop-clicks_per_page').click();
    await until('the query gone', async () => (await panel.getByTestId('streaming-queries').count()) === 0);
    const after = (await (await fetch(`${server.url}/v1/pipelines`)).json()) as { pipelines: unknown[] };
    assert.deepEqual(after.pipelines, []);
    assert.deepEqual(logged, []);
  });

  it('lists the queries a restarted server resumed, live, and a damaged one as failed until Stop', async () => {
    const kept = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dashboard-streaming-kept-'));
    const openServer = async () => {
      const log = await openLog({ dataDir: kept });
      const store = await ServingStore.open({ dir: path.join(kept, 'serve') });
      const server = await startServer({
        log,
        store,
        port: 0,
        streaming: { log, dataDir: kept, checkpointIntervalMs: 500 },
        liveIntervalMs: 200,
      });
      return {
        url: server.url,
        close: async () => {
          await server.close();
          await store.close();
          await log.close();
        },
      };
    };
    let first: Awaited<ReturnType<typeof openServer>> | undefined;
    let second: Awaited<ReturnType<typeof openServer>> | undefined;
    try {
      first = await openServer();
      for (const body of [
        { sql: SCRIPT },
        { sql: SCRIPT.replaceAll('clicks_per_page', 'other_view'), name: 'other' },
      ]) {
        const response = await fetch(`${first.url}/v1/streaming-queries`, {
          method: 'POST',
          body: JSON.stringify(body),
        });
        assert.equal(response.status, 201, await response.text());
      }
      const post = async (url: string, records: object[]) => {
        const response = await fetch(`${url}/v1/topics/clicks/records`, {
          method: 'POST',
          body: records.map((r) => JSON.stringify(r)).join('\n'),
        });
        assert.equal(response.status, 200, await response.text());
      };
      await post(first.url, [
        { page: 'home', ts: 1000 },
        { page: 'cart', ts: 1100 },
      ]);
      await first.close();
      first = undefined;
      // The definition of `other` is torn while no server runs.
      const file = path.join(kept, 'streaming-queries', 'other.json');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').slice(0, 30));

      second = await openServer();
      const { page, logged } = await open(`${second.url}/results`);
      const panel = page.getByTestId('sql-panel');
      await panel.getByTestId('sql-mode-streaming').click();
      const queries = panel.getByTestId('streaming-queries');
      await until('the resumed query running, the damaged one failed with why', async () => {
        const text = (await queries.textContent()) ?? '';
        return /clicks_per_page\s*running/.test(text) && /other\s*failed: .*other\.json is not valid JSON/.test(text);
      });
      // Its table, live: the records from before the restart and after it, each counted once.
      await panel.getByRole('button', { name: 'table clicks_per_page' }).click();
      await post(second.url, [{ page: 'home', ts: 2000 }]);
      const rows = panel.getByTestId('streaming-rows');
      const shown = async () =>
        (await rows.locator('tbody tr').allTextContents()).map((r) => r.replace(/\s+/g, ' ').trim()).sort();
      await until(
        'the totals of all records in the live table',
        async () => (await shown()).join('|') === 'cart1|home2',
      );
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-streaming-resumed.png'), fullPage: true });

      // Stop forgets the failed one for good.
      await panel.getByTestId('streaming-stop-other').click();
      await until('the failed query gone', async () => !/other/.test((await queries.textContent()) ?? ''));
      assert.ok(!fs.existsSync(file), 'its definition is removed');
      assert.deepEqual(logged, []);
    } finally {
      await first?.close();
      await second?.close();
      fs.rmSync(kept, { recursive: true, force: true });
    }
  });

  it('a server that runs no streaming queries shows only the read-only editor', async () => {
    const { page, logged } = await open(`${plain.url}/results`);
    const panel = page.getByTestId('sql-panel');
    await panel.getByTestId('sql-editor').waitFor();
    assert.equal(await panel.getByTestId('sql-mode-streaming').count(), 0);
    assert.deepEqual(logged, []);
  });
});
