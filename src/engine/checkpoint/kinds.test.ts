// Operator kinds in checkpoints: state is matched to operators by uid and stable kind, never by class name, so a
// renamed (or minified) class restores, another kind of operator is refused naming the operator, and the class
// names older checkpoints stored are read as the kinds they stand for.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agg, collect, fromArrays, Pipeline, type WindowAssigner, watermarks, windows } from '../index.ts';
import { PaneWindowOperator } from '../operators/window-aggregate.ts';
import { buildLegacyPipeline } from './fixtures/legacy-pipeline.ts';
import type { CheckpointData } from './format.ts';

const input = Array.from({ length: 50 }, (_, i) => i);

/** Counts per parity in 20 s windows (uid `counts`), over `input` with one record per second. */
function build(bounded: boolean, assigner: WindowAssigner = windows.tumbling('20s')) {
  const p = new Pipeline({ name: 'kinds', bounded });
  const out = collect<string>();
  p.source(fromArrays([input], { batchSize: 10 }))
    .withTimestamps((v) => v * 1000, watermarks.ascending())
    .keyBy((v) => v % 2)
    .window(assigner)
    .aggregate(agg.count())
    .uid('counts')
    .map((r) => `${r.key}@${r.windowStart}=${r.value}`)
    .sinkTo(out);
  return { p, out };
}

/** The state of a streaming run over the whole input: its last window still open. */
async function midway(): Promise<CheckpointData> {
  const { p } = build(false);
  await p.run(); // the source ends; without `bounded` no final watermark fires the open window
  return structuredClone(p.snapshot());
}

async function restoreInto(snapshot: CheckpointData, assigner?: WindowAssigner): Promise<string[]> {
  const { p, out } = build(true, assigner);
  p.restore(snapshot);
  await p.run();
  return out.values;
}

describe('operator kinds in checkpoints', () => {
  it('name every operator the stream API builds with a stable kind, never its class', () => {
    const { p } = buildLegacyPipeline({ bounded: true });
    const kinds = new Set(Object.values(p.snapshot().operators).map((o) => o.kind));
    for (const kind of kinds) assert.match(kind, /^[a-z]+(-[a-z]+)*$/);
    for (const kind of ['window-tumbling', 'window-sliding', 'window-session', 'rolling', 'keyed-process']) {
      assert.ok(kinds.has(kind), kind);
    }
    for (const kind of ['interval-join', 'window-join', 'enrich', 'temporal-join', 'timestamps', 'union', 'sink']) {
      assert.ok(kinds.has(kind), kind);
    }
  });

  it('restore state whose operator class has been renamed since (as minification does)', async () => {
    const snapshot = await midway();
    assert.equal(snapshot.operators.counts?.kind, 'window-tumbling');
    const name = Object.getOwnPropertyDescriptor(PaneWindowOperator, 'name')!;
    Object.defineProperty(PaneWindowOperator, 'name', { value: 'e' });
    try {
      assert.deepEqual(await restoreInto(snapshot), ['0@40000=5', '1@40000=5']);
    } finally {
      Object.defineProperty(PaneWindowOperator, 'name', name);
    }
  });

  it('refuse state of another kind of operator, naming the operator and both kinds', async () => {
    const snapshot = await midway();
    await assert.rejects(restoreInto(snapshot, windows.sliding('20s', '10s')), {
      code: 'INCOMPATIBLE_CHECKPOINT',
      message: /operator "counts" was a window-tumbling and is now a window-sliding/,
    });
    await assert.rejects(restoreInto(snapshot, windows.session('5s')), {
      code: 'INCOMPATIBLE_CHECKPOINT',
      message: /operator "counts" was a window-tumbling and is now a window-session/,
    });
  });

  it('read the class names older checkpoints stored as the kinds they stand for', async () => {
    const snapshot = await midway();
    snapshot.operators.counts!.kind = 'PaneWindowOperator';
    assert.deepEqual(await restoreInto(structuredClone(snapshot)), ['0@40000=5', '1@40000=5']);
    snapshot.operators.counts!.kind = 'SessionWindowOperator';
    await assert.rejects(restoreInto(snapshot), {
      code: 'INCOMPATIBLE_CHECKPOINT',
      message: /operator "counts" was a SessionWindowOperator and is now a window-tumbling/,
    });
  });
});
