#!/usr/bin/env node
// The `sluice` executable. Sluice is written in TypeScript and runs it directly (Node's type stripping),
// so it needs Node >= 22.18; `npm ci` installs Node 24 LTS into node_modules/.bin for the npm scripts.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `sluice needs Node.js >= 22.18 (this is ${process.version}). Run it through npm (npm start, npx sluice), which uses the Node 24 that npm ci installs.`,
  );
  process.exit(1);
}
await import('../src/cli/main.ts');
