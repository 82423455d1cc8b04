// The Kafka client's errors as Sluice's: connection failures become BROKER_UNAVAILABLE naming the address, and
// Kafka's per-partition error names map to the codes the embedded log throws, so callers handle both alike.
import { SluiceError } from '../../errors.ts';

/** Kafka's error names (the client's `apiId`) and the embedded log's code for the same failure. */
const LOG_CODES: Record<string, string> = {
  OFFSET_OUT_OF_RANGE: 'OFFSET_OUT_OF_RANGE',
  TOPIC_ALREADY_EXISTS: 'TOPIC_ALREADY_EXISTS',
  UNKNOWN_TOPIC_OR_PARTITION: 'UNKNOWN_TOPIC_OR_PARTITION',
  UNKNOWN_TOPIC_ID: 'UNKNOWN_TOPIC_OR_PARTITION',
  MESSAGE_TOO_LARGE: 'RECORD_TOO_LARGE',
  RECORD_LIST_TOO_LARGE: 'RECORD_TOO_LARGE',
  INVALID_TOPIC_EXCEPTION: 'INVALID_TOPIC_NAME',
  INVALID_PARTITIONS: 'INVALID_PARTITIONS',
  INVALID_CONFIG: 'INVALID_CONFIG',
  CORRUPT_MESSAGE: 'CORRUPT_MESSAGE',
};

/**
 * A client error as a SluiceError: the first Kafka error name found anywhere in it with a log equivalent, else
 * what explainClientError makes of it. `what` says what was being done ("append to t-0").
 */
export function fromClientError(error: unknown, bootstrap: string, what: string): unknown {
  if (error instanceof SluiceError) return error;
  const apiId = findApiId(error);
  const code = apiId === undefined ? undefined : LOG_CODES[apiId];
  if (code !== undefined) {
    return new SluiceError(
      code,
      `${what}: ${apiId} from the Kafka cluster at ${bootstrap}`,
      { bootstrap },
      { cause: error },
    );
  }
  return explainClientError(error, bootstrap);
}

/** The Kafka error name (e.g. OFFSET_OUT_OF_RANGE) in an error or in the errors nested in it. */
export function findApiId(error: unknown, depth = 0): string | undefined {
  if (!(error instanceof Error) || depth > 4) return undefined;
  const apiId = (error as { apiId?: unknown }).apiId;
  if (typeof apiId === 'string') return apiId;
  for (const nested of (error as Error & { errors?: unknown[] }).errors ?? []) {
    const found = findApiId(nested, depth + 1);
    if (found !== undefined) return found;
  }
  return findApiId(error.cause, depth + 1);
}

/** Turns the client's connection failures into one clear error naming the address that was tried. */
export function explainClientError(error: unknown, bootstrap: string): unknown {
  const text = collectMessages(error);
  if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|Cannot connect|Connection .*closed/i.test(text)) {
    return new SluiceError(
      'BROKER_UNAVAILABLE',
      `cannot reach a Kafka broker at ${bootstrap}; start one with 'sluice broker' or 'sluice dev', or pass --bootstrap`,
      { bootstrap },
      { cause: error },
    );
  }
  const unknownTopic = /UNKNOWN_TOPIC_OR_PARTITION|does not host this topic-partition|Unknown topic/i.test(text);
  if (unknownTopic) return new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', text, {}, { cause: error });
  if (error instanceof Error && !(error instanceof SluiceError) && text !== error.message) {
    return new Error(text, { cause: error });
  }
  return error;
}

/** The client nests the real reason in `errors` / `cause`; a person wants all of it on one line. */
function collectMessages(error: unknown, depth = 0): string {
  if (!(error instanceof Error) || depth > 4) return String(error);
  const parts = [error.message];
  const nested = (error as Error & { errors?: unknown[] }).errors;
  if (Array.isArray(nested)) for (const e of nested) parts.push(collectMessages(e, depth + 1));
  if (error.cause !== undefined) parts.push(collectMessages(error.cause, depth + 1));
  const code = (error as { apiCode?: number; code?: string }).code;
  if (typeof code === 'string' && !parts.some((p) => p.includes(code))) parts.push(code);
  return [...new Set(parts.filter((p) => p.length > 0))].join(': ');
}
