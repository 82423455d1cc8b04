// Sluice as users get it: `npm pack`, the tarball installed into fresh projects outside the repository (no
// sources, no development condition), a pipeline importing from 'sluice' run with `npx sluice run` against the
// embedded log, fed by kcat and queried; streaming SQL from the package (p.sql, a .sql file run); and `sluice init`'s
// starter project installed, tested and type-checked.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { partitionForKey } from '../src/log/index.ts';
import { installed, type RunResult, run } from '../support/processes.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-package-'));

/**
 * The environment of a user's shell: this Node first on PATH (the machine's own may be older), and none of what
 * `npm test` sets for the repository — no NODE_OPTIONS condition that points `sluice` at the sources, no npm_*
 * variables that would make npm treat the repository as the project.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.toLowerCase().startsWith('npm_') && name !== 'NODE_OPTIONS' && name !== 'NODE_TEST_CONTEXT') {
      env[name] = value;
    }
  }
  const repoBin = path.join(ROOT, 'node_modules', '.bin');
  const rest = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir && !dir.startsWith(ROOT));
  env.PATH = [path.dirname(process.execPath), ...rest.filter((dir) => dir !== repoBin)].join(path.delimiter);
  return env;
}

function sh(command: string, args: string[], cwd: string, input?: string): Promise<RunResult> {
  return run(command, args, input, 240_000, { cwd, env: userEnv() });
}

async function ok(command: string, args: string[], cwd: string, input?: string): Promise<string> {
  const result = await sh(command, args, cwd, input);
  assert.equal(result.code, 0, `${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout.toString();
}

// Installing and starting processes is slow on a loaded machine: each test gets a generous timeout of its own (a
// suite's timeout does not reach its tests); the waits inside give up on a stuck process, not a slow one.
const SLOW = { timeout: 600_000 };

/** The tarball, and what it holds (from `npm pack --json`). */
let tarball: string;
let packed: string[];

before(async () => {
  const json = await ok('npm', ['pack', '--json', '--pack-destination', work], ROOT);
  const [info] = JSON.parse(json) as [{ filename: string; files: { path: string }[] }];
  tarball = path.join(work, info.filename);
  packed = info.files.map((f) => f.path);
}, SLOW);

after(() => fs.rmSync(work, { recursive: true, force: true }));

