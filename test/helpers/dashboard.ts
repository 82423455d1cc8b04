// What the dashboard's server tests share: temp directories removed after the file, the serving table `readings`
// written through a pipeline, a reader of Server-Sent Events, and the log, store and checkpointed pipeline they query.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { collect, fromArrays, json, logSource, Pipeline } from '../../src/engine/index.ts';
import { type Log, openLog } from '../../src/log/index.ts';
import { ServingStore, serveTable } from '../../src/serve/index.ts';

export const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const READINGS = [
  { name: 'ts', type: 'TIMESTAMP_MS' as const },
  { name: 'sensor', type: 'VARCHAR' as const },
  { name: 'value', type: 'DOUBLE' as const },
  { name: 'seq', type: 'BIGINT' as const },
];

export interface Reading {
  ts: number;
  sensor: string;
  value: number;
  seq: number;
}

/** Writes rows into the serving table `readings` through a bounded pipeline, as a real pipeline would. */
export async function writeReadings(store: ServingStore, rows: Reading[]): Promise<void> {
  const p = new Pipeline({ name: 'writer', bounded: true });
  p.source(fromArrays([rows])).sinkTo(serveTable({ store, name: 'readings', columns: READINGS }));
  await p.run();
}

/** Reads Server-Sent Events from a response body, one at a time. */
export function sseReader(response: Response) {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  return {
    async next(deadlineMs = 5000): Promise<{ event: string; data: unknown }> {
      const deadline = Date.now() + deadlineMs;
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(':')) continue; // a comment (ping)
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          return { event, data: JSON.parse(data.join('\n')) };
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no event within ${deadlineMs} ms; buffered: ${buffer}`);
        let timer: NodeJS.Timeout | undefined;
        const chunk = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no event within ${deadlineMs} ms`)), left);
          }),
        ]).finally(() => clearTimeout(timer));
        if (chunk.done) throw new Error('the stream ended');
        buffer += chunk.value;
      }
    },
    /** Skips events until one named `event` satisfies `accept`. */
    async until<T>(event: string, accept: (data: T) => boolean = () => true, deadlineMs = 5000): Promise<T> {
      const deadline = Date.now() + deadlineMs;
      for (;;) {
        const got = await this.next(Math.max(1, deadline - Date.now()));
        if (process.env.DEBUG_SSE) console.log(got.event, JSON.stringify(got.data).slice(0, 300));
        if (got.event === event && accept(got.data as T)) return got.data as T;
      }
    },
    cancel: () => reader.cancel(),
  };
}

export interface DashboardFixture {
  log: Log;
  store: ServingStore;
  pipeline: Pipeline;
}

/**
 * The topic `clicks` (two partitions, four records, a group offset), the bounded pipeline `counter` that read it
 * with checkpoints, and three rows in `readings`: what the API and live-stream tests query.
 */
export async function openDashboardFixture(): Promise<DashboardFixture> {
  const log = await openLog({ dataDir: tempDir('sluice-dash-api-') });
  const store = await ServingStore.open({ dir: ':memory:' });
  cleanup.push(async () => {
    await store.close();
    await log.close();
  });
  await log.createTopic('clicks', { partitions: 2 });
  const record = (n: number) => ({ key: null, value: Buffer.from(JSON.stringify({ n })) });
  await log.append('clicks', 0, [record(1), record(2), record(3)]);
  await log.append('clicks', 1, [record(4)]);
  await log.groups.commit('reporting', [{ topic: 'clicks', partition: 0, offset: 1 }]);
  const pipeline = new Pipeline({ name: 'counter', bounded: true });
  pipeline
    .source(logSource({ log, topic: 'clicks', format: json<{ n: number }>() }))
    .map((e) => e.n)
    .sinkTo(collect());
  pipeline.enableCheckpoints({ dir: tempDir('sluice-dash-ckpt-'), intervalMs: 0 });
  await pipeline.run();
  await writeReadings(store, [
    { ts: 60_000, sensor: 'a', value: 1, seq: 1 },
    { ts: 60_500, sensor: 'b', value: 2, seq: 2 },
    { ts: 120_000, sensor: 'a', value: 3, seq: 3 },
  ]);
  return { log, store, pipeline };
}
