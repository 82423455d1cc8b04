// The demo's event generators (what `sluice dev` and examples/demo.deployment.ts run). Demo time runs `speed` times
// faster than the wall clock so that windows close every few seconds. Three feeds, each realistic in its flaws:
//   - `events` {key, ts, value}: sensor-like counts with skewed keys (windowed-counts);
//   - `views` and `clicks` {viewId, user, ad, ts}: users in sessions (bursts of activity, then silence), ads with
//     skewed popularity and their own click-through rates, clicks seconds after their views (clickstream);
//   - `readings` {sensor, ts, temperature}: a reading per sensor per demo second (sensor-averages).
// All arrive out of order within 4 s, and now and then a device reconnects with readings a minute or more old,
// which arrive late.
import { type LogRecord, type PipelineLog, partitionForKey } from 'sluice';

export const DEMO_TOPICS = { events: 3, views: 3, clicks: 3, readings: 3 } as const;

const SENSORS = ['kitchen', 'hall', 'garage', 'attic', 'cellar', 'porch', 'office', 'garden'];
const ADS = Array.from({ length: 12 }, (_, i) => `ad-${i + 1}`);
const USERS = Array.from({ length: 300 }, (_, i) => `user-${i + 1}`);

export interface DemoOptions {
  /** Events per wall-clock second on topic `events` (the other feeds scale with it). */
  eventsPerSecond?: number;
  /** How much faster demo time runs than the wall clock. */
  speed?: number;
  /** Deterministic runs (tests): a seed for the generator's random numbers. */
  seed?: number;
}

export interface DemoGenerator {
  /** Records appended so far, per topic. */
  readonly produced: Record<string, number>;
  /** Records generated to arrive late (a device reconnecting). */
  late: number;
  /** How much faster demo time runs than the wall clock. */
  readonly speed: number;
  /** Demo time now (epoch ms): a record stamped with it is on time for the demo pipelines. */
  now(): number;
  stop(): Promise<void>;
}

/** A small, seedable PRNG (mulberry32): demo runs can be repeated exactly. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Creates the demo topics that are missing. */
export async function createDemoTopics(log: PipelineLog): Promise<void> {
  for (const [topic, partitions] of Object.entries(DEMO_TOPICS)) {
    if (!log.hasTopic(topic)) {
      await log.createTopic(topic, { partitions }).catch((error: { code?: string }) => {
        if (error.code !== 'TOPIC_ALREADY_EXISTS') throw error;
      });
    }
  }
}

/** Starts appending demo data to the log every 100 ms (never queueing appends behind a slow disk). */
export async function startDemoGenerators(log: PipelineLog, options: DemoOptions = {}): Promise<DemoGenerator> {
  const rate = options.eventsPerSecond ?? 500;
  const speed = options.speed ?? 10;
  const rand = random(options.seed ?? Date.now());
  await createDemoTopics(log);
  const started = Date.now();
  const demoNow = () => started + (Date.now() - started) * speed;
  const produced: Record<string, number> = { events: 0, views: 0, clicks: 0, readings: 0 };
  const state = { produced, late: 0, speed, now: demoNow, stop: async () => {} };
  // Zipf-like skew: low indexes are much more frequent.
  const skewed = <T>(items: readonly T[]) => items[Math.min(items.length - 1, Math.floor(-Math.log(rand()) * 3))]!;
  const jitter = () => Math.floor(rand() * 4000);
  // Users in session: user → demo time their session ends.
  const sessions = new Map<string, number>();
  let lastReadingAt = demoNow();
  let views = 0;
  let seq = 0;

  const tick = (now: number) => {
    const out: Record<string, { key: string; value: object; ts: number }[]> = {
      events: [],
      views: [],
      clicks: [],
      readings: [],
    };
    for (let i = 0; i < rate / 10; i++) {
      seq++;
      const key = skewed(SENSORS);
      let ts = now - jitter();
      if (seq % 997 === 0) {
        ts = now - 90_000; // a device reconnecting with an old reading: late
        state.late++;
      }
      out.events!.push({
        key,
        ts,
        value: { key, ts, value: Math.round(20 + 10 * Math.sin(ts / 60_000) + rand() * 4) },
      });
    }
    // Clickstream: a few users start sessions; users in session view ads; some views get a click seconds later.
    for (let i = 0; i < rate / 50; i++) {
      const user = USERS[Math.floor(rand() * rand() * USERS.length)]!;
      if (!sessions.has(user)) sessions.set(user, now + 20_000 + rand() * 120_000);
    }
    for (const [user, ends] of sessions) {
      if (ends < now) {
        sessions.delete(user); // silence follows: more than the 30 s session gap
        continue;
      }
      if (rand() > 0.3) continue;
      const ad = skewed(ADS);
      const viewId = `v${++views}`;
      const late = views % 1499 === 0;
      const ts = late ? now - 120_000 : now - jitter();
      if (late) state.late++;
      out.views!.push({ key: viewId, ts, value: { viewId, user, ad, ts } });
      // Each ad has its own click-through rate, between 2% and 14%.
      if (rand() < 0.02 + (ADS.indexOf(ad) % 7) * 0.02) {
        const clickTs = ts + 1000 + Math.floor(rand() * 20_000);
        out.clicks!.push({ key: viewId, ts: clickTs, value: { viewId, user, ad, ts: clickTs } });
      }
    }
    // IoT: one reading per sensor per demo second, the temperature following the (demo) day.
    for (let t = lastReadingAt + 1000; t <= now; t += 1000) {
      lastReadingAt = t;
      for (const [i, sensor] of SENSORS.entries()) {
        const late = rand() < 0.002;
        const ts = late ? t - 60_000 - Math.floor(rand() * 240_000) : t - jitter();
        if (late) state.late++;
        const temperature = Math.round((18 + i + 6 * Math.sin((ts / 3_600_000) * Math.PI) + rand() * 1.5) * 10) / 10;
        out.readings!.push({ key: sensor, ts, value: { sensor, ts, temperature } });
      }
    }
    return out;
  };

  let busy = false;
  let pending: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    const batches = tick(demoNow());
    const appends: Promise<unknown>[] = [];
    for (const [topic, records] of Object.entries(batches)) {
      const partitions = DEMO_TOPICS[topic as keyof typeof DEMO_TOPICS];
      const byPartition = new Map<number, LogRecord[]>();
      for (const r of records) {
        const key = Buffer.from(r.key);
        const partition = partitionForKey(key, partitions);
        let list = byPartition.get(partition);
        if (!list) byPartition.set(partition, (list = []));
        list.push({ key, value: Buffer.from(JSON.stringify(r.value)), timestamp: r.ts });
      }
      for (const [partition, list] of byPartition) {
        appends.push(
          log.append(topic, partition, list).then(() => {
            produced[topic] = (produced[topic] ?? 0) + list.length;
          }),
        );
      }
    }
    pending = Promise.all(appends)
      .catch(() => {}) // a closing log: the next tick or stop() ends it
      .finally(() => {
        busy = false;
      });
  }, 100);
  state.stop = async () => {
    clearInterval(timer);
    await pending;
  };
  return state;
}
