// The dashboard end to end, in real headless Chromium (Debian's `chromium`, driven by playwright-core) against a
// real `sluice dev`: the overview draws the running pipelines' dataflow graphs; a live chart's last point moves
// to a window holding events ingested over HTTP, pushed without a reload; a query typed into the SQL editor shows
// its rows (as a table and as a chart); topics and checkpoints show; a failing backend (HTTP 500) is an error
// banner, not a blank page, and the banner goes once the backend is back; a bearer token given as #token= works;
// an empty source partition shows as idle, with each partition's watermark.
// A screenshot of each page goes to test-artifacts/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { agg, collect, json, logSource, Pipeline, watermarks, windows } from '../src/engine/index.ts';
import { startServer } from '../src/http/index.ts';
import { openLog } from '../src/log/index.ts';
import { ServingStore } from '../src/serve/index.ts';
import { type Daemon, startSluice } from '../support/processes.ts';
import { eventually } from './helpers/broker.ts';
import { launchBrowser, SKIP_WITHOUT_CHROMIUM } from './helpers/browser.ts';

const ARTIFACTS = path.resolve(import.meta.dirname, '..', 'test-artifacts');

describe('dashboard', { skip: SKIP_WITHOUT_CHROMIUM }, () => {
  let dataDir: string;
  let dev: Daemon | undefined;
  let url: string;
  let browser: Browser;
  let context: BrowserContext;
  /** Errors the pages logged (failed requests, CSP violations, exceptions), by page. */
  const problems = new Map<Page, string[]>();

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dashboard-'));
    // Built once (and only when its sources changed) before the server that serves it starts.
    browser = await launchBrowser();
    dev = startSluice(['dev', '--data-dir', dataDir, '--http-port', '0', '--kafka-port', '0', '--report-every', '60']);
    url = (await dev.waitFor(/HTTP API\s+(http:\/\/\S+)/))[1]!;
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  });

  after(async () => {
    await browser?.close();
    await dev?.stop('SIGKILL');
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function open(pathname: string, viewport?: { width: number; height: number }): Promise<Page> {
    const page = await context.newPage();
    if (viewport) await page.setViewportSize(viewport);
    const logged: string[] = [];
    problems.set(page, logged);
    page.on('pageerror', (error) => logged.push(`exception: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') logged.push(`console: ${message.text()}`);
    });
    // Works offline: the page asks nothing of any other origin (no CDN, no web font).
    page.on('request', (request) => {
      if (!request.url().startsWith(`${url}/`) && !request.url().startsWith('data:')) {
        logged.push(`request to another origin: ${request.url()}`);
      }
    });
    await page.goto(`${url}${pathname}`);
    return page;
  }

  async function done(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
    assert.deepEqual(problems.get(page), [], `the ${name} page logged errors`);
    await page.close();
  }

  const api = async <T>(route: string, init?: RequestInit): Promise<T> => {
    const response = await fetch(`${url}${route}`, init);
    assert.ok(response.ok, `${route}: ${response.status} ${await response.clone().text()}`);
    return (await response.json()) as T;
  };

  it('the overview shows each running pipeline as a graph of sources, operators and sinks', async () => {
    const page = await open('/');
    const graph = page.getByTestId('topology').first();
    await graph.locator('[data-node^="source:"]').first().waitFor({ timeout: 20_000 });
    const nodes = await graph
      .locator('[data-node]')
      .evaluateAll((elements) =>
        elements.map((e) => ({ id: e.getAttribute('data-node')!, health: e.getAttribute('data-health')! })),
      );
    assert.ok(
      nodes.some((n) => n.id.startsWith('source:')),
      JSON.stringify(nodes),
    );
    assert.ok(
      nodes.some((n) => n.id.startsWith('sink:')),
      JSON.stringify(nodes),
    );
    assert.ok(nodes.length >= 3, 'sources, operators and sinks');
    assert.ok(
      nodes.every((n) => ['ok', 'busy', 'congested', 'idle', 'stopped', 'failed'].includes(n.health)),
      JSON.stringify(nodes),
    );
    assert.ok((await graph.locator('path.edge').count()) >= nodes.length - 1, 'edges join them');
    // Every pipeline the server runs has a card with its graph, and its operators' metrics in a table.
    const { pipelines } = await api<{ pipelines: { name: string; operators: unknown[] }[] }>('/v1/pipelines');
    await eventually(
      async () => (await page.getByTestId('pipeline-card').count()) === pipelines.length,
      'a card per pipeline',
    );
    for (const p of pipelines) {
      const card = page.locator(`[data-testid=pipeline-card][data-pipeline="${p.name}"]`);
      await card.getByTestId('topology').waitFor();
      assert.equal(await card.getByTestId('operators').locator('tbody tr').count(), p.operators.length);
    }
    // Records per second are live: the first source's rate shows in its box.
    const rate = graph.locator('[data-node^="source:"] .node-rate').first();
    await eventually(async () => /\d\/s/.test((await rate.textContent()) ?? ''), 'a source rate', 10_000, 100);
    await done(page, 'overview');
  });

  it("a live chart's last point changes after events are ingested over HTTP, without a reload", async () => {
    await eventually(
      async () =>
        (await api<{ tables: { name: string; rows: number }[] }>('/v1/tables')).tables.some(
          (t) => t.name === 'window_totals' && t.rows > 0,
        ),
      'the first windows in window_totals',
      40_000,
      200,
    );
    const page = await open('/results');
    // Pick the chart from the lists, as a user would.
    await page.getByTestId('chart-table').selectOption('window_totals');
    await page.getByTestId('chart-time').selectOption('window_start');
    await page.getByTestId('chart-measure').selectOption('sum');
    await page.getByTestId('chart-column').selectOption('total');
    await page.getByTestId('chart-group').selectOption('');
    const chart = page.getByTestId('live-chart');
    await eventually(async () => Number(await chart.getAttribute('data-points')) > 0, 'points', 20_000, 100);
    const firstX = Number(await chart.getAttribute('data-last-x'));
    const navigations: string[] = [];
    page.on('framenavigated', (frame) => navigations.push(frame.url()));

    // Events in the next window the pipeline has not closed yet (event time is past its watermark), with values no
    // demo sensor reaches: once the window closes, the chart's last point is that window, and it holds them.
    // (The pipeline that writes window_totals: the demo may run others, with their own event time.)
    const { pipelines } = await api<{ pipelines: { operators: { name: string; watermark: number | null }[] }[] }>(
      '/v1/pipelines',
    );
    const writer = pipelines.find((p) => p.operators.some((o) => o.name === 'sink:table:window_totals'));
    assert.ok(writer, `a pipeline writes window_totals: ${JSON.stringify(pipelines.map((p) => p.operators))}`);
    const watermark = Math.max(...writer.operators.map((o) => o.watermark ?? 0));
    assert.ok(watermark > 0, 'the pipeline has a watermark');
    // Far enough ahead that the pipeline cannot pass it before the events are in, even on a busy machine.
    const ts = watermark + 45_000;
    const windowStart = Math.floor(ts / 60_000) * 60_000;
    const events = Array.from({ length: 50 }, () => JSON.stringify({ key: 'dashboard-probe', ts, value: 10_000 }));
    const ingested = await api<{ count: number }>('/v1/topics/events/records?key=key', {
      method: 'POST',
      body: events.join('\n'),
    });
    assert.equal(ingested.count, 50);
    // Polled from here, as often as a user could look: the page itself is never reloaded.
    let last: { x: number; y: (number | null)[] } = { x: firstX, y: [] };
    await eventually(
      async () => {
        last = {
          x: Number(await chart.getAttribute('data-last-x')),
          y: JSON.parse((await chart.getAttribute('data-last-y')) ?? '[]'),
        };
        return last.x === windowStart && (last.y[0] ?? 0) >= 500_000;
      },
      `the chart's last point to be window ${windowStart} with the ingested events`,
      30_000,
      100,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; the last point was ${JSON.stringify(last)}`);
    });
    assert.ok(windowStart > firstX, `the last point moved on: ${firstX} → ${windowStart}`);
    assert.deepEqual(navigations, [], 'pushed into the page, not reloaded');
    await done(page, 'results-chart');
  });

  it('a query typed into the SQL editor shows its rows as a table and as a chart', async () => {
    const page = await open('/results');
    const editor = page.getByTestId('sql-editor');
    await editor.fill('');
    await editor.pressSequentially(
      "SELECT key, count(*) AS windows, sum(cnt) AS events FROM window_totals WHERE key <> 'dashboard-probe' GROUP BY key ORDER BY key",
    );
    await page.getByTestId('sql-run').click();
    const rows = page.getByTestId('sql-results').locator('tbody tr');
    await rows.first().waitFor();
    const expected = await api<{ rows: unknown[][] }>('/v1/sql', {
      method: 'POST',
      body: JSON.stringify({
        sql: "SELECT key FROM window_totals WHERE key <> 'dashboard-probe' GROUP BY key ORDER BY key",
      }),
    });
    assert.equal(await rows.count(), expected.rows.length);
    assert.deepEqual(
      await rows.locator('td:first-child').allTextContents(),
      expected.rows.map((r) => String(r[0])),
    );
    assert.deepEqual(await page.getByTestId('sql-results').locator('thead th').allTextContents(), [
      'key',
      'windows',
      'events',
    ]);
    assert.match((await page.getByTestId('sql-summary').textContent())!, new RegExp(`${expected.rows.length} rows?`));
    await page.getByRole('tab', { name: 'Chart' }).click();
    await page.getByTestId('sql-chart').locator('canvas').waitFor();

    // A refused query is explained where it was typed (a 400 is not a server failure: no banner).
    await page.getByRole('tab', { name: 'Table' }).click();
    await editor.fill('DROP TABLE window_totals');
    await editor.press('Control+Enter');
    await page.getByTestId('sql-error').waitFor();
    assert.match((await page.getByTestId('sql-error').textContent())!, /READ_ONLY/);
    assert.equal(await page.getByTestId('error-banner').count(), 0);
    problems.set(
      page,
      problems.get(page)!.filter((p) => !p.includes('400 (Bad Request)')),
    );
    await editor.fill('SELECT 42 AS answer');
    await page.getByTestId('sql-run').click();
    await page.getByTestId('sql-results').getByText('42').waitFor();
    await done(page, 'results-sql');
  });

  it('the topics page shows partitions, offsets and who reads each topic', async () => {
    const page = await open('/topics?topic=events');
    const topics = page.getByTestId('topics-table');
    await topics.getByText('events', { exact: true }).waitFor();
    const detail = page.getByTestId('topic-detail');
    await detail.getByTestId('partitions').locator('tbody tr').first().waitFor();
    assert.equal(await detail.getByTestId('partitions').locator('tbody tr').count(), 3, 'the demo topic has three');
    await detail.locator('[data-testid=reader][data-reader^="pipeline:"]').first().waitFor();
    const produce = page.getByTestId('produce-chart');
    await eventually(async () => Number(await produce.getAttribute('data-points')) > 1, 'rate samples', 10_000, 100);
    await done(page, 'topics');
  });

  it('the checkpoints page shows the checkpoint history', async () => {
    const page = await open('/checkpoints');
    const history = page.getByTestId('checkpoint-history').first();
    await history.getByText('completed').first().waitFor({ timeout: 20_000 });
    await done(page, 'checkpoints');
  });

  it('reads on a narrow screen', async () => {
    const page = await open('/', { width: 390, height: 844 });
    await page.getByTestId('topology').first().waitFor();
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
    await done(page, 'overview-narrow');
  });

  it('shows a failing backend (HTTP 500) as an error banner, not a blank page, until it is back', async () => {
    const page = await context.newPage();
    await page.route('**/v1/**', (route) =>
      route.fulfill({
        status: 500,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'INTERNAL', message: 'the serving store is on fire' } }),
      }),
    );
    await page.goto(`${url}/`);
    const banner = page.getByTestId('error-banner');
    await banner.first().waitFor({ timeout: 10_000 });
    assert.match((await banner.first().textContent())!, /500.*the serving store is on fire/s);
    assert.ok(await page.getByRole('navigation').isVisible(), 'the page itself still renders');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-error-banner.png'), fullPage: true });
    await page.unroute('**/v1/**');
    await page.getByTestId('topology').first().waitFor({ timeout: 20_000 });
    await eventually(async () => (await banner.count()) === 0, 'the banner to go', 20_000, 100);
    await page.close();
  });
});

describe('dashboard behind a bearer token', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let dir: string;
  let close: () => Promise<void>;
  let url: string;
  let browser: Browser;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dashboard-auth-'));
    browser = await launchBrowser();
    const log = await openLog({ dataDir: dir });
    await log.createTopic('readings', { partitions: 2 });
    const store = await ServingStore.open({ dir: ':memory:' });
    const server = await startServer({ log, store, port: 0, authToken: 'open-sesame' });
    url = server.url;
    close = async () => {
      await server.close();
      await store.close();
      await log.close();
    };
  });

  after(async () => {
    await browser?.close();
    await close?.();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('asks for the token, and works with #token= (sent as a header, also on the live stream)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/topics`);
    await page.getByTestId('token-form').waitFor();
    assert.equal(await page.getByTestId('topics-table').count(), 0, 'no data without the token');
    await page.close();
    // A new tab: the token comes from the address only (the form would keep it for this tab).
    const page2 = await context.newPage();
    await page2.goto(`${url}/topics#token=open-sesame`);
    await page2.getByTestId('topics-table').getByText('readings', { exact: true }).waitFor();
    assert.equal(new URL(page2.url()).hash, '', 'the token does not stay in the address');
    assert.equal(await page2.getByTestId('token-form').count(), 0);
    await context.close();
  });
});

