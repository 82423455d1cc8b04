// Whole pipelines on in-memory sources: bounded runs, union and side outputs, dead letters and fail-fast,
// backpressure from a slow sink, metrics, and snapshot/restore of a running pipeline's state.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Source } from './connector.ts';
import { agg, collect, fromArrays, generator, Pipeline, watermarks, windows } from './index.ts';

/** Resolves once `condition` holds (checked on every turn of the event loop), or fails after `ms`. */
async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A live source with nothing to say: it waits for stop(). */
function silentSource<T>(name: string): Source<T> {
  return {
    name,
    async open() {},
    channels: () => [0],
    poll: (signal) =>
      new Promise((resolve) => {
        const done = () => resolve({ channel: 0, values: [], timestamps: [] });
        if (signal.aborted) done();
        else signal.addEventListener('abort', done, { once: true });
      }),
    async close() {},
  };
}

describe('pipelines', () => {
  it('run a bounded input to completion with a final watermark', async () => {
    const p = new Pipeline({ bounded: true });
    const out = collect<string>();
    p.source(fromArrays([[1, 2, 3, 4, 5, 6]], { timestamp: (v) => v * 1000 }))
      .withTimestamps((v) => v * 1000, watermarks.ascending())
      .keyBy((v) => (v % 2 ? 'odd' : 'even'))
      .window(windows.tumbling('1h'))
      .aggregate(agg.sum((v: number) => v))
      .map((r) => `${r.key}=${r.value}`)
      .sinkTo(out);
    await p.run();
    assert.deepEqual(out.values.sort(), ['even=12', 'odd=9']);
    const window = p.metrics().operators.find((o) => o.name === 'window-tumbling')!;
    assert.deepEqual([window.recordsIn, window.recordsOut, window.watermark], [6, 2, Number.POSITIVE_INFINITY]);
    assert.ok(window.ratePerSec > 0);
    assert.equal(window.stateSize, 0, 'the final watermark fired and dropped every window');
  });

  it('union streams and route records to side outputs', async () => {
    const p = new Pipeline({ bounded: true });
    const main = collect<number>();
    const small = collect<number>();
    const a = p.source(fromArrays([[1, 20]]));
    const b = p.source(fromArrays([[3, 40]]));
    const routed = a.union(b).process<number>((v, ctx) => (v < 10 ? ctx.output('small', v) : ctx.emit(v)));
    routed.sinkTo(main);
    routed.sideOutput<number>('small').sinkTo(small);
    await p.run();
    assert.deepEqual(
      main.values.sort((x, y) => x - y),
      [20, 40],
    );
    assert.deepEqual(
      small.values.sort((x, y) => x - y),
      [1, 3],
    );
  });

  it('sends bad records to the dead-letter stream and keeps going, or fails fast when asked', async () => {
    const build = (onError: 'dead-letter' | 'fail') => {
      const p = new Pipeline({ bounded: true, onError });
      const out = collect<number>();
      const dead = collect<{ error: string }>();
      p.source(fromArrays([[1, 0, 2]]))
        .map((v) => {
          if (v === 0) throw new Error('division by zero');
          return 10 / v;
        })
        .sinkTo(out);
      p.deadLetters().sinkTo(dead);
      return { p, out, dead };
    };
    const tolerant = build('dead-letter');
    await tolerant.p.run();
    assert.deepEqual(tolerant.out.values, [10, 5]);
    assert.deepEqual(
      tolerant.dead.values.map((d) => d.error),
      ['division by zero'],
    );
    assert.equal(tolerant.p.metrics().deadLetters, 1);
    const strict = build('fail');
    await assert.rejects(strict.p.run(), { code: 'BAD_RECORD', message: /division by zero/ });
  });

  it('slows the source down to a slow sink: one batch in flight, backpressure visible in metrics', async () => {
    let polled = 0;
    let written = 0;
    let maxAhead = 0;
    const source: Source<number> = {
      name: 'counter',
      async open() {},
      channels: () => [0],
      async poll() {
        if (polled >= 10) return null;
        polled++;
        maxAhead = Math.max(maxAhead, polled - written);
        return { channel: 0, values: Array.from({ length: 100 }, (_, i) => i), timestamps: new Array(100).fill(0) };
      },
      async close() {},
    };
    const p = new Pipeline({ bounded: true });
    const slow = collect<number>({ delayMs: 20 });
    const write = slow.write.bind(slow);
    slow.write = (batch) => {
      const done = write(batch) as Promise<void>;
      return done.then(() => {
        written++;
      });
    };
    p.source(source)
      .map((v) => v + 1)
      .sinkTo(slow);
    let sampled = 0;
    const sampler = setInterval(() => {
      sampled = Math.max(sampled, p.metrics().operators.find((o) => o.name === 'map')!.backpressure);
    }, 50);
    await p.run();
    clearInterval(sampler);
    assert.equal(slow.values.length, 1000);
    assert.ok(maxAhead <= 1, `the source ran ${maxAhead} batches ahead of the sink`);
    assert.ok(sampled > 0.5, `backpressure ${sampled} should show the map waiting on the sink most of the time`);
  });

  it('keeps sources that always have data in step, batch by batch, across the turns given to timers', async () => {
    // One input costs more per batch than the other; were each source loop to take its own turn for timers, the
    // cheap one would run alone for a few milliseconds at a time and race ahead (a join would buffer the gap).
    const done = [0, 0];
    let maxGap = 0;
    const p = new Pipeline({ bounded: true });
    const make = (input: number) =>
      p.source(generator(40 * 64, (i) => i, 64)).map((v) => {
        if (v % 64 === 0) {
          if (input === 0) for (const end = performance.now() + 0.5; performance.now() < end; );
          done[input]!++;
          maxGap = Math.max(maxGap, Math.abs(done[0]! - done[1]!));
        }
        return v;
      });
    const out = collect<number>();
    make(0).union(make(1)).sinkTo(out);
    await p.run();
    assert.equal(out.values.length, 2 * 40 * 64);
    assert.ok(maxGap <= 2, `one source ran ${maxGap} batches ahead of the other`);
  });

  it('hands a large window firing to the sink in batches as the rows are made', async () => {
    const p = new Pipeline({ bounded: true });
    const sizes: number[] = [];
    const rows: number[] = [];
    p.source(fromArrays([Array.from({ length: 10_000 }, (_, i) => i)]))
      .withTimestamps(() => 0, watermarks.ascending())
      .keyBy((v) => v)
      .window(windows.tumbling('10s'))
      .aggregate(agg.count())
      .sinkTo({
        name: 'batches',
        write(batch) {
          sizes.push(batch.values.length);
          for (const r of batch.values) rows.push(r.key);
        },
      });
    await p.run();
    assert.deepEqual(sizes, [4096, 4096, 1808], 'one window of 10,000 keys, in batches of at most 4,096');
    assert.deepEqual(
      rows,
      Array.from({ length: 10_000 }, (_, i) => i),
    );
  });

  it('stops waiting for a silent stream after its idle timeout: a union downstream follows the live one', async () => {
    let now = 0;
    const p = new Pipeline({ clock: () => now, tickMs: 60_000 });
    const out = collect<string>();
    const strategy = watermarks.boundedOutOfOrderness(0, { idleTimeout: '10s' });
    const live = p.source(fromArrays([[1, 2, 3, 12]])).withTimestamps((v) => v * 1000, strategy);
    const silent = p.source(silentSource<number>('silent')).withTimestamps((v) => v * 1000, strategy);
    live
      .union(silent)
      .keyBy(() => 'all')
      .window(windows.tumbling('10s'))
      .aggregate(agg.count())
      .map((r) => `[${r.windowStart},${r.windowEnd}) ${r.value}`)
      .sinkTo(out);
    const running = p.run();
    await until(() => p.metrics().operators.find((o) => o.name === 'union')!.recordsIn === 4, 'the live records');
    p.tick();
    assert.deepEqual(out.values, [], 'the silent stream holds time back until its idle timeout');
    now = 10_000;
    p.tick();
    assert.deepEqual(out.values, ['[0,10000) 3']);
    const timestamps = p.metrics().operators.filter((o) => o.name.startsWith('timestamps'));
    assert.deepEqual(
      timestamps.map((o) => o.idle),
      [true, true],
    );
    p.stop();
    await running;
  });

  it('restores a snapshot (source positions and window state) into a fresh pipeline with the same results', async () => {
    const input = Array.from({ length: 10 }, (_, i) => i);
    const build = (bounded: boolean, stopAfter?: number) => {
      const p = new Pipeline({ bounded });
      const out = collect<string>();
      const inner = fromArrays([input], { batchSize: 3 });
      let polls = 0;
      const source: Source<number> = {
        ...inner,
        // The unbounded run reads `stopAfter` batches, then waits for stop() like a live source at its end.
        poll: (signal) =>
          stopAfter !== undefined && polls++ >= stopAfter
            ? new Promise((resolve) =>
                signal.addEventListener('abort', () => resolve({ channel: 0, values: [], timestamps: [] })),
              )
            : inner.poll(signal),
      };
      p.source(source)
        .withTimestamps((v) => v * 1000, watermarks.ascending())
        .keyBy((v) => v % 2)
        .window(windows.tumbling('5s'))
        .aggregate(agg.sum((v: number) => v))
        .map((r) => `${r.key}@${r.windowStart}=${r.value}`)
        .sinkTo(out);
      return { p, out };
    };
    const full = build(true);
    await full.p.run();

    const first = build(false, 2);
    const running = first.p.run();
    await until(() => Object.values(first.p.snapshot().sources)[0]?.toString() === '6', 'two batches read');
    first.p.stop();
    await running;
    const snapshot = structuredClone(first.p.snapshot());
    assert.deepEqual(Object.values(snapshot.sources), [[6]]);
    const second = build(true);
    second.p.restore(snapshot);
    await second.p.run();
    assert.deepEqual([...first.out.values, ...second.out.values].sort(), [...full.out.values].sort());
  });
});
