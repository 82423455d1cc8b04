// One TCP connection to a broker that speaks Fetch only, with the project's own protocol codec (src/kafka/protocol):
// requests pipelined in order, each answer matched by correlation id, record sets kept as the bytes they came in
// (a view into the response frame, decoded later straight from the batches). The socket reads each frame straight
// into memory the request's `alloc` gives (a page lent from a pool: fetcher.ts), not into chunks of its own that
// would be copied again: a frame costs no allocation and no copy once the pool is warm.
import net from 'node:net';
import { SluiceError } from '../../errors.ts';
import { protocol } from '../../kafka/index.ts';

type FetchRequest = protocol.FetchRequest;
const { decodeResponse, encodeRequest, Fetch } = protocol;

export type FetchAnswer = protocol.Decoded<protocol.FetchResponse>;

/** Memory for a frame of `size` bytes (its first `size` bytes are used). */
export type Alloc = (size: number) => Buffer;

const allocate: Alloc = (size) => Buffer.allocUnsafeSlow(size);

interface Pending {
  correlationId: number;
  version: number;
  alloc: Alloc;
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
  /** The bytes of a size prefix split across reads. */
  private readonly sizeBytes = Buffer.alloc(4);
  private sizeFilled = 0;
  /** Where the socket reads when no frame is being gathered (a size prefix, and what follows it in that read). */
  private readonly scratch = Buffer.allocUnsafeSlow(64 * 1024);
  /** The socket's last read went into the frame (else into `scratch`). */
  private intoFrame = false;
  private readonly address: string;
  private readonly clientId: string;

  constructor(host: string, port: number, clientId: string, connectTimeoutMs = 5_000) {
    this.address = `${host}:${port}`;
    this.clientId = clientId;
    this.socket = net.createConnection({
      host,
      port,
      noDelay: true,
      onread: {
        // Called for every read: the rest of the frame being gathered, else the scratch buffer.
        buffer: () => this.readInto(),
        callback: (n: number) => {
          this.read(n);
          return true; // keep reading
        },
      },
    });
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
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.fail(this.unavailable('the broker closed the connection')));
  }

  get broken(): boolean {
    return this.failure !== undefined;
  }

  /** Sends a Fetch request of `version` and resolves with its decoded answer (records as bytes). */
  async fetch(version: number, request: FetchRequest, maxWaitMs: number, alloc = allocate): Promise<FetchAnswer> {
    if (this.failure !== undefined) throw this.failure;
    await this.connected.catch((error: unknown) => {
      throw this.failure ?? this.unavailable((error as Error).message, error);
    });
    if (this.failure !== undefined) throw this.failure;
    const correlationId = (this.correlationId = (this.correlationId + 1) & 0x7fffffff);
    const frame = encodeRequest(Fetch, version, correlationId, this.clientId, request);
    return new Promise<FetchAnswer>((resolve, reject) => {
      const timer = setTimeout(
        () => this.socket.destroy(this.unavailable(`no answer to a fetch within ${REQUEST_TIMEOUT_MS + maxWaitMs} ms`)),
        REQUEST_TIMEOUT_MS + maxWaitMs,
      );
      this.pending.push({ correlationId, version, alloc, resolve, reject, timer });
      this.socket.write(frame);
    });
  }

  close(): void {
    this.fail(new SluiceError('LOG_CLOSED', 'the fetch connection is closed'));
    this.socket.destroy();
  }

  private readInto(): Buffer {
    const frame = this.frame;
    this.intoFrame = frame !== undefined && this.filled < frame.length;
    return this.intoFrame ? frame!.subarray(this.filled) : this.scratch;
  }

  private read(n: number): void {
    if (!this.intoFrame) {
      this.received(this.scratch, n);
      return;
    }
    this.filled += n;
    if (this.filled === this.frame!.length) this.complete();
  }

  /** `n` bytes read into `chunk`: size prefixes, and the starts (or the whole) of the frames they announce. */
  private received(chunk: Buffer, n: number): void {
    let pos = 0;
    while (pos < n) {
      if (this.frame === undefined) {
        // The size prefix, possibly split across reads.
        const k = Math.min(4 - this.sizeFilled, n - pos);
        chunk.copy(this.sizeBytes, this.sizeFilled, pos, pos + k);
        this.sizeFilled += k;
        pos += k;
        if (this.sizeFilled < 4) return;
        this.sizeFilled = 0;
        this.begin(this.sizeBytes.readInt32BE(0));
        if (this.frame === undefined) return; // refused
      }
      const frame: Buffer = this.frame;
      const k = Math.min(frame.length - this.filled, n - pos);
      chunk.copy(frame, this.filled, pos, pos + k);
      this.filled += k;
      pos += k;
      if (this.filled === frame.length) this.complete();
    }
  }

  /** A frame of `size` bytes announced: gathered into memory of the request it answers. */
  private begin(size: number): void {
    const request = this.pending[0];
    if (request === undefined || size < 4) {
      this.socket.destroy(this.unavailable('the broker sent an answer nothing asked for'));
      return;
    }
    this.frame = request.alloc(size).subarray(0, size);
    this.filled = 0;
  }

  private complete(): void {
    const frame = this.frame!;
    this.frame = undefined;
    this.answer(frame);
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