describe('dashboard: source partitions', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let dir: string;
  let close: () => Promise<void>;
  let url: string;
  let browser: Browser;

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dashboard-idle-'));
    browser = await launchBrowser();
    const log = await openLog({ dataDir: dir });
    await log.createTopic('clicks', { partitions: 2 });
    // Only partition 1 gets clicks: partition 0 goes idle once the source has been caught up there for 200 ms.
    const clicks = [1000, 2000, 30_000].map((ts) => ({ key: null, value: Buffer.from(JSON.stringify({ ts })) }));
    await log.append('clicks', 1, clicks);
    const pipeline = new Pipeline({ name: 'idle-clicks' });
    pipeline
      .source(logSource({ log, topic: 'clicks', format: json<{ ts: number }>(), idleTimeout: '200ms' }))
      .withTimestamps((c) => c.ts, watermarks.boundedOutOfOrderness('1s'))
      .keyBy(() => 'all')
      .window(windows.tumbling('10s'))
      .aggregate(agg.count())
      .sinkTo(collect());
    const running = pipeline.run();
    const store = await ServingStore.open({ dir: ':memory:' });
    const server = await startServer({ log, store, port: 0, pipelines: () => [pipeline] });
    url = server.url;
    close = async () => {
      pipeline.stop();
      await running;
      await server.close();
      await store.close();
      await log.close();
    };
  });

  after(async () => {
    await browser?.close();
    await close?.();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows each source partition with its watermark, the empty one as idle', async () => {
    const page = await browser.newPage();
    const logged: string[] = [];
    page.on('pageerror', (error) => logged.push(`exception: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') logged.push(`console: ${message.text()}`);
    });
    await page.goto(`${url}/`);
    const table = page.getByTestId('source-partitions');
    const rows = table.locator('tbody tr');
    await rows.first().waitFor({ timeout: 20_000 });
    assert.equal(await rows.count(), 2);
    const status = (row: number) => rows.nth(row).getByTestId('partition-status');
    await eventually(
      async () => (await status(0).getAttribute('data-idle')) === 'true',
      'partition 0 idle',
      20_000,
      100,
    );
    assert.match((await rows.nth(0).textContent())!, /idle/);
    assert.match((await rows.nth(1).textContent())!, /\d{2}:\d{2}:\d{2}/, "partition 1's watermark shows as a time");
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-source-partitions.png'), fullPage: true });
    assert.deepEqual(logged, []);
    await page.close();
  });
});
