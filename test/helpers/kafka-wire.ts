// Raw Kafka frames to a broker on loopback: what a client that ignores ApiVersions, or an old one, sends — and the
// one way to call an API at exactly the version a test names.
import assert from 'node:assert/strict';
import net from 'node:net';
import { type Api, decodeResponse, encodeRequest } from '../../src/kafka/protocol/index.ts';

export interface WireConnection {
  send(frame: Buffer): void;
  /** The next response frame (without its size), or null once the broker closed the connection. */
  next(): Promise<Buffer | null>;
  close(): void;
}

/** One connection speaking raw frames. */
export async function connect(port: number): Promise<WireConnection> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let pending = Buffer.alloc(0);
  const frames: Buffer[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
      frames.push(pending.subarray(4, 4 + pending.readInt32BE(0)));
      pending = pending.subarray(4 + pending.readInt32BE(0));
    }
    wake?.();
  });
  socket.on('close', () => {
    closed = true;
    wake?.();
  });
  socket.on('error', () => {});
  return {
    send(frame) {
      socket.write(frame);
    },
    async next() {
      while (frames.length === 0 && !closed) await new Promise<void>((resolve) => (wake = resolve));
      return frames.shift() ?? null;
    },
    close() {
      socket.destroy();
    },
  };
}

let correlation = 100;

/** One request at `version` and its decoded answer, over a fresh connection to the broker on `port`. */
export async function call<Req, Res>(port: number, api: Api<Req, Res>, version: number, body: Req) {
  const c = await connect(port);
  try {
    const id = correlation++;
    c.send(encodeRequest(api, version, id, 'raw', body));
    const frame = await c.next();
    assert.ok(frame !== null, `${api.name} v${version} got an answer`);
    const decoded = decodeResponse(api, version, frame);
    assert.equal(decoded.correlationId, id);
    return decoded.body;
  } finally {
    c.close();
  }
}
