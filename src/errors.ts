// The base of every error Sluice throws on purpose: a stable machine-readable `code` from one table (ERROR_CODES,
// below) that maps it to an HTTP status, a CLI exit code and Kafka's error names, plus a message a person can act on.

export class SluiceError<Code extends ErrorCode = ErrorCode> extends Error {
  readonly code: Code;
  /** Extra machine-readable facts (topic, partition, offset, line number...) for logs and HTTP bodies. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: Code, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SluiceError';
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: Code; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isSluiceError(error: unknown, code?: ErrorCode): error is SluiceError {
  return error instanceof SluiceError && (code === undefined || error.code === code);
}

/** The CLI's exit codes: 0 success, 1 failure, 2 bad usage or input, 3 not found, 4 unavailable, 130 interrupted. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  UNAVAILABLE: 4,
  INTERRUPTED: 130,
} as const;

export interface ErrorMapping {
  /** The HTTP status the API answers with. */
  readonly http: 400 | 401 | 403 | 404 | 408 | 409 | 413 | 429 | 500 | 503;
  /** The exit code of a CLI command that fails with it. */
  readonly exit: (typeof EXIT)[keyof typeof EXIT];
  /** Kafka's error name for the same failure: what the broker answers with, and a client's error read back as this. */
  readonly kafka?: string;
  /** More Kafka error names a client may report that mean this code (the broker never answers with them). */
  readonly fromKafka?: readonly string[];
}

/**
 * Every error code Sluice throws, with its HTTP status, CLI exit code and Kafka error names: the one table the CLI,
 * the HTTP API and the Kafka protocol map codes by (docs/contributing.md#errors). A code not in it does not compile.
 */
