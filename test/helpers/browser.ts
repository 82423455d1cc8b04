// What the browser tests share: Debian's Chromium (never a downloaded browser), launched while the dashboard is
// built (only when its sources changed), and the reason a test skips where Chromium is not installed.
import fs from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { buildDashboard } from '../../web/build.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** A describe's `skip`: false where Chromium is installed, otherwise why the tests cannot run. */
export const SKIP_WITHOUT_CHROMIUM = fs.existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed (.ci/run installs it)`;

/** Builds the dashboard (when its sources changed) and launches headless Chromium, both at once. */
export async function launchBrowser(): Promise<Browser> {
  const [, browser] = await Promise.all([
    buildDashboard({ quiet: true }),
    chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] }),
  ]);
  return browser;
}
