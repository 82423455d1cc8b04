// A worker thread of the scale benchmark's hand-written loop: the windowed-counts pipeline's work per record —
// parse the JSON value, check its fields, add it to its key's 60 s window — with no engine, log or I/O around it.
// It measures what this machine gives two threads doing that work, the ceiling for the pipeline's own ratio.
import { parentPort, workerData } from 'node:worker_threads';

const { records, share, shares, keys, start } = workerData as {
  records: number;
  share: number;
  shares: number;
  keys: number;
  start: number;
};
const PASS = 500_000; // records encoded once and parsed again each pass (the work, not the memory, scales)

// This thread's records (every shares-th event), JSON as in the topic, back to back (not timed).
const parts: Buffer[] = [];
const ends: number[] = [];
let length = 0;
for (let i = share, n = 0; n < Math.min(PASS, Math.ceil(records / shares)); i += shares, n++) {
  const part = Buffer.from(`{"key":"key-${i % keys}","ts":${start + i},"value":${i % 10}}`);
  parts.push(part);
  length += part.length;
  ends.push(length);
}
const bytes = Buffer.concat(parts);
const mine = Math.ceil((records - share) / shares);

parentPort!.once('message', () => {
  const windows = new Map<number, Map<string, { cnt: number; total: number }>>();
  let done = 0;
  let shift = 0; // each pass moves event time on, so windows close and open as in the pipeline
  while (done < mine) {
    for (let r = 0, from = 0; r < ends.length && done < mine; r++, done++) {
      const e = JSON.parse(bytes.toString('utf8', from, ends[r]!)) as { key: unknown; ts: unknown; value: unknown };
      from = ends[r]!;
      if (typeof e.key !== 'string' || typeof e.ts !== 'number' || typeof e.value !== 'number') throw new Error('bad');
      const ts = e.ts + shift;
      const window = ts - (ts % 60_000);
      let perKey = windows.get(window);
      if (!perKey) {
        windows.set(window, (perKey = new Map()));
        windows.delete(window - 120_000); // closed long ago: emitted and dropped, as the pipeline's state is
      }
      const acc = perKey.get(e.key);
      if (acc) {
        acc.cnt++;
        acc.total += e.value;
      } else perKey.set(e.key, { cnt: 1, total: e.value });
    }
    shift += ends.length * shares;
  }
  parentPort!.postMessage(windows.size);
});
parentPort!.postMessage('ready');
