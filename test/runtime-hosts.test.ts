// Every host of the runtime against one tiny pipeline (fixtures/runtime-tiny.ts), under the one supervisor: in this
// process, in a worker thread, in a worker process, and as a member process of a consumer group. Each starts it,
// shows it (metrics, topology, checkpoints, positions, state), stops it, is restarted after a crash, and fails for
// good at once when the first start cannot build the pipeline. One conformance suite, a few lines per host.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startBroker } from '../src/kafka/index.ts';
import { type Log, openLog } from '../src/log/index.ts';
import { createLogger } from '../src/logger.ts';
import {
  buildPipeline,
  GroupMemberHost,
  InProcessHost,
  loadPipelineFile,
  type PipelineHost,
  type RuntimeView,
  Supervisor,
  WorkerProcessHost,
  WorkerThreadHost,
} from '../src/runtime/index.ts';

const TINY = fileURLToPath(new URL('./fixtures/runtime-tiny.ts', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const logger = createLogger('test');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-runtime-'));
let log: Log;
let broker: Awaited<ReturnType<typeof startBroker>>;
let sent = 0;

before(async () => {
  log = await openLog({ dataDir: path.join(root, 'log') });
  await log.createTopic('runtime-in', { partitions: 2 });
  broker = await startBroker({ log, host: '127.0.0.1', port: 0, autoCreateTopics: true });
});
after(async () => {
  delete process.env.RUNTIME_TINY_THROWS;
  await broker.close();
  await log.close();
  fs.rmSync(root, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Records read by the view's sources so far. */
const recordsIn = (views: RuntimeView[]) =>
  views
    .flatMap((v) => v.metrics().operators)
    .filter((o) => o.name.startsWith('source:'))
    .reduce((n, o) => n + o.recordsIn, 0);

async function feed(count: number): Promise<void> {
  for (let p = 0; p < 2; p++) {
    const records = Array.from({ length: count / 2 }, () => ({
      key: null,
      value: Buffer.from(JSON.stringify({ n: ++sent })),
      timestamp: Date.now(),
    }));
    await log.append('runtime-in', p, records);
  }
}

interface HostCase {
  /** A host for the tiny pipeline, checkpointing into `dir`. */
  make(dir: string): PipelineHost;
  /** The names its views have (one pipeline, or one per task). */
  views: string[];
}

function conformance(name: string, host: HostCase): void {
  describe(`${name} host`, () => {
    const supervise = (dir: string) =>
      new Supervisor({
        host: host.make(dir),
        name,
        logger,
        restart: { initialDelayMs: 20, maxDelayMs: 50 },
        stopTimeoutMs: 30_000,
      });

    it('starts the pipeline, shows it, and stops it', async () => {
      const supervisor = supervise(fs.mkdtempSync(path.join(root, 'run-'))).start();
      await supervisor.ready;
      assert.equal(supervisor.state, 'running');
      const before = recordsIn(supervisor.views());
      await feed(10);
      const views = await until('the records in the view', () => {
        const now = supervisor.views();
        return recordsIn(now) >= before + 10 && now.length === host.views.length ? now : undefined;
      });
      assert.deepEqual(
        views.map((v) => v.name),
        host.views,
      );
      const [view] = views;
      assert.equal(view!.state, 'running');
      assert.equal(view!.host, name);
      assert.ok(view!.topology().nodes.some((n) => n.kind === 'source'));
      assert.ok(view!.sourcePositions().some((s) => s.topic === 'runtime-in'));
      assert.ok(Array.isArray(view!.history.snapshot().checkpoints));
      assert.equal(view!.metrics().name, view!.name);
      await supervisor.stop();
      assert.equal(supervisor.state, 'stopped');
    });

    it('restarts it after a crash, and counts the restart in its view', async () => {
      const supervisor = supervise(fs.mkdtempSync(path.join(root, 'crash-'))).start();
      await supervisor.ready;
      assert.ok(supervisor.kill());
      await until('the restart', () => supervisor.restarts() === 1 && supervisor.state === 'running');
      const view = await until('a view of the new incarnation', () => supervisor.views()[0]);
      assert.equal(view.metrics().restarts, 1);
      assert.equal(view.history.snapshot().restarts.length, 1);
      await supervisor.stop();
      assert.equal(supervisor.state, 'stopped');
    });

    it('fails for good at once when the first start cannot build the pipeline', async () => {
      process.env.RUNTIME_TINY_THROWS = '1';
      try {
        const supervisor = supervise(fs.mkdtempSync(path.join(root, 'throws-'))).start();
        await assert.rejects(supervisor.done, { code: 'PIPELINE_BUILD_FAILED', message: /tiny refuses to build/ });
        assert.equal(supervisor.state, 'failed');
        assert.equal(supervisor.restarts(), 0);
      } finally {
        delete process.env.RUNTIME_TINY_THROWS;
      }
    });
  });
}

const worker = (dir: string) => ({
  fileUrl: pathToFileURL(TINY).href,
  dataDir: dir,
  bounded: false,
  checkpointDir: path.join(dir, 'checkpoints'),
  checkpointIntervalMs: 200,
});

conformance('in-process', {
  make: (dir) =>
    new InProcessHost({
      build: async () => {
        const pipeline = await buildPipeline(TINY, await loadPipelineFile(TINY), { log, bounded: false, dataDir: dir });
        pipeline.enableCheckpoints({ dir: path.join(dir, 'checkpoints'), intervalMs: 200 });
        return pipeline;
      },
    }),
  views: ['runtime-tiny'],
});

conformance('worker-thread', {
  make: (dir) => new WorkerThreadHost({ name: 'tiny', log, start: worker(dir) }),
  views: ['runtime-tiny'],
});

conformance('worker-process', {
  make: (dir) => new WorkerProcessHost({ name: 'tiny', log, start: worker(dir) }),
  views: ['runtime-tiny'],
});

let members = 0;
conformance('group-member', {
  make: (dir) =>
    new GroupMemberHost({
      entry: MAIN,
      // A group of its own per test: a killed member's successor need not wait out the dead one's session.
      args: [
        'run',
        TINY,
        '--bootstrap',
        broker.address,
        '--parallelism',
        '1',
        '--group',
        `tiny-${++members}`,
        '--data-dir',
        dir,
        '--checkpoint-interval',
        '200ms',
        '--session-timeout',
        '2s',
        '--no-http',
      ],
      index: 0,
    }),
  views: ['runtime-tiny#0', 'runtime-tiny#1'],
});
