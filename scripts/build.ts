// Builds the package as it is published: the dashboard (web/dist, when its sources changed), the sources and the
// demo compiled to JavaScript with type declarations (tsc → dist/src, dist/examples), and the dashboard copied to
// dist/web/dist, where the built server looks for it (the same place relative to its module as in the sources).
// `npm run build`; `npm pack` and `npm publish` run it first (prepack).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDashboard, DIST as DASHBOARD } from '../web/build.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = path.join(ROOT, 'dist');

const started = performance.now();
await buildDashboard({ quiet: true });
fs.rmSync(OUT, { recursive: true, force: true });
try {
  execFileSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', path.join(ROOT, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
} catch {
  console.error('build: tsc failed (above)');
  process.exit(1);
}
// Another process (a test) may swap in a fresh dashboard build while we copy: then copy the new one.
for (let attempt = 1; ; attempt++) {
  try {
    fs.rmSync(path.join(OUT, 'web'), { recursive: true, force: true });
    fs.cpSync(DASHBOARD, path.join(OUT, 'web', 'dist'), {
      recursive: true,
      filter: (source) => path.basename(source) !== '.build-hash',
    });
    break;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw error;
    await buildDashboard({ quiet: true });
  }
}
console.error(`build: dist/ in ${Math.round(performance.now() - started)} ms`);
