// The CLI's client side: topics, produce and consume talk to a running broker (Sluice's or a Kafka cluster's)
// through a maintained Kafka client, exactly as any other application would.
import { Admin } from '@platformatic/kafka';
import { explainClientError } from '../connectors/index.ts';

export { explainClientError };

export interface ClientFlags {
  bootstrap: string;
}

/** Runs `work` with an admin client; its failures come out as SluiceErrors (`what`: "describe orders"). */
export async function withAdmin<T>(bootstrap: string, work: (admin: Admin) => Promise<T>, what?: string): Promise<T> {
  const admin = new Admin({
    clientId: 'sluice-cli',
    bootstrapBrokers: [bootstrap],
    retries: 1,
    connectTimeout: 3_000,
  });
  try {
    return await work(admin);
  } catch (error) {
    throw explainClientError(error, bootstrap, what);
  } finally {
    await admin.close().catch(() => {});
  }
}
