// NATS JetStream as a reference point for the Kafka benchmark: the same load against Debian's nats-server (-js, file
// storage) on loopback through the official `nats` client: acknowledged publishes (1,000 in flight), a pull
// consumer reading the stream back, and publish latency at a fixed rate.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AckPolicy, connect, type NatsConnection, StorageType } from 'nats';
import type { ReferenceLoad } from './redis.ts';

const perSec = (n: number, ms: number) => Math.round((n * 1000) / ms);
const at = (xs: number[], q: number) => +xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!.toFixed(2);

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function benchNats(load: ReferenceLoad) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-nats-'));
  const port = await freePort();
  const server: ChildProcess = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let nc: NatsConnection | undefined;
  try {
    for (let tries = 0; !nc; tries++) {
      nc = await connect({ servers: `127.0.0.1:${port}` }).catch((error) => {
        if (tries > 100) throw error;
        return undefined;
      });
      if (!nc) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'bench', subjects: ['bench'], storage: StorageType.File });
    await jsm.streams.add({ name: 'latency', subjects: ['latency'], storage: StorageType.File });
    const js = nc.jetstream();
    const { messages, value } = load;
    let start = performance.now();
    const window: Promise<unknown>[] = [];
    for (let i = 0; i < messages; i++) {
      window.push(js.publish('bench', value));
      if (window.length >= 1000) await Promise.all(window.splice(0));
    }
    await Promise.all(window);
    const produce = perSec(messages, performance.now() - start);
    await jsm.consumers.add('bench', { durable_name: 'bench', ack_policy: AckPolicy.None });
    const consumer = await js.consumers.get('bench', 'bench');
    start = performance.now();
    let read = 0;
    const iter = await consumer.consume({ max_messages: 10_000 });
    for await (const _ of iter) {
      if (++read >= messages) break;
    }
    const consume = perSec(messages, performance.now() - start);
    const latencies: number[] = [];
    const total = load.rate * load.latencySeconds;
    const pending: Promise<void>[] = [];
    let scheduled = 0;
    start = performance.now();
    while (scheduled < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) * load.rate) / 1000));
      for (; scheduled < due; scheduled++) {
        const dueAt = start + (scheduled * 1000) / load.rate;
        pending.push(js.publish('latency', value).then(() => void latencies.push(performance.now() - dueAt)));
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(pending);
    latencies.sort((a, b) => a - b);
    return {
      produce,
      consume,
      latency: { rate: load.rate, p50Ms: at(latencies, 0.5), p99Ms: at(latencies, 0.99), maxMs: at(latencies, 1) },
    };
  } finally {
    await nc?.close().catch(() => {});
    if (server.exitCode === null && server.signalCode === null) {
      const closed = new Promise((resolve) => server.once('close', resolve));
      server.kill('SIGKILL');
      await closed;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
