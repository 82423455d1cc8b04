// The registry: each API we serve, bound to its handler. Its APIs (and their versions, from the generated schemas)
// are what decodeRequest accepts and what ApiVersions advertises.
import {
  AddOffsetsToTxn,
  AddPartitionsToTxn,
  AlterConfigs,
  type Api,
  ApiVersions,
  type ApiVersionsResponse,
  CreatePartitions,
  CreateTopics,
  type Decoded,
  DeleteRecords,
  DeleteTopics,
  DescribeCluster,
  DescribeConfigs,
  DescribeGroups,
  DescribeTransactions,
  EndTxn,
  encodeResponse,
  Fetch,
  FindCoordinator,
  Heartbeat,
  IncrementalAlterConfigs,
  InitProducerId,
  JoinGroup,
  KafkaError,
  LeaveGroup,
  ListGroups,
  ListOffsets,
  ListTransactions,
  Metadata,
  OffsetCommit,
  OffsetFetch,
  Produce,
  SyncGroup,
  TxnOffsetCommit,
} from '../protocol/index.ts';
import * as admin from './admin.ts';
import * as configs from './configs.ts';
import type { BrokerContext, Handler, RequestContext } from './context.ts';
import * as data from './data.ts';
import * as groups from './groups.ts';
import * as transactions from './transactions.ts';

export type { BrokerContext, Handler, RequestContext } from './context.ts';

/** An API bound to its handler, with the message types erased so that routes fit in one table. */
export interface Route {
  readonly api: Api;
  /** Runs the handler on a request decoded with `api`'s schema; null when the request gets no answer. */
  serve(request: unknown, broker: BrokerContext, context: RequestContext): Promise<Buffer[] | null>;
}

function route<Req, Res>(
  api: Api<Req, Res>,
  handler: Handler<Req, Res>,
  options: { silent?: (request: Decoded<Req>) => boolean } = {},
): Route {
  return {
    api,
    async serve(body, broker, context) {
      // Sound: the server decodes every request with the schema of the route it then calls.
      const request = body as Decoded<Req>;
      const response = await handler(request, broker, context);
      if (options.silent?.(request)) return null;
      const { apiVersion, correlationId } = context.header;
      return encodeResponse(api, apiVersion, correlationId, response);
    },
  };
}

const ROUTES: readonly Route[] = [
  // acks=0 produce requests get no response at all.
  route(Produce, data.produce, { silent: (request) => request.acks === 0 }),
  route(Fetch, data.fetch),
  route(ListOffsets, data.listOffsets),
  route(Metadata, admin.metadata),
  route(OffsetCommit, groups.offsetCommit),
  route(OffsetFetch, groups.offsetFetch),
  route(FindCoordinator, groups.findCoordinator),
  route(JoinGroup, groups.joinGroup),
  route(Heartbeat, groups.heartbeat),
  route(LeaveGroup, groups.leaveGroup),
  route(SyncGroup, groups.syncGroup),
  route(DescribeGroups, groups.describeGroups),
  route(ListGroups, groups.listGroups),
  route(ApiVersions, () => apiVersionsBody(KafkaError.NONE)),
  route(CreateTopics, admin.createTopics),
  route(DeleteTopics, admin.deleteTopics),
  route(DeleteRecords, admin.deleteRecords),
  route(InitProducerId, transactions.initProducerId),
  route(AddPartitionsToTxn, transactions.addPartitionsToTxn),
  route(AddOffsetsToTxn, transactions.addOffsetsToTxn),
  route(EndTxn, transactions.endTxn),
  route(TxnOffsetCommit, transactions.txnOffsetCommit),
  route(DescribeConfigs, configs.describeConfigs),
  route(AlterConfigs, configs.alterConfigs),
  route(CreatePartitions, admin.createPartitions),
  route(IncrementalAlterConfigs, configs.incrementalAlterConfigs),
  route(DescribeCluster, admin.describeCluster),
  route(DescribeTransactions, transactions.describeTransactions),
  route(ListTransactions, transactions.listTransactions),
];

export const HANDLERS: ReadonlyMap<number, Route> = new Map(ROUTES.map((r) => [r.api.apiKey, r]));

/** The APIs we serve by key, for decodeRequest: a request for any other API or version is UNSUPPORTED_VERSION. */
export const SERVED_APIS: ReadonlyMap<number, Api> = new Map(ROUTES.map((r) => [r.api.apiKey, r.api]));

/**
 * The lowest Produce version ApiVersions names, below the v3 we serve, as Kafka 4.0's broker does
 * (PRODUCE_API_VERSIONS_RESPONSE_MIN_VERSION, KAFKA-18659): librdkafka before 2.8 enables gzip, snappy and lz4 only
 * when the broker's Produce range includes v0, and otherwise silently produces uncompressed. Clients pick the highest
 * version both sides know, never v0–v2; a request at those versions still closes the connection (server.ts).
 */
export const PRODUCE_ADVERTISED_MIN_VERSION = 0;

/** The ApiVersions answer: every registered API with the versions it serves. */
export function apiVersionsBody(errorCode: number): ApiVersionsResponse {
  return {
    errorCode,
    apiKeys: [...SERVED_APIS.values()]
      .sort((a, b) => a.apiKey - b.apiKey)
      .map((api) => ({
        apiKey: api.apiKey,
        minVersion: api.apiKey === Produce.apiKey ? PRODUCE_ADVERTISED_MIN_VERSION : api.minVersion,
        maxVersion: api.maxVersion,
      })),
    throttleTimeMs: 0,
  };
}
