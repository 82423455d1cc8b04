// A Kafka-protocol cluster as the engine's log: KafkaClusterLog (a PipelineLog through @platformatic/kafka), and
// kafkaSource / kafkaSink for pipelines written directly against a cluster.
export { connectKafkaLog, KafkaClusterLog, type KafkaLogOptions } from './cluster-log.ts';
export { explainClientError, fromClientError } from './errors.ts';
export { type KafkaSinkOptions, type KafkaSourceOptions, kafkaSink, kafkaSource } from './source-sink.ts';
