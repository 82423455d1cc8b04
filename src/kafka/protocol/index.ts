// The sans-IO Kafka protocol: message types and schemas generated from Kafka's JSON specs, request/response codecs
// and error codes. Knows nothing of sockets or the log.
export { KafkaError, type KafkaErrorCode, kafkaErrorOf } from './errors.ts';
export {
  APIS,
  type DecodedRequest,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  peekHeader,
  type RequestHeader,
  UnsupportedVersionError,
} from './frame.ts';
export * as apis from './generated/index.ts';
export * from './generated/index.ts';
export { ProtocolError } from './primitives.ts';
export type { Api, ApiSchema, Decoded, FieldSchema } from './schema.ts';
