// The sans-IO Kafka protocol: API layouts, request/response codecs and error codes. Knows nothing of sockets or the log.
export * as apis from './apis-all.ts';
export { KafkaError, type KafkaErrorCode, kafkaErrorOf } from './errors.ts';
export {
  APIS,
  type DecodedRequest,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  encodeUnsupportedVersion,
  peekHeader,
  type RequestHeader,
  UnsupportedVersionError,
} from './frame.ts';
export { ProtocolError } from './primitives.ts';
export type { ApiSpec, Message } from './schema.ts';
