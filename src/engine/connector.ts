// The engine's connector contracts live in src/contracts (every stage shares them); re-exported for the engine.
export type { Sink, Source, SourceBatch, SourceContext } from '../contracts/index.ts';
