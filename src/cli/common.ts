// What every command shares: the common flags, exit codes scripts can rely on, plain/colour output, shutdown.
import net from 'node:net';
import { styleText } from 'node:util';
import { InvalidArgumentError, Option } from 'commander';
import { explainClientError } from '../connectors/index.ts';
import { EXIT, errorMapping, isSluiceError } from '../errors.ts';

/** Exit codes (documented in docs/cli.md): stable so that scripts can branch on them; each error code has one. */
export { EXIT };

export const DEFAULTS = {
  dataDir: './.sluice',
  host: '127.0.0.1',
  kafkaPort: 9092,
  httpPort: 8080,
} as const;

export function defaultBootstrap(): string {
  return process.env.SLUICE_BOOTSTRAP ?? `${DEFAULTS.host}:${DEFAULTS.kafkaPort}`;
}

/** Commander parser for a port number, with an error that names the flag's value. */
export function portOption(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError(`'${value}' is not a port number (0-65535)`);
  }
  return port;
}

export function positiveIntOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`'${value}' is not a positive integer`);
  return n;
}

export function nonNegativeIntOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`'${value}' is not a non-negative integer`);
  return n;
}

/** Kafka's advertised.listeners: the address clients are told to connect to, when it is not the bound one. */
export interface AdvertisedFlags {
  advertisedHost?: string;
  advertisedPort?: number;
}

/** --advertised-host, for every command that opens a Kafka listener. */
export function advertisedHostOption(): Option {
  return new Option(
    '--advertised-host <host>',
    'host name or IP Kafka clients are told to connect to (Kafka advertised.listeners; default: --host)',
  ).argParser(parseHost);
}

/** --advertised-port, for every command that opens a Kafka listener. */
export function advertisedPortOption(): Option {
  return new Option(
    '--advertised-port <port>',
    'port Kafka clients are told to connect to (default: the bound --kafka-port)',
  ).argParser(parseAdvertisedPort);
}

/** The advertised address of the flags, for startBroker's options. */
export function advertisedOf(flags: AdvertisedFlags): AdvertisedFlags {
  return {
    ...(flags.advertisedHost === undefined ? {} : { advertisedHost: flags.advertisedHost }),
    ...(flags.advertisedPort === undefined ? {} : { advertisedPort: flags.advertisedPort }),
  };
}

/** Where a Kafka listener is, for a banner: its bound address, and the advertised one when that differs. */
export function listenerAddress(broker: { host: string; port: number; address: string }): string {
  const bound = `${broker.host}:${broker.port}`;
  return bound === broker.address ? bound : `${bound}, advertised as ${broker.address}`;
}

/** A host name (RFC 1123 labels) or an IP address: what Metadata hands to clients verbatim. */
function parseHost(value: string): string {
  const hostname =
    /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
  if (net.isIP(value) === 0 && !hostname.test(value)) {
    throw new InvalidArgumentError(`'${value}' is not a host name or IP address`);
  }
  return value;
}

function parseAdvertisedPort(value: string): number {
  const port = portOption(value);
  if (port === 0) throw new InvalidArgumentError('an advertised port must be a real port (1-65535)');
  return port;
}

/** Colours only for a terminal that wants them (NO_COLOR, pipes and files get plain text). */
export function paint(
  format: Parameters<typeof styleText>[0],
  text: string,
  stream: NodeJS.WriteStream = process.stdout,
): string {
  return styleText(format, text, { stream, validateStream: true });
}

/** Maps an error to the message a person reads and the exit code a script reads. */
export function describeFailure(error: unknown): { message: string; exitCode: number } {
  // The last line of defence: a Kafka client error no command mapped still reads as Sluice's, never as PLT_KFK_*.
  error = explainClientError(error);
  if (isSluiceError(error))
    return { message: `${error.code}: ${error.message}`, exitCode: errorMapping(error.code).exit };
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') {
    return {
      message: `${(error as Error).message}: the port is taken; choose another with the port flag`,
      exitCode: EXIT.UNAVAILABLE,
    };
  }
  return { message: error instanceof Error ? error.message : String(error), exitCode: EXIT.FAILURE };
}

/**
 * Resolves on the first SIGINT or SIGTERM, so that a long-running command can stop gracefully; a second signal
 * exits at once (the user insists).
 */
export function untilShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(EXIT.INTERRUPTED));
      process.once('SIGTERM', () => process.exit(EXIT.INTERRUPTED));
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

const outputClosed = new AbortController();
const onClose = new Set<() => void>();

/**
 * Makes a closed stdout (`sluice consume … | head`: the reader went away, EPIPE) end the command quietly with exit
 * code 0, as a reader that has read enough is no failure: a command registered with whenOutputClosed stops itself
 * (consume with a group commits first), any other exits at once. Errors on stderr are dropped, for the same reason.
 */
export function exitQuietlyWhenOutputCloses(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    if (outputClosed.signal.aborted) return;
    outputClosed.abort();
    if (onClose.size === 0) process.exit(EXIT.OK);
    for (const stop of onClose) stop();
  });
  process.stderr.on('error', () => {});
}

/** True once stdout's reader has gone: what the command does from then on has no one to tell. */
export function outputHasClosed(): boolean {
  return outputClosed.signal.aborted;
}

/** Runs `stop` when stdout's reader goes away (instead of exiting at once); returns the undo. */
export function whenOutputClosed(stop: () => void): () => void {
  onClose.add(stop);
  return () => onClose.delete(stop);
}
