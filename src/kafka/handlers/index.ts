// Request handlers by API key: plain functions from a decoded request (and the broker's context) to a response body.
import * as admin from './admin.ts';
import type { Handler } from './context.ts';
import * as data from './data.ts';
import * as groups from './groups.ts';

export { apiVersionsBody } from './admin.ts';
export type { BrokerContext, Handler, RequestContext } from './context.ts';

export const HANDLERS: ReadonlyMap<number, Handler> = new Map<number, Handler>([
  [0, data.produce],
  [1, data.fetch],
  [2, data.listOffsets],
  [3, admin.metadata],
  [8, groups.offsetCommit],
  [9, groups.offsetFetch],
  [10, groups.findCoordinator],
  [11, groups.joinGroup],
  [12, groups.heartbeat],
  [13, groups.leaveGroup],
  [14, groups.syncGroup],
  [15, groups.describeGroups],
  [16, groups.listGroups],
  [18, admin.apiVersions],
  [19, admin.createTopics],
  [20, admin.deleteTopics],
  [21, admin.deleteRecords],
  [22, data.initProducerId],
]);
