// The channel between a host that owns the log and a pipeline running elsewhere (a worker thread or process): the
// transports (ports.ts), a typed call protocol over them (rpc.ts), and the log lent over it — the owner's side
// (serve-log.ts) and the worker's (remote-log.ts), both typed from one table of operations (log-operations.ts).
export {
  type AppendArgs,
  type AppendReply,
  LOG_OPERATIONS,
  type LogOperations,
  type RawPage,
  type TransactionEnded,
} from './log-operations.ts';
export { childProcessPort, type LogPort, type Port, parentProcessPort, threadPort } from './ports.ts';
export { RemoteLog } from './remote-log.ts';
export {
  type ArgsOf,
  type Handlers,
  Moving,
  type Operation,
  type OperationTable,
  op,
  type ResultOf,
  RpcClient,
  type RpcServer,
  serveRpc,
  type WireError,
} from './rpc.ts';
export { type LogChannelServer, type ServeLogHooks, serveLog } from './serve-log.ts';
