// The fetch connection against a scripted broker: answers split at every byte, several in one write, each matched to
// its request in order and decoded with its record set as bytes; frames gathered into memory the request gave; a
// connection the broker closes fails what is in flight (BROKER_UNAVAILABLE) and says it is broken.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { decodeRequest, encodeResponse, Fetch, type FetchRequest } from '../../kafka/protocol/index.ts';
import { FetchConnection } from './fetch-connection.ts';

/** How the scripted broker writes its answers: the frames, to be cut into writes. */
type Script = (frames: Buffer[], socket: net.Socket) => void;

let script: Script = (frames, socket) => socket.write(Buffer.concat(frames));
let server: net.Server;
let port = 0;
const pending: { frame: Buffer; socket: net.Socket }[] = [];

before(async () => {
  server = net.createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      const frames: Buffer[] = [];
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        const size = buffered.readInt32BE(0);
        const request = decodeRequest(buffered.subarray(4, 4 + size));
        buffered = buffered.subarray(4 + size);
        const body = request.body as FetchRequest;
        const partition = body.topics[0]!.partitions[0]!;
        // The records: the fetch offset's digits, repeated as many times as the offset (so answers differ in size).
        const records = Buffer.from(String(partition.fetchOffset).repeat(Math.max(1, partition.fetchOffset)));
        const answer = encodeResponse(Fetch, request.header.apiVersion, request.header.correlationId, {
          throttleTimeMs: 0,
          errorCode: 0,
          sessionId: 0,
          responses: [
            {
              topic: body.topics[0]!.topic,
              partitions: [
                {
                  partitionIndex: partition.partition,
                  errorCode: 0,
                  highWatermark: 100,
                  lastStableOffset: 90,
                  logStartOffset: 0,
                  abortedTransactions: [{ producerId: 7, firstOffset: 3 }],
                  preferredReadReplica: -1,
                  records,
                },
              ],
            },
          ],
        });
        frames.push(Buffer.concat(answer));
      }
      for (const frame of frames) pending.push({ frame, socket });
      if (frames.length > 0) script(frames, socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const request = (offset: number): FetchRequest => ({
  replicaId: -1,
  maxWaitMs: 0,
  minBytes: 1,
  maxBytes: 1 << 20,
  isolationLevel: 1,
  sessionId: 0,
  sessionEpoch: -1,
  topics: [{ topic: 't', partitions: [{ partition: 2, fetchOffset: offset, partitionMaxBytes: 1 << 20 }] }],
  forgottenTopicsData: [],
  rackId: '',
});

const recordsOf = (answer: Awaited<ReturnType<FetchConnection['fetch']>>) =>
  answer.responses[0]!.partitions[0]!.records!.toString();

/** Writes `data` one slice at a time, each in its own turn of the event loop. */
async function trickle(socket: net.Socket, data: Buffer, sizes: number[]): Promise<void> {
  let pos = 0;
  for (let i = 0; pos < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    socket.write(data.subarray(pos, pos + n));
    pos += n;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('FetchConnection', () => {
  it('decodes answers cut at every byte, in order, records as bytes', async () => {
    script = (frames, socket) => void trickle(socket, Buffer.concat(frames), [1, 2, 3, 5]);
    const connection = new FetchConnection('127.0.0.1', port, 'test');
    try {
      const answer = await connection.fetch(12, request(12), 0);
      assert.equal(recordsOf(answer), '12'.repeat(12));
      const p = answer.responses[0]!.partitions[0]!;
      assert.deepEqual([p.partitionIndex, p.highWatermark, p.lastStableOffset], [2, 100, 90]);
      assert.deepEqual(p.abortedTransactions, [{ producerId: 7, firstOffset: 3 }]);
      const older = await connection.fetch(4, request(3), 0); // another version on the same connection
      assert.equal(recordsOf(older), '333');
    } finally {
      connection.close();
    }
  });

  it('matches several answers in one write to their requests, each in memory its request gave', async () => {
    script = (_frames, socket) => {
      // Hold answers back until three have come, then write them in one go.
      if (pending.length >= 3) socket.write(Buffer.concat(pending.splice(0).map((p) => p.frame)));
    };
    pending.length = 0;
    const connection = new FetchConnection('127.0.0.1', port, 'test');
    const memory = Buffer.alloc(4096, 0xff);
    try {
      const answers = await Promise.all([
        connection.fetch(12, request(1), 0),
        connection.fetch(12, request(20), 0, (size) => memory.subarray(0, size)),
        connection.fetch(12, request(3), 0),
      ]);
      assert.deepEqual(answers.map(recordsOf), ['1', '20'.repeat(20), '333']);
      const records = answers[1]!.responses[0]!.partitions[0]!.records!;
      assert.equal(records.buffer, memory.buffer, 'the second answer was read into the memory its request gave');
    } finally {
      connection.close();
      script = (frames, socket) => socket.write(Buffer.concat(frames));
    }
  });

  it('fails what is in flight when the broker closes the connection, and says it is broken', async () => {
    script = (_frames, socket) => socket.destroy();
    const connection = new FetchConnection('127.0.0.1', port, 'test');
    try {
      await assert.rejects(connection.fetch(12, request(1), 0), { code: 'BROKER_UNAVAILABLE' });
      assert.equal(connection.broken, true);
      await assert.rejects(connection.fetch(12, request(1), 0), { code: 'BROKER_UNAVAILABLE' });
    } finally {
      connection.close();
      script = (frames, socket) => socket.write(Buffer.concat(frames));
    }
  });

  it('says who cannot be reached', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const connection = new FetchConnection('127.0.0.1', free, 'test');
    try {
      await assert.rejects(connection.fetch(12, request(1), 0), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'BROKER_UNAVAILABLE');
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${free}`));
        return true;
      });
    } finally {
      connection.close();
    }
  });
});