/** A new project with the tarball installed from the npm cache (its dependencies are the lockfile's, cached). */
async function newProject(name: string, extra: string[] = []): Promise<string> {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  await ok('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, ...extra], dir);
  return dir;
}

describe('the npm package', () => {
  test('ships the built JavaScript, its types, the dashboard and the starter templates, nothing else', () => {
    for (const file of packed) {
      assert.match(file, /^(package\.json|README\.md|bin\/sluice\.js|dist\/(src|examples|web)\/|templates\/starter\/)/);
      if (!file.startsWith('templates/')) {
        assert.doesNotMatch(file, /(^|\/)(test|bench)\/|\.test\.|\.map$/, `${file} is not for users`);
      }
      if (file.startsWith('dist/')) assert.match(file, /\.(js|d\.ts)$|^dist\/web\//, `${file} in dist/`);
    }
    for (const needed of [
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/testing.js',
      'dist/src/kafka.js',
      'dist/src/sql/index.js',
    ]) {
      assert.ok(packed.includes(needed), `${needed} is missing`);
    }
    assert.ok(packed.includes('dist/web/dist/index.html'), 'the dashboard is missing');
    assert.ok(!packed.some((f) => f.startsWith('src/')), 'TypeScript sources are not shipped');
  });

  test('a pipeline in a user project: npx sluice run, kcat produces, the table answers SQL', SLOW, async (t) => {
    const dir = await newProject('app');
    const resolved = await ok('node', ['--input-type=module', '-e', "console.log(import.meta.resolve('sluice'))"], dir);
    assert.match(resolved.trim(), /\/app\/node_modules\/sluice\/dist\/src\/index\.js$/);
    fs.writeFileSync(path.join(dir, 'clicks.ts'), CLICK_COUNTS);
    if (!installed('kcat')) return t.skip('kcat is not installed (apt-get install kcat)');

    // Its own process group: npx runs sluice under a shell, and Ctrl-C reaches all three through the group.
    const daemon = spawn('npx', ['sluice', 'run', 'clicks.ts', '--kafka-port', '0', '--http-port', '0'], {
      cwd: dir,
      env: userEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    daemon.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    daemon.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    try {
      const started = await until(() => output.match(/Kafka protocol on ([\d.]+:\d+); HTTP on (http:\S+)/), 180_000);
      assert.ok(started, `sluice run did not start:\n${output}`);
      const [, kafka, http] = started;
      // Three users whose keys Kafka's partitioner puts into the same one of the topic's two partitions, so the
      // other partition stays empty: the default partition idleness must keep it from holding time back.
      const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
      const same = users.filter((u) => partitionForKey(Buffer.from(u), 2) === 1).slice(0, 3);
      assert.equal(same.length, 3);
      const lines = [
        ...same.map((u, i) => `${u}:{"user":"${u}","ts":${1000 + i}}`),
        `${same[0]}:{"user":"x","ts":30000}`,
      ];
      const produced = await sh('kcat', ['-b', kafka!, '-t', 'clicks', '-P', '-K:'], dir, `${lines.join('\n')}\n`);
      assert.equal(produced.code, 0, produced.stderr);

      const query = ['sluice', 'query', '--url', http!, '--json', 'SELECT "user", clicks FROM click_counts ORDER BY 1'];
      let last: RunResult | undefined;
      const rows = await until(async () => {
        const result = (last = await sh('npx', query, dir));
        const parsed =
          result.code === 0 ? (JSON.parse(result.stdout.toString()) as { user: string; clicks: string }[]) : [];
        // BIGINT comes as a string in JSON (it may exceed 2^53).
        return parsed.length >= 3 ? parsed.map((r) => ({ user: r.user, clicks: Number(r.clicks) })) : undefined;
      }, 240_000);
      const view = rows ? '' : await fetch(`${http}/v1/pipelines`).then((r) => r.text(), String);
      assert.deepEqual(
        rows,
        same.sort().map((user) => ({ user, clicks: 1 })),
        `the table never answered (last query: ${last?.stdout}${last?.stderr}; pipelines: ${view}):\n${output}`,
      );
      assert.doesNotMatch(output, /EBADENGINE|ExperimentalWarning/);
    } finally {
      const closed = new Promise((resolve) => daemon.once('close', resolve));
      process.kill(-daemon.pid!, 'SIGINT');
      const timer = setTimeout(() => process.kill(-daemon.pid!, 'SIGKILL'), 30_000);
      await closed;
      clearTimeout(timer);
    }
  });

  test('streaming SQL from the package: p.sql in a TypeScript pipeline, sluice run of a .sql file', SLOW, async () => {
    const dir = await newProject('sql');
    fs.writeFileSync(path.join(dir, 'query.ts'), SQL_QUERY);
    const out = await ok('node', ['query.ts'], dir);
    assert.deepEqual(JSON.parse(out), [{ name: 'bob', score: 20 }]);

    fs.writeFileSync(path.join(dir, 'copy.sql'), SQL_FILE);
    const ran = await ok(
      'npx',
      ['sluice', 'run', 'copy.sql', '--bounded', '--no-kafka', '--no-http', '--data-dir', path.join(dir, 'data')],
      dir,
    );
    assert.doesNotMatch(ran, /Error/);
  });

  test(
    'sluice init: the starter project installs, passes its own test and type-checks against the .d.ts',
    SLOW,
    async () => {
      const tool = await newProject('tool');
      await ok('npx', ['sluice', 'init', '../starter'], tool);
      const starter = path.join(work, 'starter');
      const manifest = JSON.parse(fs.readFileSync(path.join(starter, 'package.json'), 'utf8'));
      assert.match(manifest.dependencies.sluice, /^\^\d+\.\d+\.\d+/);
      // The dependency as published would come from the registry; here it is this build's tarball.
      await ok('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], starter);
      const tested = await ok('npm', ['test'], starter);
      assert.match(tested, /(ℹ|#) pass 2\b/);
      await ok('npm', ['run', 'typecheck'], starter);

      // A wrong field name in a user's file is a compile error against the published declarations.
      fs.writeFileSync(
        path.join(starter, 'wrong.ts'),
        "import { logSource, json, type PipelineLog } from 'sluice';\n" +
          "export const source = (log: PipelineLog) => logSource({ log, topics: 'events', format: json() });\n",
      );
      const typecheck = await sh('npm', ['run', 'typecheck'], starter);
      assert.notEqual(typecheck.code, 0);
      assert.match(typecheck.stdout.toString(), /wrong\.ts\(2,\d+\): error TS\d+: .*'topics'/);

      // It refuses to overwrite what is there.
      const again = await sh('npx', ['sluice', 'init', '../starter'], tool);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /already has package\.json/);
    },
  );
});

/** Polls `probe` until it returns something, or gives up after `timeoutMs` (generous: a loaded machine is slow). */
async function until<T>(probe: () => T | undefined | null | Promise<T | undefined | null>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const CLICK_COUNTS = `import { agg, definePipeline, ensureTopic, json, logSource, Pipeline, serveTable, watermarks, windows } from 'sluice';

interface Click {
  user: string;
  ts: number;
}

export default definePipeline(async ({ log, bounded, serving }) => {
  await ensureTopic(log, 'clicks', { partitions: 2 });
  const p = new Pipeline({ name: 'click-counts', bounded });
  const counts = p
    .source(logSource({ log, topic: 'clicks', format: json<Click>() }))
    .withTimestamps((c) => c.ts, watermarks.boundedOutOfOrderness('1s'))
    .keyBy((c) => c.user)
    .window(windows.tumbling('10s'))
    .aggregate(agg.count<Click>())
    .map((r) => ({ user: r.key, window_start: r.windowStart, clicks: r.value }));
  if (!serving) throw new Error('sluice run provides a serving store');
  counts.sinkTo(
    serveTable({
      store: serving,
      name: 'click_counts',
      columns: [
        { name: 'user', type: 'VARCHAR' },
        { name: 'window_start', type: 'TIMESTAMP_MS' },
        { name: 'clicks', type: 'BIGINT' },
      ],
      key: ['user', 'window_start'],
    }),
  );
  return p;
});
`;

/** A TypeScript program mixing DataStream operators with p.sql (Node runs the .ts file, stripping its types). */
const SQL_QUERY = `import { fromArrays, Pipeline, type SqlRow } from 'sluice';
import { collect } from 'sluice/testing';

const p = new Pipeline({ name: 'query', bounded: true });
const clicks = p.source(fromArrays([[{ name: 'alice', n: 1 }, { name: 'bob', n: 2 }]])).map((c) => ({ ...c, n: c.n }));
const rows = await p.sql<{ name: string; score: number }>(
  'CREATE TABLE clicks (name VARCHAR, n BIGINT); SELECT name, n * 10 AS score FROM clicks WHERE n > 1;',
  { streams: { clicks } },
);
const out = collect<SqlRow>();
rows.map((r) => ({ name: r.name, score: r.score })).sinkTo(out);
await p.run();
console.log(JSON.stringify(out.values));
`;

/** A SQL pipeline file (\`sluice run copy.sql\`): creates its topics, copies nothing in a bounded run. */
const SQL_FILE = `CREATE TABLE clicks (name VARCHAR, ts BIGINT) WITH ('topic' = 'clicks');
CREATE TABLE copied (name VARCHAR, ts BIGINT) WITH ('topic' = 'copied');
INSERT INTO copied SELECT name, ts FROM clicks WHERE ts > 0;
`;
