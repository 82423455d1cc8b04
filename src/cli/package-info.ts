// This package's own manifest, found through its exports (the same from the sources and from dist/): the version
// `sluice --version` prints, and what `sluice init` copies into a starter project.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PackageInfo {
  root: string;
  version: string;
  engines: { node: string };
  devDependencies: Record<string, string>;
}

let cached: PackageInfo | undefined;

export function packageInfo(): PackageInfo {
  if (cached) return cached;
  const root = path.dirname(fileURLToPath(import.meta.resolve('sluice/package.json')));
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as Omit<PackageInfo, 'root'>;
  cached = { ...manifest, root };
  return cached;
}
