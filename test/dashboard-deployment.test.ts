// The dashboard under `sluice up`, in real headless Chromium: the demo deployment (examples/demo.deployment.ts:
// three pipelines in worker processes, four tables, a scheduled batch job) shows on the Overview as under
// `sluice dev`, and its Deployment page shows the three pipelines running with checkpoints advancing, a job run
// started from the page, a replay's progress up to its switch, and a worker SIGKILLed mid-stream restarted.
// Every wait is for progress (a count that grows, a state reached), bounded only to end a hung run.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { DeploymentJson } from '../src/http/index.ts';
import { type Daemon, startSluice } from '../support/processes.ts';
import { launchBrowser, SKIP_WITHOUT_CHROMIUM } from './helpers/browser.ts';

const ARTIFACTS = path.resolve(import.meta.dirname, '..', 'test-artifacts');
const SPEC = path.resolve(import.meta.dirname, '..', 'examples', 'demo.deployment.ts');
const PIPELINES = ['windowed-counts', 'clickstream', 'sensor-averages'];
/** Long enough for a loaded 2-core machine; each wait ends as soon as what it waits for happens. */
const WAIT_MS = 120_000;

describe('dashboard under sluice up', { skip: SKIP_WITHOUT_CHROMIUM }, () => {
  let dataDir: string;
  let up: Daemon | undefined;
  let url: string;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dashboard-up-'));
    browser = await launchBrowser();
    up = startSluice([
      'up',
      SPEC,
      '--data-dir',
      dataDir,
      '--kafka-port',
      '0',
      '--http-port',
      '0',
      '--checkpoint-interval',
      '1s',
    ]);
    url = (await up.waitFor(/HTTP API\s+(http:\/\/\S+)/, WAIT_MS))[1]!;
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (error) => problems.push(`exception: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await up?.stop('SIGKILL');
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const status = async (): Promise<DeploymentJson> => {
    const response = await fetch(`${url}/v1/deployment`);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as DeploymentJson;
  };
  /** The text of a pipeline's cell (by test id) on the Deployment page. */
  const cell = (pipeline: string, testId: string) =>
    page
      .locator('[data-testid=deployment-pipelines] tbody tr', { hasText: pipeline })
      .locator(`[data-testid=${testId}]`);
  const number = async (pipeline: string, testId: string) =>
    Number.parseInt(((await cell(pipeline, testId).textContent()) ?? '').trim(), 10);
  /** Polls `probe` until it holds: progress, not a fixed sleep. */
  const until = async (what: string, probe: () => Promise<boolean>) => {
    const deadline = Date.now() + WAIT_MS;
    while (!(await probe().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${up?.output().slice(-3000)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  it('shows the three pipelines running with checkpoints advancing, on the Deployment page and the Overview', async () => {
    await page.goto(`${url}/deployment`);
    await page.getByRole('link', { name: 'Deployment' }).waitFor();
    await page.getByRole('heading', { name: /Deployment demo/ }).waitFor({ timeout: WAIT_MS });
    for (const name of PIPELINES) {
      await until(`${name} running`, async () => (await cell(name, 'pipeline-state').textContent()) === 'running');
    }
    const first = new Map<string, number>();
    for (const name of PIPELINES) {
      await until(`${name}'s first checkpoint`, async () => (await number(name, 'pipeline-checkpoints')) > 0);
      first.set(name, await number(name, 'pipeline-checkpoints'));
    }
    for (const name of PIPELINES) {
      await until(
        `${name}'s checkpoints advancing`,
        async () => (await number(name, 'pipeline-checkpoints')) > first.get(name)!,
      );
    }
    // Tables say what they are doing, with their rows.
    const tables = page.locator('[data-testid=deployment-tables] tbody tr');
    await until('four tables', async () => (await tables.count()) === 4);
    await until('window_totals live with rows', async () => {
      const row = (await status()).tables.find((t) => t.name === 'window_totals');
      return row?.state === 'live' && (row.rows ?? 0) > 0;
    });
    await page.screenshot({ path: path.join(ARTIFACTS, 'deployment.png'), fullPage: true });

    // The Overview shows the worker processes' pipelines as it does under `sluice dev`.
    await page.getByRole('link', { name: 'Overview' }).click();
    await until('three pipeline cards', async () => (await page.locator('[data-testid=pipeline-card]').count()) === 3);
    for (const name of PIPELINES) {
      assert.equal(await page.locator(`[data-testid=pipeline-card][data-pipeline="${name}"]`).count(), 1, name);
    }
    await page.getByRole('link', { name: 'Deployment' }).click();
  });

  it('runs a job from the page and shows the run', async () => {
    const row = page.locator('[data-testid=deployment-jobs] tbody tr', { hasText: 'window-batch' });
    await row.getByRole('button', { name: 'Run now' }).click();
    await page.locator('[data-testid=job-message]', { hasText: /window-batch: run .* started/ }).waitFor();
    await until('the run recorded', async () => (await status()).jobs[0]!.history.some((r) => r.trigger === 'manual'));
    await row.locator('[data-testid=job-last-run]', { hasText: 'manual' }).waitFor({ timeout: WAIT_MS });
    // Its latest runs, one click away.
    await row.click();
    await page.locator('[data-testid=job-history] tbody tr', { hasText: 'manual' }).first().waitFor();
    const run = (await status()).jobs[0]!.history.find((r) => r.trigger === 'manual')!;
    assert.equal(run.status, 'succeeded', run.error);
  });

  it("shows a replay's progress until it switches readers", async () => {
    const response = await fetch(`${url}/v1/deployment/replays`, {
      method: 'POST',
      body: JSON.stringify({ pipeline: 'sensor-averages', from: 'earliest' }),
    });
    assert.equal(response.status, 202, await response.clone().text());
    const { id } = (await response.json()) as { id: string };
    const row = page.locator('[data-testid=deployment-replays] tbody tr', { hasText: id });
    await row.waitFor({ timeout: WAIT_MS });
    const progress = row.locator('[data-testid=replay-progress]');
    assert.ok(Number(await progress.getAttribute('aria-valuemax')) > 0, 'the replay knows how much it has to read');
    await until('the replay switched', async () => ((await row.textContent()) ?? '').includes('switched'));
    assert.equal(await progress.textContent(), '100%');
    // Readers now see version 2 of its table, loaded beside version 1.
    await until('sensor_averages__v2 served', async () =>
      (await status()).tables.some((t) => t.version === 'sensor_averages__v2' && t.serving),
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'deployment-replay.png'), fullPage: true });
  });

  it('shows a SIGKILLed worker as restarted, and running again', async () => {
    const before = (await status()).pipelines.find((p) => p.name === 'windowed-counts')!;
    assert.ok(before.pid, 'a worker process runs it');
    assert.equal(before.host, 'worker-process');
    process.kill(before.pid, 'SIGKILL');
    await until(
      'the restart counted',
      async () => (await number('windowed-counts', 'pipeline-restarts')) > before.restarts,
    );
    await until(
      'running again',
      async () => (await cell('windowed-counts', 'pipeline-state').textContent()) === 'running',
    );
    const after = (await status()).pipelines.find((p) => p.name === 'windowed-counts')!;
    assert.notEqual(after.pid, before.pid, 'a new worker process');
    const checkpoints = await number('windowed-counts', 'pipeline-checkpoints');
    await until(
      'checkpoints again',
      async () => (await number('windowed-counts', 'pipeline-checkpoints')) > checkpoints,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'deployment-restart.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });
});
