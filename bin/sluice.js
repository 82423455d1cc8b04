#!/usr/bin/env node
// The `sluice` executable: the built CLI (dist/) in an installed package; in the repository, where npm scripts
// and npx set the "sluice-source" condition (.npmrc), the TypeScript sources directly (package.json "imports").
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  console.error(
    `sluice needs Node.js >= 22.22 (Node 24 LTS recommended); this is ${process.version}. ` +
      'See https://nodejs.org or your version manager (nvm install 24).',
  );
  process.exit(1);
}
// V8's code cache (and, from source, the TypeScript it stripped) kept between runs: a CLI started again and again
// (crash restarts, scripts, tests that spawn it hundreds of times) starts a quarter faster. Off with
// NODE_DISABLE_COMPILE_CACHE=1.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
try {
  await import('#cli');
} catch (error) {
  // A checkout run without npm (so without the condition) and without `npm run build`: say how to run it.
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('/dist/src/cli/main.js')) {
    console.error(
      'sluice: dist/ is not built. In the repository run it through npm (npm start, npx sluice), ' +
        'or build it first: npm run build',
    );
    process.exit(1);
  }
  throw error;
}
