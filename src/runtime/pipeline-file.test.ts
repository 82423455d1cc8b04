// Loading pipeline files the way every runner does: each kind of mistake a pipeline author makes comes out as one
// SluiceError naming the file (and line and column where Node knows them), and a definition that throws is a build
// failure naming the file, the line and the cause.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collect, fromArrays, Pipeline } from '../engine/index.ts';
import { isSluiceError, SluiceError } from '../errors.ts';
import { headerLocation, importUserFile, userFrame } from './load-file.ts';
import { buildPipeline, isStartupFailure, loadPipelineFile } from './pipeline-file.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let project: string;
let bare: string;

/** A project whose files import 'sluice' (this repository, linked as its dependency). */
function write(dir: string, name: string, source: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return file;
}

before(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-pipeline-file-'));
  fs.writeFileSync(path.join(project, 'package.json'), '{"type":"module"}');
  fs.mkdirSync(path.join(project, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'sluice'), 'dir');
  bare = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-no-package-'));
  fs.writeFileSync(path.join(bare, 'package.json'), '{"type":"module"}');
});
after(() => {
  fs.rmSync(project, { recursive: true, force: true });
  fs.rmSync(bare, { recursive: true, force: true });
});

/** Rejects with a load failure of `code` whose message matches `message`. */
async function refused(load: Promise<unknown>, code: string, message: RegExp): Promise<SluiceError> {
  let caught: unknown;
  await assert.rejects(load, (error) => {
    caught = error;
    return true;
  });
  assert.ok(isSluiceError(caught), `a SluiceError, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  assert.ok(isStartupFailure(caught), 'a load or build failure');
  return caught;
}

describe('loading a pipeline file', () => {
  it('names file:line:column of a syntax error Node reports without a location (ES module compile)', async () => {
    const file = write(project, 'dup.ts', 'const a = 1;\nconst a = 2;\nexport default () => a;\n');
    const error = await refused(
      loadPipelineFile(file),
      'INVALID_PIPELINE',
      /dup\.ts:2:7: SyntaxError: Identifier 'a' has already been declared$/,
    );
    assert.deepEqual(error.details.at, { file, line: 2, column: 7 });
  });

  it('names the line and column of a type-strip error, with what to write instead', async () => {
    const file = write(project, 'enum.ts', 'const x = 1;\nenum Mode { A, B }\nexport default () => Mode.A;\n');
    await refused(
      loadPipelineFile(file),
      'INVALID_PIPELINE',
      /enum\.ts:2:1: TypeScript enum is not supported in strip-only mode \(.*union of string literals/,
    );
    const invalid = write(project, 'invalid.ts', 'export default function f<T>(x: T): T {\n  return x as;\n}\n');
    await refused(loadPipelineFile(invalid), 'INVALID_PIPELINE', /invalid\.ts:2:\d+: Unexpected token/);
  });

  it('names the imported file that has the error, and the pipeline that imports it', async () => {
    write(project, 'box.ts', 'export class Box {\n  constructor(private value: number) {}\n}\n');
    const file = write(project, 'uses-box.ts', "import { Box } from './box.ts';\nexport default () => new Box(1);\n");
    await refused(
      loadPipelineFile(file),
      'INVALID_PIPELINE',
      /box\.ts:2:\d+: TypeScript parameter property is not supported.*\(imported by pipeline .*uses-box\.ts\)$/,
    );
    write(project, 'plain.js', 'export const x = ;\n');
    const js = write(project, 'uses-plain.ts', "import { x } from './plain.js';\nexport default () => x;\n");
    await refused(loadPipelineFile(js), 'INVALID_PIPELINE', /plain\.js:1:18: SyntaxError: Unexpected token ';'/);
  });

  it('says how to install a missing sluice package, and what a missing relative import should be', async () => {
    const file = write(
      bare,
      'p.ts',
      "import { definePipeline } from 'sluice';\nexport default definePipeline(() => 1);\n",
    );
    await refused(
      loadPipelineFile(file),
      'INVALID_PIPELINE',
      new RegExp(`imports 'sluice', which is not installed: run \`npm install sluice\` in ${bare}`),
    );
    write(project, 'helper.ts', 'export const y = 1;\n');
    const js = write(project, 'wrong-ext.ts', "import { y } from './helper.js';\nexport default () => y;\n");
    await refused(
      loadPipelineFile(js),
      'INVALID_PIPELINE',
      /helper\.js, which does not exist; .*import '\.\/helper\.ts'/,
    );
  });

  it('refuses a missing file, a directory, a file without a default export and a top-level throw', async () => {
    await refused(loadPipelineFile(path.join(project, 'nope.ts')), 'INVALID_PIPELINE', /nope\.ts: no such file/);
    await refused(loadPipelineFile(project), 'INVALID_PIPELINE', /is a directory/);
    const none = write(project, 'none.ts', 'export const x = 1;\n');
    await refused(loadPipelineFile(none), 'INVALID_PIPELINE', /must `export default definePipeline.*no default export/);
    const parse = write(project, 'parse.ts', "const config = JSON.parse('{oops');\nexport default () => config;\n");
    await refused(loadPipelineFile(parse), 'INVALID_PIPELINE', /SyntaxError: .*JSON.* \(at .*parse\.ts:1:\d+\)$/);
  });

  it('loads deployment specs through the same loader, with their own code', async () => {
    const file = write(project, 'spec.ts', 'export default {\n  name: ,\n};\n');
    await refused(
      importUserFile(file, { code: 'INVALID_SPEC', what: 'deployment spec' }),
      'INVALID_SPEC',
      /spec\.ts:2:9/,
    );
  });
});

describe('building a pipeline', () => {
  const env = { log: {} as never, bounded: true, dataDir: '/tmp' };

  it('turns what the definition throws into a build failure naming the file, line and cause', async () => {
    const file = write(project, 'throws.ts', "export default () => {\n  throw new Error('no such topic');\n};\n");
    const define = await loadPipelineFile(file);
    const error = await refused(
      buildPipeline(file, define, env),
      'PIPELINE_BUILD_FAILED',
      /building the pipeline of .*throws\.ts failed: no such topic \(at .*throws\.ts:2:9\)$/,
    );
    assert.equal((error.cause as Error).message, 'no such topic');
    const typo = write(project, 'typo.ts', 'export default (env: any) => env.options.name;\n');
    await refused(
      buildPipeline(typo, await loadPipelineFile(typo), env),
      'PIPELINE_BUILD_FAILED',
      /failed: TypeError: Cannot read properties of undefined \(reading 'name'\) \(at .*typo\.ts:1:\d+\)/,
    );
  });

  it('keeps the code of a Sluice error (and so its exit code), and refuses what is not a Pipeline', async () => {
    const refusedArgument = async () => {
      throw new SluiceError('INVALID_PARTITIONS', 'partitions must be at least 1');
    };
    await refused(buildPipeline('p.ts', refusedArgument, env), 'INVALID_PARTITIONS', /p\.ts failed: partitions must/);
    await refused(
      buildPipeline('p.ts', () => 42 as never, env),
      'INVALID_PIPELINE',
      /returned a number, not a Pipeline/,
    );
    const pipeline = new Pipeline({ name: 'fine' });
    pipeline.source(fromArrays([[1]])).sinkTo(collect());
    assert.equal(await buildPipeline('p.ts', () => pipeline, env), pipeline);
  });

  it('refuses a graph that cannot run (no sink) at build time, not on every restart', async () => {
    const sinkless = new Pipeline({ name: 'sinkless' });
    sinkless.source(fromArrays([[1]])).map((x) => x + 1);
    await refused(
      buildPipeline('p.ts', () => sinkless, env),
      'NO_SINK',
      /p\.ts failed: pipeline sinkless has no sink/,
    );
  });
});

describe('locations in stacks', () => {
  it('reads the header Node puts on load errors, and the first frame of user code', () => {
    assert.deepEqual(headerLocation('file:///x/my.ts:3\nconst a = ;\n          ^\n\nSyntaxError: Unexpected token'), {
      file: '/x/my.ts',
      line: 3,
      column: 11,
    });
    assert.deepEqual(headerLocation('/x/my.ts:2\nbefore\nenum X {}\n^^^^^^^^^\nafter\n\nSyntaxError [ERR]: no'), {
      file: '/x/my.ts',
      line: 2,
      column: 1,
    });
    assert.equal(
      headerLocation("SyntaxError: Unexpected token ';'\n    at compileSourceTextModule (node:x:1:1)"),
      undefined,
    );
    const stack = [
      'Error: boom',
      '    at topic (file:///p/node_modules/lib/index.js:1:1)',
      `    at ensure (${new URL('../engine/define.ts', import.meta.url).href}:5:5)`,
      '    at async file:///p/pipeline.ts:7:3',
    ].join('\n');
    assert.deepEqual(userFrame(stack), { file: '/p/pipeline.ts', line: 7, column: 3 });
  });
});
