// The contracts every stage depends on and nothing else: the records vocabulary, the connector interfaces (sources,
// sinks, formats, batches), the pipeline's log and environment, and the serving store as readers see it. A leaf
// module: types only, importing nothing outside itself, so that log, kafka, engine, serve, runtime, http,
// orchestrate and cli can all share it without depending on each other's internals (docs/architecture.md).
export type * from './pipeline.ts';
export type * from './records.ts';
export type * from './serving.ts';
export type * from './stream.ts';
