// The dashboard reads right, in real headless Chromium against a real server: the Topics page's message browser
// shows a partition's latest records, goes to an offset, pages, filters by key, shows binary values as hex and fits
// a phone's width; the Checkpoints page stays short with 130 checkpoints (a page of 20, older ones a click away); a
// watermark ahead of the wall clock reads "ahead by …" (not 0) on the Overview; and no page shows a 12-hour time.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { PipelineMetrics, PipelineView } from '../src/engine/index.ts';
import { startServer } from '../src/http/index.ts';
import { openLog } from '../src/log/index.ts';
import { ServingStore } from '../src/serve/index.ts';
import { eventually } from './helpers/broker.ts';
import { launchBrowser, SKIP_WITHOUT_CHROMIUM } from './helpers/browser.ts';

const ARTIFACTS = path.resolve(import.meta.dirname, '..', 'test-artifacts');
const T0 = Date.UTC(2026, 11, 4, 15, 0, 0);
/** The replayed pipeline's watermark runs this far ahead of the clock (demo time does). */
const AHEAD_MS = 4 * 60_000;

/**
 * A pipeline as the server sees one (PipelineView) with a long history: 130 checkpoints and 45 restarts, and a
 * source whose watermark is ahead of the wall clock, as the engine reports it (a negative lag).
 */
function replayedPipeline(): PipelineView {
  const checkpoints = Array.from({ length: 130 }, (_, i) => ({
    id: i + 1,
    kind: 'checkpoint' as const,
    startedAt: T0 + i * 10_000,
    status: i % 17 === 5 ? ('failed' as const) : ('completed' as const),
    durationMs: 40 + (i % 9),
    pauseMs: 3,
    bytes: i % 17 === 5 ? null : 20_000 + i,
    ...(i % 17 === 5 ? { error: 'disk full' } : {}),
  }));
  const restarts = Array.from({ length: 45 }, (_, i) => ({
    at: T0 + i * 30_000,
    code: 'PIPELINE_FAILED',
    message: `crash ${i + 1}`,
    failures: 1,
    restartInMs: 1000,
  }));
  const operator = (name: string, lagMs: number) => {
    const watermark = Date.now() - lagMs;
    return {
      name,
      recordsIn: 120,
      recordsOut: 120,
      watermark,
      idle: false,
      lateRecords: 0,
      deadLetters: 0,
      stateSize: 0,
      ratePerSec: 10,
      backpressure: 0,
      watermarkLagMs: lagMs,
    };
  };
  return {
    name: 'replayed',
    metrics: (): PipelineMetrics => ({
      name: 'replayed',
      running: true,
      uptimeMs: 60_000,
      operators: [operator('source:log:orders', -AHEAD_MS), operator('window', 2300), operator('sink:collect', 2300)],
      sources: [
        {
          operator: 'source:log:orders',
          topic: 'orders',
          partitions: [{ partition: 0, offset: 120, watermark: Date.now() + AHEAD_MS, idle: false, idleSince: null }],
        },
      ],
      deadLetters: 0,
      checkpoints: {
        completed: 122,
        failed: 8,
        restoredFrom: null,
        last: { id: 130, kind: 'checkpoint', file: 'cp-130', bytes: 20_129, pauseMs: 3, durationMs: 44 },
      },
      error: null,
      restarts: 45,
    }),
    topology: () => ({
      name: 'replayed',
      nodes: [
        { id: 'source:log:orders', kind: 'source', description: 'log:orders', uid: 'a' },
        { id: 'window', kind: 'operator', description: 'WindowOperator', uid: 'b' },
        { id: 'sink:collect', kind: 'sink', description: 'collect', uid: 'c' },
      ],
      edges: [
        { from: 'source:log:orders', to: 'window', input: 0, side: null },
        { from: 'window', to: 'sink:collect', input: 0, side: null },
      ],
    }),
    sourcePositions: () => [{ operator: 'source:log:orders', topic: 'orders', offsets: [120, 1] }],
    history: { snapshot: () => ({ checkpoints, restarts }) },
  };
}

