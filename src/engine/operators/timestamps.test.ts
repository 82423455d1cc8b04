// Event time through the harness: watermarks per channel (source partition), idleness from the source and from
// the strategy's timeout, idle inputs left out downstream, and records with a bad timestamp sent aside.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OperatorHarness } from '../harness.ts';
import { UnionOperator } from './stateless.ts';
import { TimestampAssigner } from './timestamps.ts';

describe('timestamps and watermarks', () => {
  it('tracks the maximum per channel and emits the minimum over channels minus the bound', () => {
    const h = new OperatorHarness(new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 5 }));
    h.process([], 0, 0).process([], 0, 1); // two partitions announced
    h.process([[{ ts: 100 }, 0]], 0, 0);
    assert.deepEqual(h.emittedWatermarks(), [], 'partition 1 has not spoken: hold');
    h.process([[{ ts: 50 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [45]);
    h.process(
      [
        [{ ts: 70 }, 0],
        [{ ts: 60 }, 0],
      ],
      0,
      1,
    );
    assert.deepEqual(h.emittedWatermarks(), [45, 65]);
    assert.deepEqual(
      h.output().map((e) => e.timestamp),
      [100, 50, 70, 60],
      'records carry their event time',
    );
  });

  it('ignores an idle channel after the idle timeout, and counts it again when it speaks', () => {
    const h = new OperatorHarness(
      new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 0, idleTimeoutMs: 1000 }),
    );
    h.processingTime(0);
    h.process([[{ ts: 10 }, 0]], 0, 0).process([[{ ts: 500 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [10]);
    h.processingTime(500).process([[{ ts: 600 }, 0]], 0, 1);
    h.processingTime(1200); // channel 0 silent for 1.2 s
    assert.deepEqual(h.emittedWatermarks(), [10, 600]);
    h.process([[{ ts: 20 }, 0]], 0, 0); // back: it holds the watermark again (never goes backwards)
    h.process([[{ ts: 700 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [10, 600]);
  });

  it('marks the stream idle once every channel is, and active again when one speaks', () => {
    const h = new OperatorHarness(
      new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 0, idleTimeoutMs: 1000 }),
    );
    h.processingTime(0);
    h.process([], 0, 0).process([[{ ts: 10 }, 0]], 0, 1);
    h.processingTime(999);
    assert.equal(h.outputIdle(), false);
    h.processingTime(1000);
    assert.equal(h.outputIdle(), true, 'both channels silent for the idle timeout');
    h.process([[{ ts: 20 }, 0]], 0, 0);
    assert.equal(h.outputIdle(), false);
    assert.deepEqual(h.emittedWatermarks(), [10, 20], 'all idle: time went to the most advanced channel first');
  });

  it('moves time to the most advanced channel when the last active one goes idle, as Flink does', () => {
    // Two partitions caught up a moment apart: the one ahead (30 s) went idle first, then the one behind (1 s).
    // Waiting for the one behind would hold every window back for ever; nothing is expected anywhere now.
    const h = new OperatorHarness(new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 1000 }));
    h.processingTime(0);
    h.process([], 0, 0).process([], 0, 1);
    h.process([[{ ts: 1002 }, 0]], 0, 0);
    h.process(
      [
        [{ ts: 1000 }, 0],
        [{ ts: 30_000 }, 0],
      ],
      0,
      1,
    );
    assert.deepEqual(h.emittedWatermarks(), [2]);
    h.channelIdle(1);
    assert.deepEqual(h.emittedWatermarks(), [2], 'the one behind still speaks for the minimum');
    h.channelIdle(0);
    assert.deepEqual(h.emittedWatermarks(), [2, 29_000], 'all idle: the most advanced one');
    assert.equal(h.outputIdle(), true);
    h.process([[{ ts: 5000 }, 0]], 0, 0);
    assert.deepEqual(h.emittedWatermarks(), [2, 29_000], 'a channel waking behind never moves time back');
  });

  it('leaves a channel its source reported idle out of the minimum until its records wake it', () => {
    const h = new OperatorHarness(new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 5 }));
    const assigner = h.node.operator as TimestampAssigner<{ ts: number }>;
    h.processingTime(1000);
    h.process([], 0, 0).process([], 0, 1); // two partitions announced
    h.process([[{ ts: 100 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [], 'partition 0 has not spoken: hold');
    h.processingTime(60_000);
    assert.deepEqual(h.emittedWatermarks(), [], 'no idleTimeout of its own: silence alone does not make it idle');
    h.processingTime(61_000).channelIdle(0);
    assert.deepEqual(h.emittedWatermarks(), [95], 'its source says it is idle: left out');
    assert.deepEqual(assigner.channelTimes().get(0), { watermark: Number.NEGATIVE_INFINITY, idleSince: 61_000 });
    assert.equal(h.outputIdle(), false, 'partition 1 is still active');
    h.process([[{ ts: 200 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [95, 195]);
    // Woken by its records, which go on before the watermark counts it again: on time, and never backwards.
    h.output();
    h.process([[{ ts: 150 }, 0]], 0, 0);
    assert.deepEqual(h.values(), [{ ts: 150 }]);
    assert.deepEqual(h.emittedWatermarks(), [95, 195], 'partition 0 holds time at 145 now, not backwards');
    assert.deepEqual(assigner.channelTimes().get(0), { watermark: 145, idleSince: null });
    h.process([[{ ts: 300 }, 0]], 0, 1).process([[{ ts: 260 }, 0]], 0, 0);
    assert.deepEqual(h.emittedWatermarks(), [95, 195, 255]);
    // An explicit wake-up without records counts the channel again at the time it had reached.
    h.channelIdle(0).process([[{ ts: 400 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [95, 195, 255, 295, 395]);
    h.channelIdle(0, false).process([[{ ts: 500 }, 0]], 0, 1);
    assert.deepEqual(h.emittedWatermarks(), [95, 195, 255, 295, 395], 'partition 0 holds at 255 again');
  });

  it('marks the stream idle once its source reports every channel idle, and active with the next record', () => {
    const h = new OperatorHarness(new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 0 }));
    h.process([], 0, 0)
      .process([], 0, 1)
      .process([[{ ts: 10 }, 0]], 0, 1);
    h.channelIdle(0);
    assert.equal(h.outputIdle(), false);
    assert.deepEqual(h.emittedWatermarks(), [10]);
    h.channelIdle(1);
    assert.equal(h.outputIdle(), true, 'every channel idle: so is the stream');
    h.channelIdle(1); // said twice: nothing changes
    h.process([[{ ts: 20 }, 0]], 0, 0);
    assert.equal(h.outputIdle(), false);
    assert.deepEqual(h.emittedWatermarks(), [10, 20]);
  });

  it("combines the source's idleness with the strategy's idleTimeout: either leaves a channel out", () => {
    const h = new OperatorHarness(
      new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 0, idleTimeoutMs: 1000 }),
    );
    const assigner = h.node.operator as TimestampAssigner<{ ts: number }>;
    h.processingTime(0);
    h.process([[{ ts: 10 }, 0]], 0, 0)
      .process([[{ ts: 20 }, 0]], 0, 1)
      .process([[{ ts: 30 }, 0]], 0, 2);
    assert.deepEqual(h.emittedWatermarks(), [10]);
    h.channelIdle(0); // by its source
    assert.deepEqual(h.emittedWatermarks(), [10, 20]);
    h.processingTime(600).process([[{ ts: 40 }, 0]], 0, 2);
    h.processingTime(1000); // channel 1 silent for its idleTimeout
    assert.deepEqual(h.emittedWatermarks(), [10, 20, 40]);
    assert.deepEqual(
      [...assigner.channelTimes()].map(([c, t]) => [c, t.idleSince]),
      [
        [0, 0],
        [1, 1000],
        [2, null],
      ],
    );
    h.processingTime(1600);
    assert.equal(h.outputIdle(), true, 'channel 2 silent too: the stream is idle');
  });

  it('starts every channel active after a restore: idleness is not state', () => {
    const strategy = { maxOutOfOrdernessMs: 0 };
    const h = new OperatorHarness(new TimestampAssigner((v: { ts: number }) => v.ts, strategy));
    h.process([[{ ts: 10 }, 0]], 0, 0)
      .process([[{ ts: 50 }, 0]], 0, 1)
      .channelIdle(0);
    assert.deepEqual(h.emittedWatermarks(), [10, 50]);
    const state = structuredClone(h.snapshot());
    assert.doesNotMatch(JSON.stringify(state), /idle/i);
    const assigner = new TimestampAssigner((v: { ts: number }) => v.ts, strategy);
    const restored = new OperatorHarness(assigner);
    assigner.restore(state);
    assert.deepEqual(
      [...assigner.channelTimes()].map(([c, t]) => [c, t.watermark, t.idleSince]),
      [
        [0, 10, null],
        [1, 50, null],
      ],
    );
    restored.process([[{ ts: 70 }, 0]], 0, 1);
    assert.deepEqual(restored.emittedWatermarks(), [], 'partition 0 holds time at 10 again until it is idle again');
    restored.channelIdle(0);
    assert.deepEqual(restored.emittedWatermarks(), [70]);
  });

  it('leaves idle inputs out of the minimum downstream, and holds when all are idle', () => {
    const h = new OperatorHarness(new UnionOperator<number>(), { inputs: 2 });
    h.watermark(100, 0);
    assert.deepEqual(h.emittedWatermarks(), [], 'input 1 holds time back');
    h.idle(true, 1);
    assert.deepEqual(h.emittedWatermarks(), [100]);
    assert.equal(h.outputIdle(), false);
    h.idle(true, 0);
    assert.equal(h.outputIdle(), true, 'all inputs idle: so is the union');
    h.watermark(150, 1).idle(false, 1);
    assert.equal(h.outputIdle(), false);
    assert.deepEqual(h.emittedWatermarks(), [100, 150], 'input 0 is still idle');
    h.idle(false, 0);
    h.watermark(300, 1);
    assert.deepEqual(h.emittedWatermarks(), [100, 150], 'input 0 is back at 100: never backwards, hold');
    h.watermark(200, 0);
    assert.deepEqual(h.emittedWatermarks(), [100, 150, 200]);
  });

  it('sends records with a bad timestamp to the dead letters', () => {
    const h = new OperatorHarness(new TimestampAssigner((v: { ts: number }) => v.ts, { maxOutOfOrdernessMs: 0 }));
    h.process([
      [{ ts: Number.NaN }, 0],
      [{ ts: 5 }, 0],
    ]);
    assert.equal(h.output().length, 1);
    assert.match(h.deadLetters[0]!.error, /not a finite number/);
  });
});
