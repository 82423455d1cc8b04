// The errors a pipeline author meets, as the CLI prints them: a file that does not load names file:line:column with
// exit code 2; a definition that throws while building fails the run at once (no restart loop) naming the file and
// the cause — with `sluice run`, its task threads, its member processes, and `sluice up`, whose other pipelines keep
// running.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sluice, startSluice } from '../support/processes.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let project: string;

const FILES: Record<string, string> = {
  'package.json': '{"type":"module"}',
  'box.ts': 'export class Box {\n  constructor(private value: number) {}\n}\n',
  'uses-box.ts': "import { Box } from './box.ts';\nexport default () => new Box(1);\n",
  'dup.ts':
    "import { definePipeline } from 'sluice';\nconst a = 1;\nconst a = 2;\nexport default definePipeline(() => a);\n",
  'no-default.ts': 'export const pipeline = 1;\n',
  'not-a-pipeline.ts':
    "import { definePipeline } from 'sluice';\nexport default definePipeline(() => ({}) as never);\n",
  'throws.ts':
    "import { definePipeline } from 'sluice';\nexport default definePipeline(() => {\n  throw new Error('no such topic');\n});\n",
  'bad-partitions.ts':
    "import { definePipeline, ensureTopic } from 'sluice';\nexport default definePipeline(async ({ log }) => {\n  await ensureTopic(log, 'x', { partitions: 0 });\n  throw new Error('unreachable');\n});\n",
  // Builds in the first process (or thread) to build it, and throws in any other: one member runs while another
  // fails its first start; the probe build in the main thread succeeds, the task threads' builds fail.
  'second-build-throws.ts': `import fs from 'node:fs';
import { definePipeline, ensureTopic, json, logSink, logSource, Pipeline } from 'sluice';
let builtHere = false;
export default definePipeline(async ({ log }) => {
  await ensureTopic(log, 'in', { partitions: 2 });
  if (!builtHere) {
    try {
      fs.writeFileSync(process.env.BUILT_MARKER!, '', { flag: 'wx' });
    } catch {
      throw new Error('second build refused');
    }
    builtHere = true;
  }
  const p = new Pipeline({ name: 'twice' });
  p.source(logSource({ log, topic: 'in', format: json() })).sinkTo(logSink({ log, topic: 'out', format: json() }));
  return p;
});
`,
  'good.ts': `import { definePipeline, ensureTopic, json, logSink, logSource, Pipeline } from 'sluice';
export default definePipeline(async ({ log }) => {
  await ensureTopic(log, 'in', { partitions: 1 });
  const p = new Pipeline({ name: 'good' });
  p.source(logSource({ log, topic: 'in', format: json() })).sinkTo(logSink({ log, topic: 'out', format: json() }));
  return p;
});
`,
  'deployment.ts': `import { defineDeployment } from 'sluice';
export default defineDeployment({
  name: 'mixed',
  topics: { in: { partitions: 1 } },
  pipelines: {
    good: { file: './good.ts', inputs: ['in'], outputs: ['out'] },
    bad: { file: './throws.ts', inputs: ['in'] },
    broken: { file: './uses-box.ts', inputs: ['in'] },
  },
});
`,
  'bad-spec.ts':
    "import { defineDeployment } from 'sluice';\nenum Kind { A }\nexport default defineDeployment({ name: 'x' });\n",
};

before(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-pipeline-errors-'));
  for (const [name, source] of Object.entries(FILES)) fs.writeFileSync(path.join(project, name), source);
  fs.mkdirSync(path.join(project, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'sluice'), 'dir');
});
after(() => fs.rmSync(project, { recursive: true, force: true }));

const file = (name: string) => path.join(project, name);
const dataDir = () => fs.mkdtempSync(path.join(project, 'data-'));
/** One error line, and nothing else on stderr (no stack, no restart logs). */
function oneError(stderr: string, message: RegExp): void {
  assert.match(stderr, message);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
}

