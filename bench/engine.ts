// `npm run bench -- engine [--events N]`: events/s on one core through the engine, each case beside a hand-written
// loop computing the same result in the same run (the JavaScript limit), from an in-memory generator:
//   (a) map + filter, (b) 10-second tumbling count per key over 100,000 keys, (c) 1-minute sliding average with a
//   10-second slide, (d) interval join of two streams.
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { agg, countingSink, generator, Pipeline, watermarks, windows } from '../src/engine/index.ts';

const { values: flags } = parseArgs({
  options: { events: { type: 'string', default: '3000000' }, case: { type: 'string' } },
});
const N = Number(flags.events);
const KEYS = 100_000;

interface Ev {
  key: number;
  ts: number;
  value: number;
}
// 1000 events per second of event time, keys spread by a multiplicative hash.
const make = (i: number): Ev => ({ key: (i * 2654435761) % KEYS, ts: i, value: i % 100 });

async function time(run: () => Promise<unknown> | unknown): Promise<{ eps: number; result: unknown }> {
  const start = performance.now();
  const result = await run();
  return { eps: Math.round((N * 1000) / (performance.now() - start)), result };
}

async function engineMapFilter() {
  const p = new Pipeline({ bounded: true });
  const sink = countingSink<number>();
  p.source(generator(N, make))
    .map((e) => e.value * 2)
    .filter((v) => v % 3 === 0)
    .sinkTo(sink);
  await p.run();
  return sink.count;
}
function loopMapFilter() {
  let count = 0;
  for (let i = 0; i < N; i++) {
    const v = make(i).value * 2;
    if (v % 3 === 0) count++;
  }
  return count;
}

async function engineTumbling() {
  const p = new Pipeline({ bounded: true });
  const sink = countingSink<unknown>();
  p.source(generator(N, make))
    .withTimestamps((e) => e.ts, watermarks.ascending())
    .keyBy((e) => e.key)
    .window(windows.tumbling('10s'))
    .aggregate(agg.count())
    .sinkTo(sink);
  await p.run();
  return sink.count;
}
function loopTumbling() {
  let rows = 0;
  let windowStart = 0;
  let counts = new Map<number, number>();
  for (let i = 0; i < N; i++) {
    const e = make(i);
    const start = e.ts - (e.ts % 10_000);
    if (start !== windowStart) {
      rows += counts.size;
      counts = new Map();
      windowStart = start;
    }
    counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
  }
  return rows + counts.size;
}

async function engineSliding() {
  const p = new Pipeline({ bounded: true });
  const sink = countingSink<unknown>();
  p.source(generator(N, make))
    .withTimestamps((e) => e.ts, watermarks.ascending())
    .keyBy((e) => e.key % 1000)
    .window(windows.sliding('1m', '10s'))
    .aggregate(agg.avg((e: Ev) => e.value))
    .sinkTo(sink);
  await p.run();
  return sink.count;
}
/** The same with panes by hand: sums and counts per 10 s pane and key, each window merging its 6 panes. */
function loopSliding() {
  const panes = new Map<number, Map<number, [number, number]>>();
  let rows = 0;
  let lastPane = -1;
  const fire = (paneStart: number) => {
    // Windows ending at paneStart: [paneStart - 60 s, paneStart).
    const merged = new Map<number, [number, number]>();
    for (let p = paneStart - 60_000; p < paneStart; p += 10_000) {
      for (const [key, [s, c]] of panes.get(p) ?? []) {
        const m = merged.get(key);
        if (m) {
          m[0] += s;
          m[1] += c;
        } else merged.set(key, [s, c]);
      }
    }
    for (const [, [s, c]] of merged) if (s / c >= 0) rows++;
    panes.delete(paneStart - 60_000);
  };
  for (let i = 0; i < N; i++) {
    const e = make(i);
    const pane = e.ts - (e.ts % 10_000);
    if (pane !== lastPane) {
      if (lastPane >= 0) fire(pane);
      lastPane = pane;
      panes.set(pane, new Map());
    }
    const map = panes.get(pane)!;
    const key = e.key % 1000;
    const acc = map.get(key);
    if (acc) {
      acc[0] += e.value;
      acc[1]++;
    } else map.set(key, [e.value, 1]);
  }
  for (let p = lastPane + 10_000; p <= lastPane + 60_000; p += 10_000) fire(p);
  return rows;
}

// Interval join: N/2 "views" and N/2 "clicks"; each click matches views of its key in the preceding 100 ms.
async function engineJoin() {
  const p = new Pipeline({ bounded: true });
  const sink = countingSink<unknown>();
  const half = N / 2;
  const views = p
    .source(generator(half, (i) => ({ key: i % 1000, ts: i, value: i })))
    .withTimestamps((e) => e.ts, watermarks.ascending());
  const clicks = p
    .source(generator(half, (i) => ({ key: (i * 7) % 1000, ts: i, value: i })))
    .withTimestamps((e) => e.ts, watermarks.ascending());
  clicks
    .keyBy((e) => e.key)
    .intervalJoin(
      views.keyBy((e) => e.key),
      { lower: -100, upper: 0 },
      (c, v) => c.value - v.value,
    )
    .sinkTo(sink);
  await p.run();
  return sink.count;
}
function loopJoin() {
  const half = N / 2;
  const viewsByKey = new Map<number, number[]>();
  let matches = 0;
  for (let i = 0; i < half; i++) {
    const view = { key: i % 1000, ts: i };
    let list = viewsByKey.get(view.key);
    if (!list) viewsByKey.set(view.key, (list = []));
    list.push(view.ts);
    const click = { key: (i * 7) % 1000, ts: i };
    for (const t of viewsByKey.get(click.key) ?? []) if (t >= click.ts - 100 && t <= click.ts) matches++;
    if (i % 1000 === 0) for (const l of viewsByKey.values()) while (l.length > 0 && l[0]! < i - 200) l.shift();
  }
  return matches;
}

const CASES = {
  mapFilter: [engineMapFilter, loopMapFilter],
  tumblingCount100kKeys: [engineTumbling, loopTumbling],
  slidingAvg1m10s: [engineSliding, loopSliding],
  intervalJoin: [engineJoin, loopJoin],
} as const;

if (flags.case !== undefined) {
  // One case in this process: warm the engine up once, then time it and its loop.
  const [engine, loop] = CASES[flags.case as keyof typeof CASES];
  await engine();
  const e = await time(engine);
  const l = await time(loop);
  console.log(
    JSON.stringify({
      engineEventsPerSec: e.eps,
      loopEventsPerSec: l.eps,
      ratio: +(e.eps / l.eps).toFixed(2),
      engineResults: e.result,
      loopResults: l.result,
    }),
  );
} else {
  // Each case in a fresh process, so that one case's heap and compiled code do not slow the next.
  const results: Record<string, unknown> = { bench: 'engine', events: N };
  for (const name of Object.keys(CASES)) {
    const out = execFileSync(process.execPath, [import.meta.filename, '--events', String(N), '--case', name], {
      encoding: 'utf8',
      env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' },
    });
    results[name] = JSON.parse(out.trim().split('\n').at(-1)!);
  }
  console.log(JSON.stringify(results));
}
