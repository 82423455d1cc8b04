// One TCP connection to a broker that speaks Fetch only, with the project's own protocol codec (src/kafka/protocol):
// requests pipelined in order, each answer matched by correlation id, record sets kept as the bytes they came in
// (a view into the response frame, decoded later straight from the batches). Each frame is gathered into one buffer
// of its own as it arrives, so a page is one allocation and no chunk list is copied twice.
import net from 'node:net';
import { SluiceError } from '../../errors.ts';
import {
  type Decoded,
  decodeResponse,
  encodeRequest,
  Fetch,
  type FetchRequest,
  type FetchResponse,
} from '../../kafka/protocol/index.ts';

export type FetchAnswer = Decoded<FetchResponse>;

interface Pending {
  correlationId: number;
  version: number;
  resolve(answer: FetchAnswer): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

/** Answers come this long after a request's own wait at the latest, or the connection is taken for dead. */
const REQUEST_TIMEOUT_MS = 30_000;

export class FetchConnection {
  private readonly socket: net.Socket;
  private readonly connected: Promise<void>;
  private readonly pending: Pending[] = [];
  private correlationId = 0;
  private failure: unknown;
  /** The frame being gathered (without its size prefix), how much of it has arrived. */
  private frame: Buffer | undefined;
  private filled = 0;
  /** The bytes of a size prefix split across chunks. */
  private sizeBytes = Buffer.alloc(4);
  private sizeFilled = 0;
  private readonly address: string;
  private readonly clientId: string;

  constructor(host: string, port: number, clientId: string, connectTimeoutMs = 5_000) {
    this.address = `${host}:${port}`;
    this.clientId = clientId;
    this.socket = net.createConnection({ host, port, noDelay: true });
    this.connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.socket.destroy(this.unavailable('connect timed out')), connectTimeoutMs);
      this.socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    this.connected.catch(() => {}); // reported by fetch()
    this.socket.on('data', (chunk: Buffer) => this.received(chunk));
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.fail(this.unavailable('the broker closed the connection')));
  }

  get broken(): boolean {
    return this.failure !== undefined;
  }

  /** Sends a Fetch request of `version` and resolves with its decoded answer (records as bytes). */
  async fetch(version: number, request: FetchRequest, maxWaitMs: number): Promise<FetchAnswer> {
    if (this.failure !== undefined) throw this.failure;
    await this.connected;
    if (this.failure !== undefined) throw this.failure;
    const correlationId = (this.correlationId = (this.correlationId + 1) & 0x7fffffff);
    const frame = encodeRequest(Fetch, version, correlationId, this.clientId, request);
    return new Promise<FetchAnswer>((resolve, reject) => {
      const timer = setTimeout(
        () => this.socket.destroy(this.unavailable(`no answer to a fetch within ${REQUEST_TIMEOUT_MS + maxWaitMs} ms`)),
        REQUEST_TIMEOUT_MS + maxWaitMs,
      );
      this.pending.push({ correlationId, version, resolve, reject, timer });
      this.socket.write(frame);
    });
  }

  close(): void {
    this.fail(new SluiceError('LOG_CLOSED', 'the fetch connection is closed'));
    this.socket.destroy();
  }

  private received(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.frame === undefined) {
        // The size prefix, possibly split across chunks.
        if (this.sizeFilled === 0 && chunk.length - pos >= 4) {
          this.frame = Buffer.allocUnsafeSlow(chunk.readInt32BE(pos));
          pos += 4;
        } else {
          const n = Math.min(4 - this.sizeFilled, chunk.length - pos);
          chunk.copy(this.sizeBytes, this.sizeFilled, pos, pos + n);
          this.sizeFilled += n;
          pos += n;
          if (this.sizeFilled < 4) return;
          this.sizeFilled = 0;
          this.frame = Buffer.allocUnsafeSlow(this.sizeBytes.readInt32BE(0));
        }
        this.filled = 0;
      }
      const n = Math.min(this.frame.length - this.filled, chunk.length - pos);
      chunk.copy(this.frame, this.filled, pos, pos + n);
      this.filled += n;
      pos += n;
      if (this.filled === this.frame.length) {
        const frame = this.frame;
        this.frame = undefined;
        this.answer(frame);
      }
    }
  }

  private answer(frame: Buffer): void {
    const request = this.pending.shift();
    if (request === undefined || frame.length < 4 || frame.readInt32BE(0) !== request.correlationId) {
      this.socket.destroy(this.unavailable('the broker answered out of order'));
      if (request) request.reject(this.failure);
      return;
    }
    clearTimeout(request.timer);
    try {
      request.resolve(decodeResponse(Fetch, request.version, frame).body);
    } catch (error) {
      request.reject(
        new SluiceError(
          'CORRUPT_MESSAGE',
          `a fetch answer from ${this.address} is malformed: ${(error as Error).message}`,
        ),
      );
    }
  }

  private fail(error: unknown): void {
    this.failure ??= error instanceof SluiceError ? error : this.unavailable((error as Error).message, error);
    for (const request of this.pending.splice(0)) {
      clearTimeout(request.timer);
      request.reject(this.failure);
    }
  }

  private unavailable(why: string, cause?: unknown): SluiceError {
    return new SluiceError(
      'BROKER_UNAVAILABLE',
      `cannot reach the Kafka broker at ${this.address} (${why})`,
      { broker: this.address },
      cause === undefined ? undefined : { cause },
    );
  }
}
