// Builds the dashboard into web/dist when its sources changed since the last build (a hash of every input file
// is kept in dist/.build-hash), so that `npm start` and the tests build once and then start at once. The new
// build is written beside dist and swapped in, so that a running server never serves half a build.
//
//   node web/build.ts            # build if stale
//   node web/build.ts --force    # build anyway
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = fileURLToPath(new URL('.', import.meta.url));
const ROOT = path.dirname(WEB);
export const DIST = path.join(WEB, 'dist');
const HASH_FILE = '.build-hash';

/** Every file the build reads: the dashboard's sources, its config, the API types, and the locked dependencies. */
function inputs(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.push(full);
    }
  };
  walk(path.join(WEB, 'src'));
  walk(path.join(WEB, 'public'));
  files.push(
    path.join(WEB, 'index.html'),
    path.join(WEB, 'vite.config.ts'),
    path.join(ROOT, 'src', 'http', 'api.ts'),
    path.join(ROOT, 'package-lock.json'),
  );
  return files.filter((file) => fs.existsSync(file)).sort();
}

/** A hash of the inputs' names and contents (not times: a fresh clone has new mtimes and the same sources). */
export function sourceHash(): string {
  const hash = createHash('sha256');
  for (const file of inputs()) {
    hash.update(path.relative(ROOT, file));
    hash.update('\0');
    hash.update(fs.readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** True when dist holds a build of the current sources. */
export function isBuilt(): boolean {
  try {
    return (
      fs.readFileSync(path.join(DIST, HASH_FILE), 'utf8') === sourceHash() &&
      fs.existsSync(path.join(DIST, 'index.html'))
    );
  } catch {
    return false;
  }
}

/** Builds web/dist unless it is up to date (or `force`); resolves with what it did. */
export async function buildDashboard(options: { force?: boolean; quiet?: boolean } = {}): Promise<'built' | 'fresh'> {
  const hash = sourceHash();
  if (!options.force && isBuilt()) return 'fresh';
  const started = performance.now();
  const out = `${DIST}.tmp-${process.pid}`;
  fs.rmSync(out, { recursive: true, force: true });
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new Error('cannot build the dashboard: vite is not installed (run `npm ci`, which installs devDependencies)');
  }
  try {
    await vite.build({
      configFile: path.join(WEB, 'vite.config.ts'),
      build: { outDir: out, emptyOutDir: true },
      logLevel: options.quiet ? 'error' : 'warn',
    });
    fs.writeFileSync(path.join(out, HASH_FILE), hash);
    // Swap: the old build disappears only once the new one is complete.
    const old = `${DIST}.old-${process.pid}`;
    if (fs.existsSync(DIST)) fs.renameSync(DIST, old);
    fs.renameSync(out, DIST);
    fs.rmSync(old, { recursive: true, force: true });
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
  if (!options.quiet) {
    console.log(`dashboard: built web/dist in ${Math.round(performance.now() - started)} ms`);
  }
  return 'built';
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildDashboard({ force: process.argv.includes('--force') }).then(
    (result) => {
      if (result === 'fresh') console.log('dashboard: web/dist is up to date');
    },
    (error: unknown) => {
      console.error(`dashboard: ${(error as Error).message}`);
      process.exitCode = 1;
    },
  );
}
