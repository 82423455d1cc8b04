// The Kafka TCP listener: a thin shell around the sans-IO codecs and the handlers. It frames requests (4-byte size
// prefix, bounded), answers them in order per connection as Kafka does, and closes only the connection that sends a
// malformed or oversize frame — never the server.
import net from 'node:net';
import { createLogger, type Logger } from '../logger.ts';
import { apiVersionsBody, type BrokerContext, HANDLERS, SERVED_APIS } from './handlers/index.ts';
import {
  ApiVersions,
  type DecodedRequest,
  decodeRequest,
  encodeResponse,
  KafkaError,
  UnsupportedVersionError,
} from './protocol/index.ts';

export class Connection {
  private readonly socket: net.Socket;
  private readonly broker: BrokerContext;
  private readonly logger: Logger;
  private readonly maxRequestBytes: number;
  private readonly clientHost: string;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly queue: Buffer[] = [];
  private busy = false;
  private closed = false;

  constructor(socket: net.Socket, broker: BrokerContext, maxRequestBytes: number, logger: Logger) {
    this.socket = socket;
    this.broker = broker;
    this.maxRequestBytes = maxRequestBytes;
    this.clientHost = socket.remoteAddress ?? '';
    this.logger = logger.child({ client: `${socket.remoteAddress}:${socket.remotePort}` });
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (error) => this.logger.debug({ err: error }, 'connection error'));
    socket.on('close', () => {
      this.closed = true;
    });
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 4) {
      const head = this.chunks[0]!.length >= 4 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const size = head.readInt32BE(0);
      if (size < 8 || size > this.maxRequestBytes) {
        this.abort(`request size ${size} is outside 8..${this.maxRequestBytes} bytes`);
        return;
      }
      if (this.buffered < size + 4) break;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
      this.queue.push(all.subarray(4, 4 + size));
      const rest = all.subarray(4 + size);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    if (this.queue.length > 0 && !this.busy) void this.drain();
  }

  /** Handles queued requests one at a time: Kafka answers each connection's requests in order. */
  private async drain(): Promise<void> {
    this.busy = true;
    // Stop reading while busy so that a flood of pipelined requests is absorbed by TCP, not by our memory.
    this.socket.pause();
    while (this.queue.length > 0 && !this.closed) {
      const frame = this.queue.shift()!;
      try {
        const response = await this.handle(frame);
        if (response !== null && !this.closed) {
          this.socket.cork();
          for (const part of response) this.socket.write(part);
          this.socket.uncork();
        }
      } catch (error) {
        this.abort(`malformed request: ${(error as Error).message}`);
        return;
      }
    }
    this.busy = false;
    if (!this.closed) this.socket.resume();
  }

  private async handle(frame: Buffer): Promise<Buffer[] | null> {
    let request: DecodedRequest;
    try {
      request = decodeRequest(frame, SERVED_APIS);
    } catch (error) {
      if (error instanceof UnsupportedVersionError && error.header.apiKey === ApiVersions.apiKey) {
        // Clients learn our versions from this v0 answer, whatever version they asked with.
        const body = apiVersionsBody(KafkaError.UNSUPPORTED_VERSION);
        return encodeResponse(ApiVersions, 0, error.header.correlationId, body);
      }
      if (error instanceof UnsupportedVersionError) {
        // As Kafka's broker does (SocketServer: "Received request api key … which is not enabled"): close. No answer
        // can be decoded by a client that chose a version we lack the layout of — a bare error code would be read
        // as the start of a response it is not — and a client that read our ApiVersions never sends one.
        this.abort(`${error.message}: the client did not use the versions ApiVersions advertises`);
        return null;
      }
      throw error;
    }
    const { header, api, body } = request;
    this.logger.debug({ api: api.name, version: header.apiVersion, correlationId: header.correlationId }, 'request');
    return HANDLERS.get(header.apiKey)!.serve(body, this.broker, { header, clientHost: this.clientHost });
  }

  private abort(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.logger.warn({ reason }, 'closing Kafka connection');
    this.socket.destroy();
  }
}

export interface ListenOptions {
  host: string;
  port: number;
  maxRequestBytes: number;
  /** The port clients are told to use; by default the bound one. */
  advertisedPort?: number | undefined;
}

/**
 * Starts listening; `broker.listener.port` is filled in with the bound port (and `broker.port`, the advertised one,
 * too unless it is set apart) before any request is served.
 */
export async function listen(broker: BrokerContext, options: ListenOptions): Promise<net.Server> {
  const logger = createLogger('kafka.server');
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    new Connection(socket, broker, options.maxRequestBytes, logger);
  });
  server.on('close', () => {
    for (const socket of sockets) socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  broker.listener.port = address.port;
  broker.port = options.advertisedPort ?? address.port;
  // Destroy open connections on close so that close() resolves promptly.
  const close = server.close.bind(server);
  server.close = (callback?: (err?: Error) => void) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  };
  return server;
}
