// The Kafka client's errors as Sluice's: connection failures become BROKER_UNAVAILABLE naming the address, and
// Kafka's per-partition error names map to the codes the embedded log throws, so callers handle both alike. Nothing
// of the client's own vocabulary (its PLT_KFK_* codes, its wrappers' "... failed 3 times") reaches a person: every
// error it throws comes out as a SluiceError with one of Sluice's codes and the reason Kafka gave.
import { codeForKafkaError, SluiceError } from '../../errors.ts';

/** Kafka's names for a cluster that cannot serve the request now: no broker to answer it. */
const UNAVAILABLE = new Set([
  'BROKER_NOT_AVAILABLE',
  'LEADER_NOT_AVAILABLE',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'NETWORK_EXCEPTION',
  'REQUEST_TIMED_OUT',
]);

const CONNECTION_FAILURE =
  /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|Cannot connect|Connection .*closed|socket hang up/i;

/**
 * A client error as a SluiceError: the first Kafka error name found anywhere in it with a log equivalent, else
 * what explainClientError makes of it. `what` says what was being done ("append to t-0").
 */
export function fromClientError(error: unknown, bootstrap: string, what: string): unknown {
  return explainClientError(error, bootstrap, what);
}

/** True for an error the Kafka client threw (or one wrapping it). */
export function isClientError(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 4) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('PLT_KFK_')) return true;
  const nested = (error as Error & { errors?: unknown[] }).errors;
  if (Array.isArray(nested) && nested.some((e) => isClientError(e, depth + 1))) return true;
  return isClientError(error.cause, depth + 1);
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

/**
 * Turns the client's failures into one clear SluiceError: BROKER_UNAVAILABLE naming the address that was tried
 * when no broker answers, the log's code for a Kafka error it has one for, KAFKA_ERROR (with Kafka's name for it)
 * or KAFKA_CLIENT_ERROR otherwise. Errors that are not the client's are returned as they are. `bootstrap` (when
 * known) and `what` (what was being done: "describe orders") go into the message.
 */
export function explainClientError(error: unknown, bootstrap?: string, what?: string): unknown {
  if (error instanceof SluiceError || !(error instanceof Error)) return error;
  const text = reason(error);
  const prefix = what ? `${what}: ` : '';
  const cluster = bootstrap ? ` at ${bootstrap}` : '';
  const details = bootstrap ? { bootstrap } : {};
  const apiId = findApiId(error);
  const connection = CONNECTION_FAILURE.test(allMessages(error)) || hasCode(error, 'PLT_KFK_NETWORK');
  if (connection || hasCode(error, 'PLT_KFK_TIMEOUT') || (apiId !== undefined && UNAVAILABLE.has(apiId))) {
    const why = connection ? '' : ` (${apiId ?? 'no answer in time'}: ${text})`;
    return new SluiceError(
      'BROKER_UNAVAILABLE',
      // Whatever was being done, this is the news: no `what` prefix.
      `cannot reach a Kafka broker${cluster}${why}; start one with 'sluice broker' or 'sluice dev', or pass --bootstrap`,
      details,
      { cause: error },
    );
  }
  // Kafka's error name → the code the embedded log throws for the same failure (one table: src/errors.ts).
  const code = apiId === undefined ? undefined : codeForKafkaError(apiId);
  if (code !== undefined) {
    return new SluiceError(
      code,
      `${prefix}${text} (Kafka error ${apiId}${bootstrap ? ` from ${bootstrap}` : ''})`,
      details,
      {
        cause: error,
      },
    );
  }
  // The client refuses a topic it found no metadata for before asking the cluster anything.
  const unknownTopic = /Unknown topic ([^\s.]+(?:\.[^\s.]+)*)/i.exec(text);
  if (unknownTopic || /does not host this topic-partition/i.test(text)) {
    return new SluiceError(
      'UNKNOWN_TOPIC_OR_PARTITION',
      `${prefix}${unknownTopic ? `topic ${unknownTopic[1]} does not exist` : text}${cluster ? ` on the cluster${cluster}` : ''}`,
      { ...details, ...(unknownTopic ? { topic: unknownTopic[1] } : {}) },
      { cause: error },
    );
  }
  if (apiId !== undefined) {
    return new SluiceError(
      'KAFKA_ERROR',
      `${prefix}${text} (Kafka error ${apiId}${bootstrap ? ` from ${bootstrap}` : ''})`,
      { ...details, kafkaError: apiId },
      { cause: error },
    );
  }
  if (isClientError(error)) {
    return new SluiceError('KAFKA_CLIENT_ERROR', `${prefix}${text}`, details, { cause: error });
  }
  return error;
}

function hasCode(error: unknown, code: string, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 4) return false;
  if ((error as { code?: unknown }).code === code) return true;
  const nested = (error as Error & { errors?: unknown[] }).errors;
  if (Array.isArray(nested) && nested.some((e) => hasCode(e, code, depth + 1))) return true;
  return hasCode(error.cause, code, depth + 1);
}

/**
 * What went wrong, in Kafka's words: the innermost messages (the client wraps the broker's answer in "Received
 * response with error while executing API ..." and "... failed 3 times"), with the broker's own explanation.
 */
function reason(error: Error): string {
  const leaves: string[] = [];
  const visit = (e: unknown, depth: number) => {
    if (!(e instanceof Error) || depth > 4) return;
    const nested = [
      ...((e as Error & { errors?: unknown[] }).errors ?? []),
      ...(e.cause === undefined ? [] : [e.cause]),
    ];
    const server = (e as { serverErrorMessage?: unknown }).serverErrorMessage;
    if (nested.length === 0 || !nested.some((n) => n instanceof Error)) {
      leaves.push(e.message.replace(/\.$/, '') + (typeof server === 'string' && server ? ` (${server})` : ''));
    }
    for (const n of nested) visit(n, depth + 1);
  };
  visit(error, 0);
  const unique = [...new Set(leaves.filter((l) => l.length > 0))];
  return unique.length > 0 ? unique.join('; ') : error.message;
}

/** Every message in an error and those nested in it (to recognise a connection failure wherever it is). */
function allMessages(error: unknown, depth = 0): string {
  if (!(error instanceof Error) || depth > 4) return String(error);
  const parts = [error.message, String((error as { code?: unknown }).code ?? '')];
  const nested = (error as Error & { errors?: unknown[] }).errors;
  if (Array.isArray(nested)) for (const e of nested) parts.push(allMessages(e, depth + 1));
  if (error.cause !== undefined) parts.push(allMessages(error.cause, depth + 1));
  return parts.join(' ');
}
