// Redis Streams as a reference point for the Kafka benchmark: the same load (100-byte messages produced and consumed
// in bulk, then produce latency at a fixed rate) against Debian's redis-server on loopback, through a minimal RESP
// client with pipelining (what a production client does for bulk XADD), and the bulk XADDs again through
// redis-benchmark (C), as kcat is for Sluice.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

type Reply = string | number | null | Reply[] | Error;

/** A RESP2 connection: commands are pipelined, replies resolve in order. */
class Resp {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly waiting: ((reply: Reply) => void)[] = [];
  private readonly socket: net.Socket;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const parsed = parse(this.buffer, 0);
        if (parsed === undefined) break;
        this.buffer = this.buffer.subarray(parsed[1]);
        this.waiting.shift()!(parsed[0]);
      }
    });
  }

  static async connect(port: number): Promise<Resp> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new Resp(socket);
  }

  /** Sends commands in one write; resolves with their replies. */
  send(commands: (string | Buffer)[][]): Promise<Reply[]> {
    const parts: Buffer[] = [];
    for (const args of commands) {
      parts.push(Buffer.from(`*${args.length}\r\n`));
      for (const a of args) {
        const b = typeof a === 'string' ? Buffer.from(a) : a;
        parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
      }
    }
    const replies = commands.map(() => new Promise<Reply>((resolve) => this.waiting.push(resolve)));
    this.socket.write(Buffer.concat(parts));
    return Promise.all(replies);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One reply from `buf` at `at`: [reply, next offset], or undefined when incomplete. */
function parse(buf: Buffer, at: number): [Reply, number] | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = buf[at];
  const line = buf.toString('latin1', at + 1, eol);
  if (type === 43) return [line, eol + 2]; // +
  if (type === 45) return [new Error(line), eol + 2]; // -
  if (type === 58) return [Number(line), eol + 2]; // :
  if (type === 36) {
    const n = Number(line);
    if (n < 0) return [null, eol + 2];
    if (buf.length < eol + 2 + n + 2) return undefined;
    return [buf.toString('latin1', eol + 2, eol + 2 + n), eol + 2 + n + 2];
  }
  if (type === 42) {
    const n = Number(line);
    if (n < 0) return [null, eol + 2];
    const items: Reply[] = [];
    let next = eol + 2;
    for (let i = 0; i < n; i++) {
      const item = parse(buf, next);
      if (item === undefined) return undefined;
      items.push(item[0]);
      next = item[1];
    }
    return [items, next];
  }
  throw new Error(`unexpected RESP type ${String.fromCharCode(type ?? 0)}`);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface ReferenceLoad {
  messages: number;
  value: Buffer;
  rate: number;
  latencySeconds: number;
}

const perSec = (n: number, ms: number) => Math.round((n * 1000) / ms);
const at = (xs: number[], q: number) => +xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!.toFixed(2);

/** Redis Streams: XADD pipelined in batches of 1,000 (8 in flight), XREAD COUNT 1,000, XADD latency at `rate`. */
export async function benchRedis(load: ReferenceLoad, durability: 'none' | 'aof-always') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir];
  if (durability === 'aof-always') args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');
  const server: ChildProcess = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let client: Resp | undefined;
    for (let tries = 0; !client; tries++) {
      client = await Resp.connect(port).catch((error) => {
        if (tries > 100) throw error;
        return undefined;
      });
      if (!client) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const { messages, value } = load;
    // Produce: batches of 1,000 XADDs in one write each, up to 8 batches awaiting replies.
    let start = performance.now();
    const inFlight: Promise<Reply[]>[] = [];
    for (let sent = 0; sent < messages; sent += 1000) {
      const n = Math.min(1000, messages - sent);
      inFlight.push(client.send(Array.from({ length: n }, () => ['XADD', 'bench', '*', 'v', value])));
      if (inFlight.length >= 8) await inFlight.shift();
    }
    await Promise.all(inFlight);
    const produce = perSec(messages, performance.now() - start);
    // Consume: XREAD from the start, 1,000 entries a call (larger replies only cost this small parser more).
    start = performance.now();
    let read = 0;
    let last = '0-0';
    while (read < messages) {
      const [reply] = await client.send([['XREAD', 'COUNT', '1000', 'STREAMS', 'bench', last]]);
      const entries = ((reply as Reply[])[0] as Reply[])[1] as Reply[][];
      read += entries.length;
      last = entries[entries.length - 1]![0] as string;
    }
    const consume = perSec(messages, performance.now() - start);
    // Latency: every millisecond, the messages due by then in one pipelined write; each counts from its due time.
    const latencies: number[] = [];
    const total = load.rate * load.latencySeconds;
    const pending: Promise<void>[] = [];
    let scheduled = 0;
    start = performance.now();
    while (scheduled < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) * load.rate) / 1000));
      if (due > scheduled) {
        const first = scheduled;
        const count = due - first;
        scheduled = due;
        pending.push(
          client.send(Array.from({ length: count }, () => ['XADD', 'latency', '*', 'v', value])).then(() => {
            const done = performance.now();
            for (let i = 0; i < count; i++) latencies.push(done - (start + ((first + i) * 1000) / load.rate));
          }),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(pending);
    latencies.sort((a, b) => a - b);
    client.close();
    // The same XADDs from Redis's own C benchmark client (pipelined by 1,000), the counterpart of kcat's figure.
    let produceCClient: number | undefined;
    const cli = spawnSync(
      'redis-benchmark',
      ['-p', String(port), '-n', String(messages), '-P', '1000', '-q', 'XADD', 'cbench', '*', 'v', value.toString()],
      { encoding: 'utf8', timeout: 300_000 },
    );
    const rps = /([\d.]+) requests per second/.exec(cli.stdout ?? '');
    if (rps) produceCClient = Math.round(Number(rps[1]));
    return {
      durability,
      produce,
      ...(produceCClient === undefined ? {} : { produceCClient }),
      consume,
      latency: { rate: load.rate, p50Ms: at(latencies, 0.5), p99Ms: at(latencies, 0.99), maxMs: at(latencies, 1) },
    };
  } finally {
    if (server.exitCode === null && server.signalCode === null) {
      const closed = new Promise((resolve) => server.once('close', resolve));
      server.kill('SIGKILL');
      await closed;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
