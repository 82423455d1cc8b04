// The demo that `sluice dev` runs: an event generator feeding topic `events` (skewed keys, disorder within the
// pipeline's 5 s bound, and now and then a device reconnecting with a minute-old reading that arrives late), and
// the windowed-counts pipeline over it. Demo time runs `speed` times faster than the wall clock, so that
// one-minute windows close every few seconds.
import type { Log } from '../log/index.ts';
import { partitionForKey } from '../log/index.ts';

const SENSORS = ['kitchen', 'hall', 'garage', 'attic', 'cellar', 'porch', 'office', 'garden'];

export interface DemoGenerator {
  produced: number;
  late: number;
  stop(): void;
}

export async function startDemoGenerator(log: Log, options: { eventsPerSecond?: number; speed?: number } = {}) {
  const rate = options.eventsPerSecond ?? 500;
  const speed = options.speed ?? 10;
  if (!log.hasTopic('events')) await log.createTopic('events', { partitions: 3 });
  const partitions = log.describeTopic('events').partitions.length;
  const started = Date.now();
  const demoNow = () => started + (Date.now() - started) * speed;
  let seq = 0;
  const state: DemoGenerator = { produced: 0, late: 0, stop: () => clearInterval(timer) };
  const tickMs = 100;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return; // never queue appends behind a slow disk
    busy = true;
    const byPartition = new Map<number, { key: Buffer; value: Buffer; timestamp: number }[]>();
    const now = demoNow();
    for (let i = 0; i < (rate * tickMs) / 1000; i++) {
      seq++;
      // Zipf-like skew: the first sensors are much chattier than the last.
      const key = SENSORS[Math.min(SENSORS.length - 1, Math.floor(-Math.log(Math.random()) * 2))]!;
      let ts = now - Math.floor(Math.random() * 4000); // out of order, within the 5 s bound
      if (seq % 997 === 0) {
        ts = now - 90_000; // a device reconnecting with an old reading: late
        state.late++;
      }
      const event = { key, ts, value: Math.round(20 + 10 * Math.sin(ts / 60_000) + Math.random() * 4) };
      const partition = partitionForKey(Buffer.from(key), partitions);
      let list = byPartition.get(partition);
      if (!list) byPartition.set(partition, (list = []));
      list.push({ key: Buffer.from(key), value: Buffer.from(JSON.stringify(event)), timestamp: ts });
    }
    Promise.all([...byPartition].map(([p, records]) => log.append('events', p, records)))
      .then(() => {
        for (const records of byPartition.values()) state.produced += records.length;
      })
      .catch(() => {})
      .finally(() => {
        busy = false;
      });
  }, tickMs);
  return state;
}
