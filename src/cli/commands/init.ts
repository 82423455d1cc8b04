// `sluice init [dir]`: a starter project that runs as generated — package.json with sluice as a dependency, a
// tsconfig, one pipeline with a test on the testing helpers, a README of three commands. The files come from the
// package's templates/starter (type-checked and tested with the rest of Sluice); nothing is overwritten.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { SluiceError } from '../../errors.ts';
import { paint } from '../common.ts';
import { packageInfo } from '../package-info.ts';

/** An npm package name from a directory name: lower case, no spaces or characters npm refuses. */
export function projectName(dir: string): string {
  const name = path
    .basename(path.resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, '-')
    .replace(/^[._-]+|-+$/g, '');
  return name || 'sluice-pipeline';
}

/** The generated project's files: name → content. */
export function starterFiles(name: string): Map<string, string> {
  const own = packageInfo();
  const templates = path.join(own.root, 'templates', 'starter');
  const read = (file: string) => fs.readFileSync(path.join(templates, file), 'utf8');
  const manifest = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: {
      start: 'sluice run pipeline.ts',
      test: 'node --test "**/*.test.ts"',
      typecheck: 'tsc --noEmit',
    },
    engines: own.engines,
    dependencies: { sluice: `^${own.version}` },
    devDependencies: {
      '@types/node': own.devDependencies['@types/node'],
      typescript: own.devDependencies.typescript,
    },
  };
  return new Map([
    ['package.json', `${JSON.stringify(manifest, null, 2)}\n`],
    ['tsconfig.json', read('tsconfig.json')],
    ['pipeline.ts', read('pipeline.ts')],
    ['pipeline.test.ts', read('pipeline.test.ts')],
    ['README.md', read('README.md').replaceAll('{{name}}', name)],
    // npm leaves files named .gitignore out of packages, so the template is stored without its dot.
    ['.gitignore', read('gitignore')],
  ]);
}

/** Writes the starter project into `dir` (created if needed); refuses to overwrite any file there. */
export function writeStarter(dir: string): { dir: string; files: string[] } {
  const target = path.resolve(dir);
  const files = starterFiles(projectName(target));
  const existing = [...files.keys()].filter((file) => fs.existsSync(path.join(target, file)));
  if (existing.length > 0) {
    throw new SluiceError(
      'PROJECT_EXISTS',
      `${target} already has ${existing.join(', ')}: sluice init writes only into a new or empty project`,
      { dir: target, existing },
    );
  }
  fs.mkdirSync(target, { recursive: true });
  for (const [file, content] of files) fs.writeFileSync(path.join(target, file), content, { flag: 'wx' });
  return { dir: target, files: [...files.keys()] };
}

export function registerInit(program: Command): void {
  program
    .command('init [dir]')
    .description('create a starter project: a pipeline, its test, package.json, tsconfig and a README')
    .addHelpText(
      'after',
      `
Example:
  $ npx sluice init my-pipeline && cd my-pipeline
  $ npm install && npm test
  $ npx sluice run pipeline.ts`,
    )
    .action((dir: string | undefined) => {
      const { dir: target, files } = writeStarter(dir ?? '.');
      const relative = path.relative(process.cwd(), target);
      console.log(`${paint('bold', 'sluice init')}: wrote ${files.join(', ')} in ${target}\n`);
      console.log('Next:');
      if (relative) console.log(`  cd ${relative}`);
      console.log('  npm install                  # sluice, TypeScript and Node types');
      console.log('  npm test                     # the pipeline over a temporary embedded log');
      console.log('  npx sluice run pipeline.ts   # run it: Kafka on 127.0.0.1:9092, SQL and dashboard on :8080');
    });
}
