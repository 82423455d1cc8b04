// The CLI's client side: topics, produce and consume talk to a running broker (Sluice's or a Kafka cluster's)
// through a maintained Kafka client, exactly as any other application would.
import { Admin } from '@platformatic/kafka';
import { SluiceError } from '../errors.ts';

export interface ClientFlags {
  bootstrap: string;
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

export async function withAdmin<T>(bootstrap: string, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({
    clientId: 'sluice-cli',
    bootstrapBrokers: [bootstrap],
    retries: 1,
    connectTimeout: 3_000,
  });
  try {
    return await work(admin);
  } catch (error) {
    throw explainClientError(error, bootstrap);
  } finally {
    await admin.close().catch(() => {});
  }
}
