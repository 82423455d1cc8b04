// The in-memory Nexmark source: events 0..count-1 of the generator, in order, in batches, resumable from a snapshot.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NexmarkGenerator } from './generator.ts';
import type { NexmarkEvent } from './model.ts';
import { nexmarkSource } from './sources.ts';

async function readAll(source: ReturnType<typeof nexmarkSource>) {
  const signal = new AbortController().signal;
  const sizes: number[] = [];
  const events: NexmarkEvent[] = [];
  for (let b = await source.poll(signal); b !== null; b = await source.poll(signal)) {
    assert.equal(b.timestamps.length, b.values.length);
    sizes.push(b.values.length);
    events.push(...b.values);
  }
  return { sizes, events };
}

describe('nexmarkSource', () => {
  it("hands out the generator's events 0..count-1 in order, in batches of batchSize, the last one shorter", async () => {
    const generator = new NexmarkGenerator();
    const { sizes, events } = await readAll(nexmarkSource(generator, 250, 100));
    assert.deepEqual(sizes, [100, 100, 50]);
    assert.deepEqual(
      events,
      Array.from({ length: 250 }, (_, i) => generator.event(i)),
    );
  });

  it('resumes from its snapshot', async () => {
    const generator = new NexmarkGenerator();
    const first = nexmarkSource(generator, 300, 64);
    const signal = new AbortController().signal;
    await first.poll(signal);
    await first.poll(signal);
    const position = first.snapshot!();
    assert.equal(position, 128);
    const second = nexmarkSource(generator, 300, 64);
    second.restore!(position);
    const { events } = await readAll(second);
    assert.equal(events.length, 172);
    assert.deepEqual(events[0], generator.event(128));
    assert.deepEqual(events.at(-1), generator.event(299));
  });
});