export const ERROR_CODES = {
  /** A wait was given up (a lease, a stop). */
  ABORTED: { http: 400, exit: EXIT.FAILURE },
  /** A cluster acknowledged no offset for an append. */
  APPEND_FAILED: { http: 400, exit: EXIT.FAILURE },
  /** A record was refused and the pipeline fails fast (onError: fail). */
  BAD_RECORD: { http: 400, exit: EXIT.FAILURE },
  /** A batch sink was used after its commit. */
  BATCH_DONE: { http: 400, exit: EXIT.FAILURE },
  /** A batch run wrote nothing to the topic it was to read back. */
  BATCH_NO_OUTPUT: { http: 400, exit: EXIT.FAILURE },
  /** A batch range holds more rows than one replacement takes. */
  BATCH_TOO_LARGE: { http: 400, exit: EXIT.FAILURE },
  /** No broker (or no running deployment) answers. */
  BROKER_UNAVAILABLE: { http: 503, exit: EXIT.UNAVAILABLE },
  /** A savepoint was asked of a pipeline without checkpoints. */
  CHECKPOINTS_DISABLED: { http: 400, exit: EXIT.FAILURE },
  /** A checkpoint or savepoint file cannot be read. */
  CHECKPOINT_NOT_FOUND: { http: 400, exit: EXIT.NOT_FOUND },
  /** ClickHouse refused a statement. */
  CLICKHOUSE_ERROR: { http: 400, exit: EXIT.FAILURE },
  /** A ClickHouse table lacks columns the sink needs. */
  CLICKHOUSE_SCHEMA: { http: 400, exit: EXIT.FAILURE },
  /** A transaction is still completing (its markers being written): retry. */
  CONCURRENT_TRANSACTIONS: { http: 409, exit: EXIT.FAILURE, kafka: 'CONCURRENT_TRANSACTIONS' },
  /** A checkpoint file fails its checksum or does not parse. */
  CORRUPT_CHECKPOINT: { http: 500, exit: EXIT.FAILURE },
  /** A record batch is truncated or fails its CRC. */
  CORRUPT_MESSAGE: { http: 400, exit: EXIT.FAILURE, kafka: 'CORRUPT_MESSAGE' },
  /** Another process (or this one) has the data directory open. */
  DATA_DIR_LOCKED: { http: 400, exit: EXIT.FAILURE },
  /** The demo of `sluice dev` is still starting (its clock is not running yet). */
  DEMO_STARTING: { http: 503, exit: EXIT.FAILURE },
  /** The deployment is still starting. */
  DEPLOYMENT_STARTING: { http: 503, exit: EXIT.FAILURE },
  /** Two operators of a pipeline have one uid. */
  DUPLICATE_UID: { http: 400, exit: EXIT.FAILURE },
  /** A fetch from a cluster failed with a Kafka error. */
  FETCH_FAILED: { http: 400, exit: EXIT.FAILURE },
  /** A hybrid table's new batch range would leave a gap. */
  HYBRID_GAP: { http: 400, exit: EXIT.FAILURE },
  /** A checkpoint's state does not fit the pipeline's operators. */
  INCOMPATIBLE_CHECKPOINT: { http: 400, exit: EXIT.FAILURE },
  /** HTTP on a public interface without a token. */
  INSECURE_BIND: { http: 400, exit: EXIT.USAGE },
  /** A broken invariant: a bug. */
  INTERNAL: { http: 500, exit: EXIT.FAILURE },
  /** An argument or option is not valid. */
  INVALID_ARGUMENT: { http: 400, exit: EXIT.USAGE, fromKafka: ['INVALID_REPLICATION_FACTOR'] },
  /** A checkpoint holds no valid state for an operator or source. */
  INVALID_CHECKPOINT: { http: 400, exit: EXIT.USAGE },
  /** A consumer group commit names an invalid offset. */
  INVALID_COMMIT_OFFSET: { http: 400, exit: EXIT.USAGE, kafka: 'INVALID_COMMIT_OFFSET_SIZE' },
  /** A topic setting is out of range. */
  INVALID_CONFIG: { http: 400, exit: EXIT.USAGE, kafka: 'INVALID_CONFIG' },
  /** A duration does not parse. */
  INVALID_DURATION: { http: 400, exit: EXIT.USAGE },
  /** Command-line flags that cannot go together. */
  INVALID_FLAGS: { http: 400, exit: EXIT.USAGE },
  /** A consumer group id is not valid. */
  INVALID_GROUP_ID: { http: 400, exit: EXIT.USAGE, kafka: 'INVALID_GROUP_ID' },
  /** A join bound is not valid. */
  INVALID_JOIN: { http: 400, exit: EXIT.USAGE },
  /** A savepoint or other name is not valid. */
  INVALID_NAME: { http: 400, exit: EXIT.USAGE },
  /** An offset does not start a record batch. */
  INVALID_OFFSET: { http: 400, exit: EXIT.USAGE },
  /** A partition count is out of range. */
  INVALID_PARTITIONS: { http: 400, exit: EXIT.USAGE, kafka: 'INVALID_PARTITIONS' },
  /** A pipeline file does not load or does not define a pipeline. */
  INVALID_PIPELINE: { http: 400, exit: EXIT.USAGE },
  /** An idempotent producer's epoch is older than the current one. */
  INVALID_PRODUCER_EPOCH: { http: 400, exit: EXIT.USAGE, kafka: 'INVALID_PRODUCER_EPOCH' },
  /** A transactional request names a producer id that is not its transactional id's. */
  INVALID_PRODUCER_ID_MAPPING: { http: 400, exit: EXIT.USAGE, kafka: 'INVALID_PRODUCER_ID_MAPPING' },
  /** A time range is empty or reversed. */
  INVALID_RANGE: { http: 400, exit: EXIT.USAGE },
  /** A record is refused (empty append, bad NDJSON line, invalid UTF-8). */
  INVALID_RECORD: { http: 400, exit: EXIT.USAGE, kafka: 'INVALID_RECORD' },
  /** A request to browse a partition's records has a bad parameter (offset, timestamp, key, limit). */
  INVALID_RECORDS_QUERY: { http: 400, exit: EXIT.USAGE },
  /** A repartition step is not valid. */
  INVALID_REPARTITION: { http: 400, exit: EXIT.USAGE },
  /** A request is malformed. */
  INVALID_REQUEST: { http: 400, exit: EXIT.USAGE, kafka: 'INVALID_REQUEST' },
  /** A dashboard series spec is not valid. */
  INVALID_SERIES: { http: 400, exit: EXIT.USAGE },
  /** A deployment spec does not load or validate. */
  INVALID_SPEC: { http: 400, exit: EXIT.USAGE },
  /** SQL that does not parse or type-check (streaming SQL names the line:column). */
  INVALID_SQL: { http: 400, exit: EXIT.USAGE },
  /** A serving table definition is not valid. */
  INVALID_TABLE: { http: 400, exit: EXIT.USAGE },
  /** A partition task is not valid. */
  INVALID_TASK: { http: 400, exit: EXIT.USAGE },
  /** A topic name is not valid. */
  INVALID_TOPIC_NAME: { http: 400, exit: EXIT.USAGE, kafka: 'INVALID_TOPIC_EXCEPTION' },
  /** A transaction timeout is not positive or above the broker's maximum (15 minutes). */
  INVALID_TRANSACTION_TIMEOUT: { http: 400, exit: EXIT.USAGE, kafka: 'INVALID_TRANSACTION_TIMEOUT' },
  /** A transactional request does not fit the transaction's state (ending one never begun, writing outside one). */
  INVALID_TXN_STATE: { http: 400, exit: EXIT.USAGE, kafka: 'INVALID_TXN_STATE' },
  /** A window size or slide is not valid. */
  INVALID_WINDOW: { http: 400, exit: EXIT.USAGE },
  /** A batch run was stopped. */
  JOB_CANCELLED: { http: 400, exit: EXIT.FAILURE },
  /** A scheduled job failed. */
  JOB_FAILED: { http: 400, exit: EXIT.FAILURE },
  /** The job is already running. */
  JOB_RUNNING: { http: 409, exit: EXIT.FAILURE },
  /** A job ran longer than its timeout. */
  JOB_TIMEOUT: { http: 400, exit: EXIT.FAILURE },
  /** The Kafka client failed without a Kafka error code. */
  KAFKA_CLIENT_ERROR: { http: 500, exit: EXIT.FAILURE },
  /** A cluster answered with a Kafka error Sluice has no code of its own for. */
  KAFKA_ERROR: { http: 500, exit: EXIT.FAILURE },
  /** The log or partition is closed. */
  LOG_CLOSED: { http: 503, exit: EXIT.FAILURE },
  /** A member process of a scaled-out run exited. */
  MEMBER_EXITED: { http: 400, exit: EXIT.FAILURE },
  /** The cluster refused access. */
  NOT_AUTHORIZED: {
    http: 403,
    exit: EXIT.FAILURE,
    fromKafka: [
      'TOPIC_AUTHORIZATION_FAILED',
      'GROUP_AUTHORIZATION_FAILED',
      'CLUSTER_AUTHORIZATION_FAILED',
      'SASL_AUTHENTICATION_FAILED',
    ],
  },
  /** Inputs of a scaled-out pipeline have different partition counts. */
  NOT_CO_PARTITIONED: { http: 400, exit: EXIT.FAILURE },
  /** A batch write to a table that is not hybrid. */
  NOT_HYBRID: { http: 400, exit: EXIT.FAILURE },
  /** The server has no serving store. */
  NO_SERVING_STORE: { http: 503, exit: EXIT.FAILURE },
  /** A pipeline has no sink. */
  NO_SINK: { http: 400, exit: EXIT.FAILURE },
  /** An offset below the log start or past the end. */
  OFFSET_OUT_OF_RANGE: { http: 400, exit: EXIT.FAILURE, kafka: 'OFFSET_OUT_OF_RANGE' },
  /** An idempotent producer skipped a sequence number. */
  OUT_OF_ORDER_SEQUENCE_NUMBER: { http: 400, exit: EXIT.FAILURE, kafka: 'OUT_OF_ORDER_SEQUENCE_NUMBER' },
  /** A request body over its limit. */
  PAYLOAD_TOO_LARGE: { http: 413, exit: EXIT.FAILURE },
  /** A pipeline file's definition threw while building. */
  PIPELINE_BUILD_FAILED: { http: 400, exit: EXIT.FAILURE },
  /** A pipeline failed too often within the restart window. */
  PIPELINE_CRASH_LOOP: { http: 400, exit: EXIT.FAILURE },
  /** A pipeline failed. */
  PIPELINE_FAILED: { http: 400, exit: EXIT.FAILURE },
  /** The pipeline is already running. */
  PIPELINE_RUNNING: { http: 400, exit: EXIT.FAILURE },
  /** A pipeline stopped before it was healthy. */
  PIPELINE_STOPPED: { http: 400, exit: EXIT.FAILURE },
  /** A newer instance of the transactional producer (a higher epoch) exists: this one is a zombie. */
  PRODUCER_FENCED: { http: 409, exit: EXIT.FAILURE, kafka: 'PRODUCER_FENCED' },
  /** Sluice init would overwrite files. */
  PROJECT_EXISTS: { http: 400, exit: EXIT.USAGE },
  /** A query ran past its timeout and was cancelled. */
  QUERY_TIMEOUT: { http: 408, exit: EXIT.FAILURE },
  /** Too many records per second for a topic over HTTP. */
  RATE_LIMITED: { http: 429, exit: EXIT.FAILURE },
  /** SQL other than one SELECT. */
  READ_ONLY: { http: 400, exit: EXIT.USAGE },
  /** A record batch over the topic's max message bytes. */
  RECORD_TOO_LARGE: { http: 400, exit: EXIT.FAILURE, kafka: 'MESSAGE_TOO_LARGE', fromKafka: ['RECORD_LIST_TOO_LARGE'] },
  /** A repartition reader would resume below deleted records. */
  REPARTITION_RECORDS_DELETED: { http: 400, exit: EXIT.FAILURE },
  /** A replay was cancelled. */
  REPLAY_CANCELLED: { http: 400, exit: EXIT.FAILURE },
  /** A replay failed. */
  REPLAY_FAILED: { http: 400, exit: EXIT.FAILURE },
  /** A replay of a pipeline that feeds others. */
  REPLAY_HAS_DEPENDENTS: { http: 400, exit: EXIT.FAILURE },
  /** A replay of the pipeline is already running. */
  REPLAY_RUNNING: { http: 409, exit: EXIT.FAILURE },
  /** A savepoint of that name exists. */
  SAVEPOINT_EXISTS: { http: 409, exit: EXIT.FAILURE },
  /** No savepoint of that name. */
  SAVEPOINT_NOT_FOUND: { http: 400, exit: EXIT.NOT_FOUND },
  /** A row's value does not fit its column. */
  SCHEMA_MISMATCH: { http: 400, exit: EXIT.FAILURE },
  /** A write or fsync to disk failed. */
  STORAGE_ERROR: { http: 500, exit: EXIT.FAILURE, kafka: 'KAFKA_STORAGE_ERROR' },
  /** The serving store is closed. */
  STORE_CLOSED: { http: 503, exit: EXIT.FAILURE },
  /** A table of that name exists. */
  TABLE_EXISTS: { http: 409, exit: EXIT.FAILURE },
  /** The table is the version an alias shows. */
  TABLE_IN_USE: { http: 409, exit: EXIT.FAILURE },
  /** A table whose pipeline is not healthy yet. */
  TABLE_NOT_READY: { http: 503, exit: EXIT.FAILURE },
  /** A pipeline that cannot be split into partition tasks. */
  TASKS_UNSUPPORTED: { http: 400, exit: EXIT.FAILURE },
  /** An operation did not finish in time. */
  TIMEOUT: { http: 400, exit: EXIT.FAILURE },
  /** Too many live streams are open. */
  TOO_MANY_STREAMS: { http: 503, exit: EXIT.FAILURE },
  /** The topic exists. */
  TOPIC_ALREADY_EXISTS: { http: 409, exit: EXIT.FAILURE, kafka: 'TOPIC_ALREADY_EXISTS' },
  /** A topic exists with other settings than the spec says. */
  TOPIC_MISMATCH: { http: 400, exit: EXIT.FAILURE },
  /** No or a wrong bearer token. */
  UNAUTHORIZED: { http: 401, exit: EXIT.FAILURE },
  /** No deployment has run on the data directory. */
  UNKNOWN_DEPLOYMENT: { http: 404, exit: EXIT.NOT_FOUND },
  /** No job of that name. */
  UNKNOWN_JOB: { http: 404, exit: EXIT.NOT_FOUND },
  /** No partition of that number in a topic that exists. */
  UNKNOWN_PARTITION: { http: 404, exit: EXIT.NOT_FOUND },
  /** No pipeline of that name. */
  UNKNOWN_PIPELINE: { http: 404, exit: EXIT.NOT_FOUND },
  /** No replay of that id. */
  UNKNOWN_REPLAY: { http: 404, exit: EXIT.NOT_FOUND },
  /** No HTTP route. */
  UNKNOWN_ROUTE: { http: 404, exit: EXIT.NOT_FOUND },
  /** No job run of that id. */
  UNKNOWN_RUN: { http: 404, exit: EXIT.NOT_FOUND },
  /** No serving table of that name. */
  UNKNOWN_TABLE: { http: 404, exit: EXIT.NOT_FOUND },
  /** No topic of that name (a command refuses to create it). */
  UNKNOWN_TOPIC: { http: 404, exit: EXIT.NOT_FOUND },
  /** No topic or partition of that name or number. */
  UNKNOWN_TOPIC_OR_PARTITION: {
    http: 404,
    exit: EXIT.NOT_FOUND,
    kafka: 'UNKNOWN_TOPIC_OR_PARTITION',
    fromKafka: ['UNKNOWN_TOPIC_ID'],
  },
  /** No version of that number. */
  UNKNOWN_VERSION: { http: 404, exit: EXIT.NOT_FOUND },
  /** An operation the log or cluster cannot do. */
  UNSUPPORTED: { http: 400, exit: EXIT.FAILURE },
  /** A checkpoint of a format version this Sluice cannot read. */
  UNSUPPORTED_CHECKPOINT: { http: 400, exit: EXIT.FAILURE },
  /** A compression codec Sluice does not support. */
  UNSUPPORTED_COMPRESSION_TYPE: { http: 400, exit: EXIT.FAILURE, kafka: 'UNSUPPORTED_COMPRESSION_TYPE' },
  /** Streaming SQL with a construct the planner refuses (a join, OVER...): the message names it and its line:column. */
  UNSUPPORTED_SQL: { http: 400, exit: EXIT.USAGE },
  /** A record batch format other than v2. */
  UNSUPPORTED_VERSION: { http: 400, exit: EXIT.FAILURE, kafka: 'UNSUPPORTED_FOR_MESSAGE_FORMAT' },
  /** A command used wrongly. */
  USAGE: { http: 400, exit: EXIT.USAGE },
  /** The version is live. */
  VERSION_IN_USE: { http: 409, exit: EXIT.FAILURE },
} as const satisfies Record<string, ErrorMapping>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** How `code` maps to HTTP, the CLI and Kafka; codes of other origins (a dependency's) get the defaults. */
export function errorMapping(code: string): ErrorMapping {
  return (ERROR_CODES as Record<string, ErrorMapping>)[code] ?? { http: 500, exit: EXIT.FAILURE };
}

/** The Sluice code for a Kafka error name (a client's error), if Sluice has one. */
export function codeForKafkaError(name: string): ErrorCode | undefined {
  return KAFKA_TO_CODE.get(name);
}

const KAFKA_TO_CODE = new Map<string, ErrorCode>(
  Object.entries(ERROR_CODES as Record<ErrorCode, ErrorMapping>).flatMap(([code, { kafka, fromKafka = [] }]) =>
    [...(kafka ? [kafka] : []), ...fromKafka].map((name) => [name, code as ErrorCode] as const),
  ),
);

/** The Kafka error name the broker answers `code` with, if it has one (else UNKNOWN_SERVER_ERROR). */
export function kafkaErrorFor(code: string): string | undefined {
  return errorMapping(code).kafka;
}

/**
 * A SluiceError received over the wire (an HTTP answer, a worker's message): its own code when this Sluice knows it,
 * else `fallback`, with the code as sent kept in the details.
 */
export function errorFromWire(
  wire: { code: string; message: string; details?: Record<string, unknown> },
  fallback: ErrorCode = 'INTERNAL',
): SluiceError {
  if (Object.hasOwn(ERROR_CODES, wire.code)) return new SluiceError(wire.code as ErrorCode, wire.message, wire.details);
  return new SluiceError(fallback, wire.message, { ...wire.details, remoteCode: wire.code });
}
