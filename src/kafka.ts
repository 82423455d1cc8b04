// `sluice/kafka`: pipelines against any Kafka-protocol cluster (Apache Kafka, Redpanda, `sluice broker`) — the
// cluster as a pipeline's whole log (connectKafkaLog), or single Kafka sources and sinks beside the embedded log.
export {
  connectKafkaLog,
  KafkaClusterLog,
  type KafkaLogOptions,
  type KafkaSinkOptions,
  type KafkaSourceOptions,
  kafkaSink,
  kafkaSource,
} from './connectors/index.ts';
