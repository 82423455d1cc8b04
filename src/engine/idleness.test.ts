// Partition idleness over a real log: a topic of two partitions where only partition 1 has data fires its windows
// once partition 0 has been idle for the source's timeout (on by default); a partition that wakes up has its
// on-time records counted; metrics show each partition's watermark and idleness; idleness does not survive a restore.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { type Log, openLog } from '../log/index.ts';
import {
  agg,
  type CollectSink,
  collect,
  DEFAULT_IDLE_TIMEOUT_MS,
  json,
  type LogSourceOptions,
  logSource,
  Pipeline,
  type SourcePartitionMetrics,
  watermarks,
  windows,
} from './index.ts';

interface Click {
  user: string;
  ts: number;
}

const dirs: string[] = [];
const logs: Log[] = [];
after(async () => {
  for (const log of logs) await log.close().catch(() => {});
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function setup(): Promise<{ log: Log; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-idleness-'));
  dirs.push(dir);
  const log = await openLog({ dataDir: path.join(dir, 'log') });
  logs.push(log);
  await log.createTopic('clicks', { partitions: 2 });
  return { log, dir };
}

async function click(log: Log, partition: number, ...timestamps: number[]): Promise<void> {
  const records = timestamps.map((ts) => ({ key: null, value: Buffer.from(JSON.stringify({ user: 'a', ts })) }));
  await log.append('clicks', partition, records);
}

/** Resolves once `condition` holds (checked on every turn of the event loop), or fails after `ms`. */
async function until(condition: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Clicks per 10 s window, late clicks to their own sink. */
function build(
  log: Log,
  source: Partial<LogSourceOptions<Click>> = {},
  options: { clock?: () => number } = {},
): { p: Pipeline; out: CollectSink<string>; late: CollectSink<number> } {
  const p = new Pipeline({ name: 'clicks', tickMs: 20, ...options });
  const out = collect<string>();
  const late = collect<number>();
  const counted = p
    .source(logSource({ log, topic: 'clicks', format: json<Click>(), ...source }))
    .uid('clicks')
    .withTimestamps((c) => c.ts, watermarks.boundedOutOfOrderness('1s'))
    .keyBy((c) => c.user)
    .window(windows.tumbling('10s'))
    .aggregate(agg.count<Click>())
    .uid('count');
  counted.map((r) => `${r.key} [${r.windowStart},${r.windowEnd}) ${r.value}`).sinkTo(out);
  counted
    .lateData()
    .map((c) => c.ts)
    .sinkTo(late);
  return { p, out, late };
}

function partitions(p: Pipeline): SourcePartitionMetrics[] {
  const sources = p.metrics().sources;
  assert.deepEqual(
    sources.map((s) => [s.operator, s.topic]),
    [['source:log:clicks', 'clicks']],
  );
  return sources[0]!.partitions;
}

describe('partition idleness of log sources', () => {
  it('fires windows once the empty partition has been idle for the timeout; it wakes up with its records', async () => {
    const { log } = await setup();
    await click(log, 1, 1000, 2000, 3000, 30_000); // partition 0 gets nothing
    const { p, out, late } = build(log, { idleTimeout: '200ms' });
    const running = p.run();
    try {
      await until(() => out.values.length > 0, 'the first window');
      assert.deepEqual(out.values, ['a [0,10000) 3']);
      const [p0, p1] = partitions(p);
      assert.equal(p0!.idle, true);
      assert.ok(p0!.idleSince !== null && p0!.idleSince <= Date.now());
      assert.deepEqual([p0!.offset, p0!.watermark], [0, null]);
      assert.deepEqual([p1!.offset, p1!.watermark], [4, 29_000]);

      // Partition 0 speaks: on time (past the watermark of 29 s) counted, behind it late; its records wake it.
      await click(log, 0, 35_000, 5000);
      await until(() => late.values.length > 0, 'the late click');
      assert.deepEqual(late.values, [5000]);
      await click(log, 1, 60_000);
      await click(log, 0, 60_000);
      await until(() => out.values.length > 1, 'the window partition 0 spoke in');
      assert.deepEqual(out.values, ['a [0,10000) 3', 'a [30000,40000) 2']);
      const operator = (name: string) => p.metrics().operators.find((o) => o.name === name)!;
      assert.equal(operator('window-tumbling').lateRecords, 1);
      // Caught up again, both partitions go idle in turn: so does the stream, its time staying where it was.
      await until(() => partitions(p).every((x) => x.idle), 'both partitions idle');
      await until(() => operator('timestamps').idle, 'the stream idle');
      assert.deepEqual(
        partitions(p).map((x) => x.watermark),
        [59_000, 59_000],
      );
      assert.equal(operator('timestamps').watermark, 59_000);
    } finally {
      p.stop();
      await running;
    }
  });

  it('holds the window back until the default timeout has passed on the pipeline clock, and again after a restore', async () => {
    const { log, dir } = await setup();
    await click(log, 1, 1000, 30_000);
    let now = 1_000_000;
    const start = (restore: boolean) => {
      const built = build(log, {}, { clock: () => now });
      built.p.enableCheckpoints({
        dir: path.join(dir, 'checkpoints'),
        intervalMs: 0,
        restoreFrom: restore ? 'latest' : 'none',
      });
      return { ...built, running: built.p.run() };
    };
    const first = start(false);
    try {
      await until(() => partitions(first.p)[1]?.watermark === 29_000, 'partition 1 read');
      // The clock has not moved: partition 0 is caught up, but not for the 10 s of the default, so it holds time.
      await first.p.checkpoint(); // a round trip through the source loop: it has polled partition 0 since
      assert.deepEqual(first.out.values, []);
      assert.deepEqual(
        partitions(first.p).map((x) => x.idle),
        [false, false],
      );
      now += DEFAULT_IDLE_TIMEOUT_MS;
      await until(() => first.out.values.length > 0, 'the window, once partition 0 is idle');
      assert.deepEqual(first.out.values, ['a [0,10000) 1']);
      await until(() => partitions(first.p).every((x) => x.idle), 'both partitions idle');
      assert.deepEqual(
        partitions(first.p).map((x) => x.idleSince),
        [now, now],
      );
    } finally {
      first.p.stop();
      await first.running;
    }

    // Restored, every partition starts active (idleness is not state) until it is idle again by the same rule.
    const second = start(true);
    try {
      await until(() => second.p.metrics().running && partitions(second.p).length === 2, 'the restored run');
      await second.p.checkpoint();
      assert.deepEqual(
        partitions(second.p).map((x) => [x.idle, x.watermark]),
        [
          [false, null],
          [false, 29_000],
        ],
      );
      await click(log, 1, 41_000);
      await until(() => partitions(second.p)[1]?.watermark === 40_000, 'the new click');
      await second.p.checkpoint();
      assert.deepEqual(second.out.values, [], 'partition 0 holds time back again (at 29 s) until its timeout');
      now += DEFAULT_IDLE_TIMEOUT_MS;
      await until(() => second.out.values.length > 0, 'the window, once partition 0 is idle again');
      assert.deepEqual(second.out.values, ['a [30000,40000) 1']);
    } finally {
      second.p.stop();
      await second.running;
    }
  });
});
