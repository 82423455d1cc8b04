// A source and a sink for pipelines written directly against a Kafka cluster: the engine's LogSource and logSink
// over a KafkaClusterLog that each owns (connected when the pipeline opens it, closed when it closes).
import {
  type Format,
  LogSinkConnector,
  type LogSinkOptions,
  LogSource,
  type LogSourceOptions,
} from '../../engine/index.ts';
import { KafkaClusterLog } from './cluster-log.ts';

export interface KafkaSourceOptions<T> extends Omit<LogSourceOptions<T>, 'log'> {
  bootstrap: string;
  clientId?: string;
}

export interface KafkaSinkOptions<T> extends Omit<LogSinkOptions<T>, 'log'> {
  bootstrap: string;
  clientId?: string;
  format: Format<T>;
}

/** Reads a topic of the cluster at `bootstrap`, as logSource reads one of the embedded log. */
export function kafkaSource<T>(options: KafkaSourceOptions<T>): LogSource<T> {
  const { bootstrap, clientId, ...rest } = options;
  return new KafkaSource(
    new KafkaClusterLog({ bootstrap, clientId: clientId ?? `sluice-source-${options.topic}` }),
    rest,
  );
}

class KafkaSource<T> extends LogSource<T> {
  private readonly cluster: KafkaClusterLog;

  constructor(cluster: KafkaClusterLog, options: Omit<LogSourceOptions<T>, 'log'>) {
    super({ ...options, log: cluster });
    this.cluster = cluster;
  }

  override async open(ctx: Parameters<LogSource<T>['open']>[0]): Promise<void> {
    await this.cluster.connect();
    await super.open(ctx);
  }

  override async close(): Promise<void> {
    await super.close();
    await this.cluster.close();
  }
}

/** Writes to a topic of the cluster at `bootstrap`, as logSink writes to one of the embedded log. */
export function kafkaSink<T>(options: KafkaSinkOptions<T>): KafkaSink<T> {
  const { bootstrap, clientId, ...rest } = options;
  const cluster = new KafkaClusterLog({ bootstrap, clientId: clientId ?? `sluice-sink-${options.topic}` });
  return new KafkaSink(cluster, rest);
}

/** A log sink that owns its cluster client: connected on open, closed on close. */
export class KafkaSink<T> extends LogSinkConnector<T> {
  private readonly cluster: KafkaClusterLog;

  constructor(cluster: KafkaClusterLog, options: Omit<LogSinkOptions<T>, 'log'>) {
    super({ ...options, log: cluster });
    this.cluster = cluster;
  }

  override async open(): Promise<void> {
    await this.cluster.connect();
    await super.open();
  }

  override async close(): Promise<void> {
    await super.close();
    await this.cluster.close();
  }
}