describe('pipeline files that do not load', () => {
  it('names file:line:column of syntax and type-strip errors, with exit code 2', async () => {
    const stripped = await sluice(['run', file('uses-box.ts'), '--no-kafka', '--no-http']);
    assert.equal(stripped.code, 2, stripped.stderr);
    oneError(
      stripped.stderr,
      /^error INVALID_PIPELINE: \S*box\.ts:2:\d+: TypeScript parameter property is not supported in strip-only mode .*\(imported by pipeline \S*uses-box\.ts\)$/m,
    );
    const compiled = await sluice(['run', file('dup.ts'), '--no-kafka', '--no-http']);
    assert.equal(compiled.code, 2, compiled.stderr);
    oneError(
      compiled.stderr,
      /^error INVALID_PIPELINE: \S*dup\.ts:3:7: SyntaxError: Identifier 'a' has already been declared$/m,
    );
  });

  it('refuses a missing file, a file without a default export, and a definition that returns no Pipeline', async () => {
    const missing = await sluice(['run', file('nope.ts'), '--no-kafka', '--no-http']);
    assert.equal(missing.code, 2);
    oneError(missing.stderr, /INVALID_PIPELINE: cannot load \S*nope\.ts: no such file/);
    const none = await sluice(['run', file('no-default.ts'), '--no-kafka', '--no-http']);
    assert.equal(none.code, 2);
    oneError(none.stderr, /no-default\.ts must `export default definePipeline\(.*no default export/);
    const wrong = await sluice(['run', file('not-a-pipeline.ts'), '--data-dir', dataDir(), '--no-kafka', '--no-http']);
    assert.equal(wrong.code, 2, wrong.stderr);
    oneError(
      wrong.stderr,
      /INVALID_PIPELINE: the definition in \S*not-a-pipeline\.ts returned an object, not a Pipeline/,
    );
  });

  it('says to install sluice when a pipeline outside a project imports it', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-outside-'));
    try {
      fs.writeFileSync(path.join(outside, 'p.ts'), FILES['throws.ts']!);
      const result = await sluice(['run', path.join(outside, 'p.ts'), '--no-kafka', '--no-http']);
      assert.equal(result.code, 2);
      oneError(
        result.stderr,
        new RegExp(`imports 'sluice', which is not installed: run \`npm install sluice\` in ${outside}`),
      );
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('refuses a deployment spec that does not load, naming the line', async () => {
    const result = await sluice(['up', file('bad-spec.ts'), '--data-dir', dataDir()]);
    assert.equal(result.code, 2);
    oneError(result.stderr, /^error INVALID_SPEC: \S*bad-spec\.ts:2:1: TypeScript enum is not supported/m);
  });
});

describe('definitions that throw while building', () => {
  it('fail `sluice run` at once with the cause: exit 1, or the exit code of a Sluice error', async () => {
    const started = Date.now();
    const result = await sluice(['run', file('throws.ts'), '--data-dir', dataDir(), '--no-kafka', '--no-http']);
    assert.equal(result.code, 1, result.stderr);
    oneError(
      result.stderr,
      /^error PIPELINE_BUILD_FAILED: building the pipeline of \S*throws\.ts failed: no such topic \(at \S*throws\.ts:3:9\)$/m,
    );
    assert.ok(Date.now() - started < 20_000, 'no restarts with backoff first');
    const refused = await sluice([
      'run',
      file('bad-partitions.ts'),
      '--data-dir',
      dataDir(),
      '--no-kafka',
      '--no-http',
    ]);
    assert.equal(refused.code, 2, refused.stderr);
    oneError(
      refused.stderr,
      /^error INVALID_PARTITIONS: building the pipeline of \S*bad-partitions\.ts failed: topic x:/m,
    );
  });

  it('fail task threads (--parallelism) at once, not after restarting each thread', async () => {
    process.env.BUILT_MARKER = path.join(dataDir(), 'built');
    const result = await sluice([
      'run',
      file('second-build-throws.ts'),
      '--parallelism',
      '2',
      '--data-dir',
      dataDir(),
      '--kafka-port',
      '0',
      '--no-http',
    ]);
    assert.equal(result.code, 1, result.stderr);
    oneError(
      result.stderr,
      /^error PIPELINE_BUILD_FAILED: building the pipeline of \S*second-build-throws\.ts failed: second build refused \(at \S*:10:\d+\)$/m,
    );
  });

  it('fail member processes (--group --parallelism) at once, reported once, stopping those that run', async () => {
    process.env.BUILT_MARKER = path.join(dataDir(), 'built');
    const result = await sluice([
      'run',
      file('second-build-throws.ts'),
      '--group',
      'g',
      '--parallelism',
      '2',
      '--data-dir',
      dataDir(),
      '--kafka-port',
      '0',
      '--no-http',
    ]);
    assert.equal(result.code, 1, result.stderr);
    const errors = result.stderr.split('\n').filter((line) => line.startsWith('error '));
    assert.equal(errors.length, 1, result.stderr);
    assert.match(errors[0]!, /PIPELINE_BUILD_FAILED: .*second-build-throws\.ts failed: second build refused/);
    assert.doesNotMatch(result.stderr, /MEMBER_EXITED|restarting/);
  });

  it('mark a `sluice up` pipeline failed with its cause, not restarted, while the others run', async () => {
    const data = dataDir();
    const up = startSluice([
      'up',
      file('deployment.ts'),
      '--data-dir',
      data,
      '--kafka-port',
      '0',
      '--http-port',
      '0',
      '--checkpoint-interval',
      '1s',
    ]);
    try {
      await up.waitFor(
        /failed: pipeline bad failed before it started \(not restarted\): building the pipeline of \S*throws\.ts failed: no such topic/,
      );
      await up.waitFor(
        /failed: pipeline broken failed before it started \(not restarted\): \S*box\.ts:2:\d+: TypeScript parameter property/,
      );
      let status:
        | { pipelines: { name: string; state: string; detail?: string; restarts: number; lastError?: string }[] }
        | undefined;
      for (let i = 0; i < 100; i++) {
        const result = await sluice(['status', '--data-dir', data, '--json']);
        status = JSON.parse(result.stdout.toString());
        if (status!.pipelines.find((p) => p.name === 'good')?.state === 'running') break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const byName = Object.fromEntries(status!.pipelines.map((p) => [p.name, p]));
      assert.equal(byName.good?.state, 'running', JSON.stringify(status));
      assert.equal(byName.bad?.state, 'failed');
      assert.equal(byName.bad?.restarts, 0);
      assert.match(byName.bad?.lastError ?? '', /no such topic \(at \S*throws\.ts:3:9\)/);
      assert.equal(byName.broken?.state, 'failed');
      // The text status says what each state means, on a line of its own for anything not running.
      assert.match(byName.bad?.detail ?? '', /^given up on \(not restarted\): .*no such topic/);
      const text = (await sluice(['status', '--data-dir', data])).stdout.toString();
      assert.match(text, /^\s+bad: given up on \(not restarted\): .*no such topic/m);
      assert.doesNotMatch(text, /^\s+good:/m);
      assert.equal(await up.stop('SIGINT'), 0, up.output());
    } finally {
      await up.stop('SIGKILL');
    }
  });
});
