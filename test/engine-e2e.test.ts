// End to end through the engine: the windowed-counts example over a real log, fed out of order across three
// partitions with a late event; results and late events land in their topics exactly once. Then the same file
// through `sluice run` with Kafka clients on both ends.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import windowedCounts, { type Event, type WindowTotal } from '../examples/windowed-counts.ts';
import { type Log, openLog, partitionForKey } from '../src/log/index.ts';
import { sluice, startSluice } from '../support/processes.ts';
import { eventually } from './helpers/broker.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-'));
  dirs.push(dir);
  return dir;
}

function readAll<T>(log: Log, topic: string): T[] {
  const out: T[] = [];
  for (const p of log.describeTopic(topic).partitions) {
    for (let offset = p.logStartOffset; offset < log.describeTopic(topic).partitions[p.partition]!.logEndOffset; ) {
      const page = log.readRecords(topic, p.partition, offset, { maxBytes: 1 << 20 });
      for (const r of page.records) out.push(JSON.parse(r.value!.toString()) as T);
      offset = page.nextOffset;
    }
  }
  return out;
}

async function produce(log: Log, events: Event[]): Promise<void> {
  for (const e of events) {
    const partition = partitionForKey(Buffer.from(e.key), 3);
    await log.append('events', partition, [{ key: Buffer.from(e.key), value: Buffer.from(JSON.stringify(e)) }]);
  }
}

describe('engine end to end', () => {
  it('windowed counts over the log with disorder and late data', async () => {
    const log = await openLog({ dataDir: tempDir() });
    const pipeline = await windowedCounts({ log, bounded: false, dataDir: log.dataDir });
    const running = pipeline.run();
    const keys = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
    // Minute 0, out of order by up to 4 s, then minute 1 advancing every partition's watermark past 60 s.
    const minute0: Event[] = [];
    for (let i = 0; i < 120; i++) minute0.push({ key: keys[i % 6]!, ts: 500 * i + ((i * 7919) % 4000), value: i });
    try {
      await produce(log, minute0);
      // Every partition must pass 65 s (the watermark is the minimum over partitions), whichever keys it holds.
      for (let partition = 0; partition < 3; partition++) {
        const e = { key: `advance-${partition}`, ts: 70_000, value: 0 };
        await log.append('events', partition, [{ key: Buffer.from(e.key), value: Buffer.from(JSON.stringify(e)) }]);
      }
      await eventually(
        () => log.hasTopic('window-totals') && readAll(log, 'window-totals').length === 6,
        'window 0 results',
      );
      // Late but within the 30 s of allowed lateness: alpha's window is updated.
      await produce(log, [{ key: 'alpha', ts: 2000, value: 100 }]);
      await eventually(() => readAll(log, 'window-totals').length === 7, 'the update of window 0');
      // Past the lateness everywhere: a late event goes to events-late.
      for (let partition = 0; partition < 3; partition++) {
        const e = { key: `advance-${partition}`, ts: 100_000, value: 0 };
        await log.append('events', partition, [{ key: Buffer.from(e.key), value: Buffer.from(JSON.stringify(e)) }]);
      }
      await produce(log, [{ key: 'alpha', ts: 1000, value: -1 }]);
      await eventually(() => readAll(log, 'events-late').length === 1, 'the late event');
    } finally {
      pipeline.stop();
      await running;
    }

    const all = readAll<WindowTotal>(log, 'window-totals');
    const update = all.filter((t) => t.kind === 'update');
    const totals = all.filter((t) => t.kind === 'insert').sort((a, b) => a.key.localeCompare(b.key));
    const expected = keys
      .map((key) => {
        const mine = minute0.filter((e) => e.key === key && e.ts < 60_000);
        return {
          window_start: 0,
          window_end: 60_000,
          key,
          cnt: mine.length,
          total: mine.reduce((s, e) => s + e.value, 0),
          kind: 'insert',
        };
      })
      .sort((a, b) => a.key.localeCompare(b.key));
    assert.deepEqual(totals, expected);
    const alpha = expected.find((t) => t.key === 'alpha')!;
    assert.deepEqual(update, [{ ...alpha, cnt: alpha.cnt + 1, total: alpha.total + 100, kind: 'update' }]);
    assert.deepEqual(readAll<Event>(log, 'events-late'), [{ key: 'alpha', ts: 1000, value: -1 }]);
    await log.close();
  });

  it('`sluice run` serves the pipeline to Kafka clients', async () => {
    const dataDir = tempDir();
    const runner = startSluice([
      'run',
      'examples/windowed-counts.ts',
      '--data-dir',
      dataDir,
      '--kafka-port',
      '0',
      '--http-port',
      '0',
    ]);
    const bootstrap = (await runner.waitFor(/Kafka protocol on ([\d.]+:\d+)/))[1]!;
    const lines = [
      { key: 'k', ts: 1000, value: 2 },
      { key: 'k', ts: 5000, value: 3 },
      { key: 'k', ts: 65_000, value: 1 },
    ].map((e) => JSON.stringify(e));
    // One key, one partition; the other two partitions get events past the window too.
    const produced = await sluice(
      ['produce', 'events', '--key-field', 'key', '--bootstrap', bootstrap],
      lines.join('\n'),
    );
    assert.equal(produced.code, 0, produced.stderr);
    const others = ['x1', 'x2', 'x3', 'x4', 'x5', 'x6'].map((key) => JSON.stringify({ key, ts: 65_000, value: 0 }));
    await sluice(['produce', 'events', '--key-field', 'key', '--bootstrap', bootstrap], others.join('\n'));
    const consumed = await sluice([
      'consume',
      'window-totals',
      '--from-beginning',
      '-n',
      '1',
      '--bootstrap',
      bootstrap,
    ]);
    assert.deepEqual(JSON.parse(consumed.stdout.toString()), {
      window_start: 0,
      window_end: 60_000,
      key: 'k',
      cnt: 2,
      total: 5,
      kind: 'insert',
    });
    assert.equal(await runner.stop('SIGINT'), 0);
    assert.match(runner.output(), /sluice run: stopped/);
  });
});
