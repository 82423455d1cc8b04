// `npm run bench -- checkpoint`: what checkpoints cost. Each case runs in its own process.
//   throughput: events/s of a keyed tumbling count (state: KEYS keys) with checkpoints every second versus none,
//               alternated three times; overhead = 1 - with/without (medians).
//   pause:      a checkpoint of 10k, 100k and 1M keys on demand: the pause (sources held at the barrier: snapshot
//               and serialisation), the whole duration (until the file is durable) and its size; then the time to
//               restore a fresh pipeline from it (read, verify, deserialise, rebuild state).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Source, SourceBatch } from '../src/engine/index.ts';
import { agg, countingSink, generator, Pipeline, watermarks, windows } from '../src/engine/index.ts';

const { values: flags } = parseArgs({
  options: {
    case: { type: 'string' },
    keys: { type: 'string', default: '100000' },
    events: { type: 'string', default: '20000000' },
    checkpoints: { type: 'string', default: '0' },
  },
});

interface Ev {
  key: number;
  ts: number;
}

function build(source: Source<Ev>, bounded: boolean) {
  const p = new Pipeline({ name: 'bench', bounded });
  const sink = countingSink<unknown>();
  p.source(source)
    .withTimestamps((e) => e.ts, watermarks.ascending())
    .keyBy((e) => e.key)
    .window(windows.tumbling('1d')) // one window over the whole run: the state is one accumulator per key
    .aggregate(agg.count())
    .uid('counts')
    .sinkTo(sink);
  return { p, sink };
}

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-ckpt-'));

async function throughputCase(): Promise<unknown> {
  const keys = Number(flags.keys);
  const events = Number(flags.events);
  const every = Number(flags.checkpoints);
  const dir = tempDir();
  try {
    const { p } = build(
      generator(events, (i) => ({ key: (i * 2654435761) % keys, ts: i })),
      true,
    );
    if (every > 0) p.enableCheckpoints({ dir, intervalMs: every });
    const start = performance.now();
    await p.run();
    const seconds = (performance.now() - start) / 1000;
    const m = p.metrics().checkpoints;
    return {
      eventsPerSec: Math.round(events / seconds),
      checkpoints: m.completed,
      lastPauseMs: m.last?.pauseMs ?? null,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One record per key, then waits (a caught-up live source). */
function keysSource(keys: number): Source<Ev> {
  let i = 0;
  return {
    name: 'keys',
    async open() {},
    channels: () => [0],
    async poll(signal): Promise<SourceBatch<Ev> | null> {
      if (i < keys) {
        const n = Math.min(8192, keys - i);
        const values = Array.from({ length: n }, (_, j) => ({ key: i + j, ts: i + j }));
        i += n;
        return { channel: 0, values, timestamps: values.map(() => 0) };
      }
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return { channel: 0, values: [], timestamps: [] };
    },
    snapshot: () => i,
    restore: (position) => {
      i = position as number;
    },
    async close() {},
  };
}

async function pauseCase(): Promise<unknown> {
  const keys = Number(flags.keys);
  const dir = tempDir();
  try {
    const { p } = build(keysSource(keys), false);
    p.enableCheckpoints({ dir, intervalMs: 0 });
    const running = p.run();
    while ((p.metrics().operators.find((o) => o.name === 'window-tumbling')?.stateSize ?? 0) < keys) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const infos = [];
    for (let r = 0; r < 3; r++) infos.push(await p.checkpoint());
    p.stop();
    await running;
    infos.sort((a, b) => a.pauseMs - b.pauseMs);
    const median = infos[1]!;

    // Recovery: a fresh pipeline restores the latest checkpoint before its source opens.
    let openedAt = 0;
    const source = keysSource(keys);
    const timed: Source<Ev> = {
      ...source,
      open: async (ctx) => {
        openedAt = performance.now();
        await source.open(ctx);
      },
    };
    const restored = build(timed, false).p.enableCheckpoints({ dir, intervalMs: 0 });
    const start = performance.now();
    const again = restored.run();
    while (openedAt === 0) await new Promise((resolve) => setImmediate(resolve));
    const recoveryMs = Math.round(openedAt - start);
    const restoredKeys = restored.metrics().operators.find((o) => o.name === 'window-tumbling')?.stateSize;
    restored.stop();
    await again;
    if (restoredKeys !== keys) throw new Error(`restored ${restoredKeys} keys, expected ${keys}`);
    return { keys, pauseMs: median.pauseMs, durationMs: median.durationMs, bytes: median.bytes, recoveryMs };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (flags.case !== undefined) {
  const result = flags.case === 'pause' ? await pauseCase() : await throughputCase();
  console.log(JSON.stringify(result));
} else {
  const run = (args: string[]) => {
    const out = execFileSync(process.execPath, [import.meta.filename, ...args], {
      encoding: 'utf8',
      env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' },
    });
    return JSON.parse(out.trim().split('\n').at(-1)!);
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const throughput: Record<string, unknown> = {};
  for (const keys of [100_000, 1_000_000]) {
    const without: number[] = [];
    const withCheckpoints: number[] = [];
    let pauses: unknown;
    for (let r = 0; r < 3; r++) {
      // About five seconds per run at either size.
      const events = ['--events', String(keys === 100_000 ? 60_000_000 : 20_000_000)];
      without.push(run(['--case', 'throughput', '--keys', String(keys), ...events]).eventsPerSec);
      const w = run(['--case', 'throughput', '--keys', String(keys), '--checkpoints', '1000', ...events]);
      withCheckpoints.push(w.eventsPerSec);
      pauses = w;
    }
    const a = median(without);
    const b = median(withCheckpoints);
    throughput[`keys${keys}`] = {
      withoutCheckpoints: a,
      checkpointsEverySecond: b,
      overhead: Math.round((1 - b / a) * 1000) / 1000,
      lastRun: pauses,
    };
  }
  const pause: Record<string, unknown> = {};
  for (const keys of [10_000, 100_000, 1_000_000])
    pause[`keys${keys}`] = run(['--case', 'pause', '--keys', String(keys)]);
  console.log(JSON.stringify({ bench: 'checkpoint', throughput, pause }));
}