describe('dashboard: times, lags, paging and the message browser', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let dir: string;
  let url: string;
  let browser: Browser;
  let close: () => Promise<void>;

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dashboard-read-'));
    browser = await launchBrowser();
    const log = await openLog({ dataDir: dir });
    await log.createTopic('orders', { partitions: 2 });
    for (let batch = 0; batch < 12; batch++) {
      await log.append(
        'orders',
        0,
        Array.from({ length: 10 }, (_, j) => {
          const n = batch * 10 + j;
          return {
            key: Buffer.from(`k${n % 10}`),
            value: Buffer.from(JSON.stringify({ n })),
            timestamp: T0 + n * 1000,
          };
        }),
      );
    }
    await log.append('orders', 1, [{ key: Buffer.from('bin'), value: Buffer.from([0x00, 0xff, 0x10]) }]);
    const store = await ServingStore.open({ dir: ':memory:' });
    const pipeline = replayedPipeline();
    const server = await startServer({ log, store, port: 0, pipelines: () => [pipeline] });
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

  /** Opens a page that must log no error (a failed request, a CSP violation, an exception). */
  async function open(pathname: string): Promise<{ page: Page; logged: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const logged: string[] = [];
    page.on('pageerror', (error) => logged.push(`exception: ${error.message}`));
    // A refused request (400) is what the test that sends one expects.
    const expected = (status: number, _at: string) => status === 400;
    page.on('response', (response) => {
      if (response.status() >= 400 && !expected(response.status(), response.url())) {
        logged.push(`${response.status()} ${response.url()}`);
      }
    });
    page.on('console', (message) => {
      const status = /status of (\d{3})/.exec(message.text())?.[1];
      if (message.type() === 'error' && !(status && expected(Number(status), message.location().url))) {
        logged.push(`console: ${message.text()}`);
      }
    });
    await page.goto(`${url}${pathname}`);
    return { page, logged };
  }

  async function noTwelveHourTimes(page: Page): Promise<void> {
    const text = (await page.locator('body').textContent()) ?? '';
    assert.doesNotMatch(text, /\d\s?(AM|PM|am|pm)\b/, 'a 12-hour time on the page');
  }

  it('browses a partition: latest records, an offset, older and newer pages, a key, binary as hex', async () => {
    const { page, logged } = await open('/topics?topic=orders');
    const browserCard = page.getByTestId('record-browser');
    const table = browserCard.getByTestId('records-table');
    const shownOffsets = () =>
      table.locator('[data-offset]').evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-offset'))));
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

    // The latest 20 records of partition 0, oldest first, each with its timestamp in the one 24-hour format.
    await eventually(async () => (await shownOffsets()).length === 20, 'the latest records', 20_000, 100);
    assert.deepEqual(await shownOffsets(), range(100, 119));
    const lastRow = table.locator('tbody tr').last();
    assert.match((await lastRow.textContent()) ?? '', /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}/);
    assert.match((await browserCard.getByTestId('records-summary').textContent()) ?? '', /offsets 100–119/);

    // Go to an offset; then newer and older pages.
    await browserCard.getByTestId('records-mode').selectOption('offset');
    await browserCard.getByTestId('records-at').fill('5');
    await browserCard.getByTestId('records-show').click();
    await eventually(async () => (await shownOffsets())[0] === 5, 'records from offset 5', 10_000, 50);
    assert.deepEqual(await shownOffsets(), range(5, 24));
    await browserCard.getByTestId('records-newer').click();
    await eventually(async () => (await shownOffsets())[0] === 25, 'the newer page', 10_000, 50);
    assert.deepEqual(await shownOffsets(), range(25, 44));
    await browserCard.getByTestId('records-older').click();
    await eventually(async () => (await shownOffsets())[0] === 5, 'the older page', 10_000, 50);

    // A JSON value opens re-indented.
    const value = table.locator('tbody tr').first().getByTestId('record-value');
    assert.equal(await value.getAttribute('data-kind'), 'json');
    await value.locator('summary').click();
    assert.equal((await value.locator('pre').textContent()) ?? '', '{\n  "n": 5\n}');

    // Filter by key, from the latest records back: every match of k3, and only k3.
    await browserCard.getByTestId('records-mode').selectOption('latest');
    await browserCard.getByTestId('records-key').fill('k3');
    await browserCard.getByTestId('records-show').click();
    await eventually(async () => (await shownOffsets()).length === 12, 'the records with key k3', 10_000, 50);
    assert.deepEqual(
      await shownOffsets(),
      range(0, 11).map((i) => 3 + 10 * i),
    );
    const keys = await table.getByTestId('record-key').allTextContents();
    assert.deepEqual(new Set(keys), new Set(['k3']));
    assert.match((await browserCard.getByTestId('records-summary').textContent()) ?? '', /searched 120 records/);
    assert.match(page.url(), /key=k3/, 'the search is in the address, for a link to it');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-messages-by-key.png'), fullPage: true });

    // Another partition: binary bytes show as hex.
    await browserCard.getByTestId('records-key').fill('');
    await browserCard.getByTestId('records-partition').selectOption('1');
    await eventually(async () => (await shownOffsets()).join() === '0', "partition 1's record", 10_000, 50);
    const binary = table.getByTestId('record-value');
    assert.equal(await binary.getAttribute('data-kind'), 'hex');
    assert.match((await binary.locator('summary').textContent()) ?? '', /^00 ff 10$/);

    // A bad offset is explained, not a blank table.
    await browserCard.getByTestId('records-mode').selectOption('offset');
    await browserCard.getByTestId('records-at').fill('-3');
    await browserCard.getByTestId('records-show').click();
    await browserCard.getByTestId('records-error').waitFor();
    assert.match((await browserCard.getByTestId('records-error').textContent()) ?? '', /INVALID_RECORDS_QUERY/);

    await noTwelveHourTimes(page);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-messages.png'), fullPage: true });
    assert.deepEqual(logged, []);
    await page.close();
  });

  it('the message browser reads on a narrow screen: its form wraps, its table scrolls inside its card', async () => {
    const { page, logged } = await open('/topics?topic=orders&key=k1');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByTestId('records-table').locator('[data-offset]').first().waitFor({ timeout: 20_000 });
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
    assert.deepEqual(logged, []);
    await page.close();
  });

  it('pages the checkpoint history: 20 rows at a time, and the page stays short with 130 checkpoints', async () => {
    const { page, logged } = await open('/checkpoints');
    const history = page.getByTestId('checkpoint-history');
    const ids = () => history.locator('tbody tr td:first-child').allTextContents();
    await eventually(async () => (await ids()).length === 20, 'a page of checkpoints', 20_000, 100);
    assert.equal((await ids())[0], '130', 'the newest first');
    assert.equal(await page.getByTestId('restarts').locator('tbody tr').count(), 20);
    const height = await page.evaluate<number>('document.documentElement.scrollHeight');
    // 130 rows of checkpoints and 45 of restarts, unpaged, make a page over 5,000 px tall.
    assert.ok(height < 2600, `the page is ${height} px tall`);
    const pager = page.getByTestId('checkpoint-history-pager');
    assert.match((await pager.getByTestId('pager-position').textContent()) ?? '', /^1–20 of 130$/);
    await pager.getByRole('button', { name: /Older/ }).click();
    await eventually(async () => (await ids())[0] === '110', 'the older page', 10_000, 50);
    assert.match((await pager.getByTestId('pager-position').textContent()) ?? '', /^21–40 of 130$/);
    for (let i = 0; i < 5; i++) await pager.getByRole('button', { name: /Older/ }).click();
    assert.deepEqual(await ids(), ['10', '9', '8', '7', '6', '5', '4', '3', '2', '1']);
    assert.ok(await pager.getByRole('button', { name: /Older/ }).isDisabled());
    await noTwelveHourTimes(page);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-checkpoints-paged.png'), fullPage: true });
    assert.deepEqual(logged, []);
    await page.close();
  });

  it('shows a watermark ahead of the wall clock as "ahead by", and one behind as "behind"', async () => {
    const { page, logged } = await open('/');
    const card = page.locator('[data-testid=pipeline-card][data-pipeline="replayed"]');
    const lags = card.getByTestId('watermark-lag');
    await eventually(async () => (await lags.count()) === 3, 'the operators', 20_000, 100);
    assert.equal(await lags.nth(0).getAttribute('data-lag-ms'), String(-AHEAD_MS));
    assert.equal((await lags.nth(0).textContent()) ?? '', 'ahead by 4 min 0 s');
    assert.equal((await lags.nth(1).textContent()) ?? '', '2.3 s behind');
    const partition = card.getByTestId('source-partitions').locator('tbody tr').first();
    assert.match((await partition.textContent()) ?? '', /ahead by (3 min 5\d s|4 min 0 s)/);
    // The graph's tooltip says the same.
    const tooltip = await card.locator('[data-node="source:log:orders"] title').textContent();
    assert.match(tooltip!, /\(ahead by 4 min 0 s\)/);
    await noTwelveHourTimes(page);
    assert.deepEqual(logged, []);
    await page.close();
  });
});
