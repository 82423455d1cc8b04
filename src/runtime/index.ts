// The runtime: one way to run a pipeline somewhere and keep it running. A host starts the pipeline — in this process,
// in a worker thread, in a worker process, or as a member process of a consumer group — and shows it (views); one
// supervisor, driven by one table of states and events, decides restarts, backoff and giving up for all of them.
// Below it: the pipeline-file loader and the channel that lends this process's log to pipelines running elsewhere.
export {
  childProcessPort,
  LOG_OPERATIONS,
  type LogChannelServer,
  type LogOperations,
  type LogPort,
  op,
  type Port,
  parentProcessPort,
  RemoteLog,
  RpcClient,
  type ServeLogHooks,
  serveLog,
  serveRpc,
  threadPort,
} from './channel/index.ts';
export { connectToHost, GroupMemberHost, type GroupMemberHostOptions, type HostLink } from './group-member.ts';
export {
  type HostEvents,
  type HostExit,
  type HostKind,
  type Incarnation,
  type PipelineHost,
  phaseOf,
  toWireFailure,
  type WireFailure,
} from './host.ts';
export { InProcessHost, type InProcessHostOptions } from './in-process.ts';
export { displayPath, importUserFile, type LoadFileOptions } from './load-file.ts';
export { buildPipeline, isStartupFailure, loadPipelineFile } from './pipeline-file.ts';
export { RestartBudget, type RestartPolicy, sleep } from './policy.ts';
export {
  type Endpoint,
  endpoint,
  type FromWorker,
  type FromWorkerMessage,
  hostEndpoint,
  type Message,
  type ToWorker,
  type ToWorkerMessage,
  type WorkerStart,
  workerEndpoint,
} from './protocol.ts';
export {
  EVENT_KEYS,
  type EventKey,
  type FailurePhase,
  isFinal,
  nextState,
  SUPERVISOR_STATES,
  type SupervisorEvent,
  type SupervisorState,
  TRANSITIONS,
} from './states.ts';
export { type SupervisedRun, supervise } from './supervise.ts';
export { Supervisor, type SupervisorOptions } from './supervisor.ts';
export { type PipelineReport, positionsByTopic, type RuntimeView, reportOf, reportView, runtimeView } from './view.ts';
export { WorkerProcessHost, type WorkerProcessHostOptions } from './worker-process.ts';
export { WorkerThreadHost, type WorkerThreadHostOptions } from './worker-thread.ts';
