// The Kafka-protocol broker over the log: `startBroker` listens on 127.0.0.1:9092 by default so that Kafka clients
// (kafkajs, librdkafka/kcat, Java) produce to and consume from Sluice's log unchanged.
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type { Log } from '../log/index.ts';
import { createLogger } from '../logger.ts';
import { GroupCoordinator } from './group-coordinator.ts';
import type { BrokerContext } from './handlers/index.ts';
import { listen } from './server.ts';

export { GroupCoordinator } from './group-coordinator.ts';
export * as protocol from './protocol/index.ts';

export interface BrokerOptions {
  log: Log;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /**
   * The address clients are told to connect to (Kafka's advertised.listeners), in Metadata, FindCoordinator and
   * DescribeCluster answers: for a broker behind NAT, a container port mapping or a proxy. Default: `host`, and the
   * bound port.
   */
  advertisedHost?: string;
  advertisedPort?: number;
  autoCreateTopics?: boolean;
  defaultPartitions?: number;
  maxRequestBytes?: number;
  nodeId?: number;
  /** A new consumer group waits this long for more members before its first generation. */
  initialRebalanceDelayMs?: number;
}

export interface KafkaBroker {
  /** Where the listener is bound. */
  readonly host: string;
  readonly port: number;
  /** The advertised `host:port`, ready for a client's bootstrap servers. */
  readonly address: string;
  close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions): Promise<KafkaBroker> {
  const host = options.host ?? '127.0.0.1';
  const logger = createLogger('kafka');
  const coordinator = new GroupCoordinator(options.log, logger, {
    initialRebalanceDelayMs: options.initialRebalanceDelayMs ?? 300,
    minSessionTimeoutMs: 1000,
    maxSessionTimeoutMs: 3_600_000,
  });
  const maxRequestBytes = options.maxRequestBytes ?? 100 * 1024 * 1024;
  const context: BrokerContext = {
    log: options.log,
    coordinator,
    logger,
    nodeId: options.nodeId ?? 0,
    host: options.advertisedHost ?? host,
    port: options.advertisedPort ?? options.port ?? 9092,
    listener: { host, port: options.port ?? 9092 },
    maxRequestBytes,
    clusterId: `sluice-${randomBytes(8).toString('hex')}`,
    autoCreateTopics: options.autoCreateTopics ?? false,
    defaultPartitions: options.defaultPartitions ?? 1,
  };
  const server: net.Server = await listen(context, {
    host,
    port: options.port ?? 9092,
    maxRequestBytes,
    advertisedPort: options.advertisedPort,
  });
  logger.info(
    { host, port: context.listener.port, advertised: `${context.host}:${context.port}` },
    'Kafka listener started',
  );
  return {
    host,
    port: context.listener.port,
    address: `${context.host}:${context.port}`,
    async close() {
      coordinator.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
