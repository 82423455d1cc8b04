// What the dashboard reads from the engine: the dataflow graph (sources, operators, sinks and the edges between
// them, side outputs included), source positions for consumer lag, and the history of checkpoints and restarts,
// which survives the supervisor's rebuilds of a failing pipeline.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { openLog } from '../log/index.ts';
import { collect, fromArrays, json, logSource, Pipeline, PipelineHistory } from './index.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-history-'));
  dirs.push(dir);
  return dir;
}

describe('pipeline topology', () => {
  it('lists sources, operators and sinks with their edges, side outputs and two-input operators', () => {
    const p = new Pipeline({ name: 'shape', bounded: true });
    const a = p.source(fromArrays([[1, 20]]));
    const b = p.source(fromArrays([[3, 40]]));
    const routed = a.union(b).process<number>((v, ctx) => (v < 10 ? ctx.output('small', v) : ctx.emit(v)));
    routed.map((v) => v * 2).sinkTo(collect());
    routed.sideOutput<number>('small').sinkTo(collect());
    const topology = p.topology();
    assert.equal(topology.name, 'shape');
    const kinds = Object.fromEntries(topology.nodes.map((n) => [n.id, n.kind]));
    assert.deepEqual(kinds, {
      'source:memory': 'source',
      'source:memory-2': 'source',
      union: 'operator',
      process: 'operator',
      map: 'operator',
      'sink:collect': 'sink',
      'sink:collect-2': 'sink',
    });
    const edges = topology.edges.map((e) => `${e.from}->${e.to}${e.side ? `[${e.side}]` : ''}#${e.input}`).sort();
    const expected = [
      'source:memory->union#0',
      'source:memory-2->union#1',
      'union->process#0',
      'process->map#0',
      'process->sink:collect-2[small]#0',
      'map->sink:collect#0',
    ];
    assert.deepEqual(edges, expected.sort());
    assert.equal(topology.nodes.find((n) => n.id === 'process')!.description, 'ProcessOperator');
    assert.equal(topology.nodes.find((n) => n.id === 'sink:collect')!.description, 'collect');
  });

  it('shows the dead-letter output only when something reads it', () => {
    const p = new Pipeline({ name: 'letters' });
    p.source(fromArrays([[1]])).sinkTo(collect());
    assert.ok(!p.topology().nodes.some((n) => n.kind === 'dead-letters'));
    p.deadLetters().sinkTo(collect());
    const topology = p.topology();
    assert.ok(topology.nodes.some((n) => n.kind === 'dead-letters'));
    assert.ok(topology.edges.some((e) => e.from === 'dead-letters' && e.to === 'sink:collect-2'));
  });

  it('reports where log sources stand in each partition', async () => {
    const log = await openLog({ dataDir: tempDir() });
    try {
      await log.createTopic('numbers', { partitions: 2 });
      await log.append('numbers', 0, [
        { key: null, value: Buffer.from('1') },
        { key: null, value: Buffer.from('2') },
      ]);
      await log.append('numbers', 1, [{ key: null, value: Buffer.from('3') }]);
      const p = new Pipeline({ name: 'reader', bounded: true });
      p.source(logSource({ log, topic: 'numbers', format: json<number>() })).sinkTo(collect());
      assert.deepEqual(p.sourcePositions(), [{ operator: 'source:log:numbers', topic: 'numbers', offsets: [] }]);
      await p.run();
      assert.deepEqual(p.sourcePositions(), [{ operator: 'source:log:numbers', topic: 'numbers', offsets: [2, 1] }]);
    } finally {
      await log.close();
    }
  });
});

describe('pipeline history', () => {
  it('records each checkpoint with its duration and size, and failed ones with the error', async () => {
    const p = new Pipeline({ name: 'checkpointed', bounded: true });
    p.source(fromArrays([[1, 2, 3]])).sinkTo(collect());
    p.enableCheckpoints({ dir: tempDir(), intervalMs: 0 });
    await p.run(); // the first checkpoint, before any record, and the last one, at the end
    const first = p.history.snapshot().checkpoints;
    assert.equal(first.length, 2);
    assert.equal(first[0]!.status, 'completed');
    assert.equal(first[0]!.kind, 'checkpoint');
    assert.ok(first[0]!.bytes! > 0 && first[0]!.durationMs >= 0 && first[0]!.startedAt > 0, JSON.stringify(first));

    const failing = new Pipeline({ name: 'failing-checkpoints', bounded: true });
    failing
      .source(fromArrays([[1]]))
      .sinkTo({ name: 'refuses', write() {}, prepareCheckpoint: () => Promise.reject(new Error('disk full')) });
    failing.enableCheckpoints({ dir: tempDir(), intervalMs: 0 });
    await assert.rejects(failing.run(), /disk full/);
    const [failed] = failing.history.snapshot().checkpoints;
    assert.equal(failed!.status, 'failed');
    assert.equal(failed!.bytes, null);
    assert.match(failed!.error!, /disk full/);
    assert.equal(failing.metrics().checkpoints.failed, 1);
  });

  it('keeps the last N entries', () => {
    const history = new PipelineHistory(3);
    for (let id = 1; id <= 5; id++) {
      history.recordCheckpoint({
        id,
        kind: 'checkpoint',
        startedAt: id,
        status: 'completed',
        durationMs: 1,
        pauseMs: 0,
        bytes: 10,
      });
      history.recordRestart({ at: id, code: null, message: `boom ${id}`, failures: id, restartInMs: 10 });
    }
    const snapshot = history.snapshot();
    assert.deepEqual(
      snapshot.checkpoints.map((c) => c.id),
      [3, 4, 5],
    );
    assert.deepEqual(
      snapshot.restarts.map((r) => r.message),
      ['boom 3', 'boom 4', 'boom 5'],
    );
    assert.equal(history.restarts, 5, 'the count is of every restart, not only the ones kept');
  });
});
