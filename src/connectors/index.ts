// Connectors to systems outside Sluice. Today: any Kafka-protocol cluster (src/connectors/kafka).
export * from './kafka/index.ts';
