// Checkpoints of a running pipeline: on-demand and periodic checkpoints, files that are atomic, checksummed and
// retained, fallback from a corrupt checkpoint, savepoints across a code change (state matched by uid), clear
// errors for incompatible changes, and the restart policy.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../logger.ts';
import type { Source, SourceBatch } from '../connector.ts';
import { agg, collect, Pipeline, watermarks, windows } from '../index.ts';
import { decodeCheckpoint, encodeCheckpoint } from './format.ts';
import { CheckpointStore, readCheckpointFile, requestSavepoint } from './store.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ckpt-'));
  dirs.push(dir);
  return dir;
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A live source over `input` that hands out batches only as the test allows (then waits, like a caught-up log). */
function gatedSource(
  input: number[],
  batchSize = 10,
): Source<number> & { allow(batches: number): void; read(): number } {
  let position = 0;
  let allowed = 0;
  let wake: (() => void) | undefined;
  return {
    name: 'gated',
    async open() {},
    channels: () => [0],
    async poll(signal): Promise<SourceBatch<number> | null> {
      while (allowed === 0 || position >= input.length) {
        if (signal.aborted) return { channel: 0, values: [], timestamps: [] };
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
      allowed--;
      const values = input.slice(position, position + batchSize);
      position += values.length;
      return { channel: 0, values, timestamps: values.map(() => 0) };
    },
    allow(batches) {
      allowed += batches;
      wake?.();
    },
    read: () => position,
    snapshot: () => position,
    restore: (p) => {
      position = p as number;
    },
    async close() {},
  };
}

const input = Array.from({ length: 200 }, (_, i) => i);

/** v1: counts per parity in 20 s windows; v2 adds a stateless step before the window (the code change). */
function build(source: Source<number>, options: { version?: 1 | 2; uid?: string; bounded?: boolean } = {}) {
  const p = new Pipeline({ name: 'parity', bounded: options.bounded ?? false });
  const out = collect<string>();
  let stream = p.source(source).withTimestamps((v) => v * 1000, watermarks.ascending());
  if (options.version === 2) stream = stream.map((v) => v).filter(() => true);
  const windowed = stream
    .keyBy((v) => v % 2)
    .window(windows.tumbling('20s'))
    .aggregate(agg.sum((v: number) => v));
  if (options.uid !== '') windowed.uid(options.uid ?? 'sums');
  windowed.map((r) => `${r.key}@${r.windowStart}=${r.value}`).sinkTo(out);
  return { p, out };
}

/** The results of an uninterrupted run that reads the whole input and is then stopped. */
async function expected(): Promise<string[]> {
  const source = gatedSource(input);
  const full = build(source);
  source.allow(1000);
  const finished = full.p.run();
  await until(() => source.read() === input.length, 'the whole input');
  full.p.stop();
  await finished;
  return full.out.values;
}

describe('checkpoint files', () => {
  it('refuse truncated, foreign, future-version and corrupted files with precise codes', () => {
    const bytes = encodeCheckpoint({
      pipeline: 'p',
      id: 1,
      kind: 'checkpoint',
      takenAt: 0,
      sources: {},
      operators: { a: { kind: 'X', state: new Map([[1, { n: 2 }]]), time: null } },
      sinks: {},
    });
    assert.deepEqual(decodeCheckpoint(bytes, 'f').operators.a?.state, new Map([[1, { n: 2 }]]));
    assert.throws(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 1), 'f'), { code: 'CORRUPT_CHECKPOINT' });
    assert.throws(() => decodeCheckpoint(Buffer.from('hello world, not a checkpoint'), 'f'), {
      code: 'CORRUPT_CHECKPOINT',
    });
    const future = Buffer.from(bytes);
    future.writeUInt32BE(99, 8);
    assert.throws(() => decodeCheckpoint(future, 'f'), { code: 'UNSUPPORTED_CHECKPOINT' });
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 3]! ^= 0xff;
    assert.throws(() => decodeCheckpoint(flipped, 'f'), { code: 'CORRUPT_CHECKPOINT', message: /checksum/ });
  });

  it('keep the newest `retain` checkpoints and fall back past a corrupt newest one', async () => {
    const dir = tempDir();
    const store = new CheckpointStore(dir, 2, createLogger('test'));
    const data = (id: number) =>
      encodeCheckpoint({ pipeline: 'p', id, kind: 'checkpoint', takenAt: 0, sources: {}, operators: {}, sinks: {} });
    for (const id of [1, 2, 3]) await store.writeCheckpoint(id, data(id));
    assert.deepEqual(store.ids(), [3, 2]);
    assert.equal(store.latest()?.data.id, 3);
    fs.writeFileSync(store.checkpointFile(3), data(3).subarray(0, 20)); // a torn write the rename should prevent
    assert.equal(store.latest()?.data.id, 2);
    assert.ok(!fs.readdirSync(dir).some((f) => f.includes('.tmp-')), 'no temporary files left behind');
  });
});

describe('checkpointed pipelines', () => {
  it('resume from the latest checkpoint after a crash with the same results as an uninterrupted run', async () => {
    const want = await expected();
    const dir = tempDir();
    const source = gatedSource(input);
    const built = build(source);
    const first = built.p.enableCheckpoints({ dir, intervalMs: 0 });
    const running = first.run();
    await until(() => first.metrics().checkpoints.completed === 1, 'the initial checkpoint');
    source.allow(7);
    await until(() => source.read() === 70, '7 batches');
    const info = await first.checkpoint();
    const atCheckpoint = built.out.values.length; // what an exactly-once sink keeps after the crash
    assert.equal(info.kind, 'checkpoint');
    assert.ok(info.pauseMs >= 0 && info.durationMs >= info.pauseMs && info.bytes > 0);
    source.allow(3); // processed after the checkpoint, then lost in the "crash"
    await until(() => source.read() === 100, '3 more batches');
    first.stop({ checkpoint: false }); // a crash: no last checkpoint
    await running;
    const saved = readCheckpointFile(info.file);
    assert.equal(saved.sources['source:gated'], 70);

    // A new process: same code, restored from the checkpoint, replays batches 8-10 and the rest.
    const source2 = gatedSource(input);
    const { p: second, out } = build(source2);
    second.enableCheckpoints({ dir, intervalMs: 0 });
    const running2 = second.run();
    source2.allow(1000);
    await until(() => source2.read() === input.length, 'the rest');
    second.stop();
    await running2;
    assert.equal(second.metrics().checkpoints.restoredFrom, info.file);
    const kept = built.out.values.slice(0, atCheckpoint);
    assert.deepEqual([...kept, ...out.values].sort(), [...want].sort());
    // A graceful stop takes a last checkpoint: the next start resumes at the very end, replaying nothing.
    assert.equal(readCheckpointFile(second.metrics().checkpoints.last!.file).sources['source:gated'], input.length);
  });

  it('take savepoints on request, and start from one after adding a stateless operator', async () => {
    const want = await expected();
    const dir = tempDir();
    const source = gatedSource(input);
    const v1 = build(source);
    v1.p.enableCheckpoints({ dir, intervalMs: 0 });
    const running = v1.p.run();
    source.allow(9);
    await until(() => source.read() === 90, '9 batches');
    const file = await requestSavepoint(dir, 'before-upgrade', 10_000); // as `sluice savepoint` does
    v1.p.stop();
    await running;

    const source2 = gatedSource(input);
    const v2 = build(source2, { version: 2 });
    v2.p.enableCheckpoints({ dir, intervalMs: 0, restoreFrom: { file } });
    const running2 = v2.p.run();
    source2.allow(1000);
    await until(() => source2.read() === input.length, 'the rest');
    v2.p.stop();
    await running2;
    assert.deepEqual([...v1.out.values, ...v2.out.values].sort(), [...want].sort());
  });

  it('refuse state that no operator claims or that another kind of operator would get', async () => {
    const dir = tempDir();
    const source = gatedSource(input);
    const v1 = build(source);
    v1.p.enableCheckpoints({ dir, intervalMs: 0 });
    const running = v1.p.run();
    source.allow(2);
    await until(() => source.read() === 20, '2 batches');
    const { file } = await v1.p.checkpoint({ savepoint: 'sp' });
    v1.p.stop();
    await running;

    const renamed = build(gatedSource(input), { uid: 'renamed' });
    renamed.p.enableCheckpoints({ dir, intervalMs: 0, restoreFrom: { file } });
    await assert.rejects(renamed.p.run(), { code: 'INCOMPATIBLE_CHECKPOINT', message: /"sums".*\.uid/ });

    const allowed = build(gatedSource(input), { uid: 'renamed' });
    allowed.p.enableCheckpoints({ dir, intervalMs: 0, restoreFrom: { file }, allowNonRestoredState: true });
    const r = allowed.p.run();
    await until(() => allowed.p.metrics().running, 'started');
    allowed.p.stop();
    await r;

    const other = new Pipeline({ name: 'parity' });
    other
      .source(gatedSource(input))
      .withTimestamps((v) => v * 1000, watermarks.ascending())
      .keyBy((v) => v % 2)
      .window(windows.session('20s'))
      .aggregate(agg.count())
      .uid('sums')
      .sinkTo(collect());
    other.enableCheckpoints({ dir, intervalMs: 0, restoreFrom: { file } });
    await assert.rejects(other.run(), { code: 'INCOMPATIBLE_CHECKPOINT', message: /was a .* and is now a/ });

    const duplicate = new Pipeline({ name: 'dup' });
    duplicate
      .source(gatedSource(input))
      .uid('x')
      .map((v) => v)
      .uid('x')
      .sinkTo(collect());
    await assert.rejects(duplicate.run(), { code: 'DUPLICATE_UID' });
  });

  it('checkpoint periodically while data flows', async () => {
    const dir = tempDir();
    const source = gatedSource(input, 1);
    const { p } = build(source);
    p.enableCheckpoints({ dir, intervalMs: 20, retain: 2 });
    const running = p.run();
    for (let i = 0; i < 40; i++) {
      source.allow(5);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await until(() => p.metrics().checkpoints.completed >= 4, 'four checkpoints');
    p.stop();
    await running;
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ckpt'));
    assert.equal(files.length, 2, `retains two: ${files}`);
  });
});
