// The messages between the orchestrator and a pipeline's worker process (besides the log channel's calls).
import type { PipelineMetrics, StartPosition } from '../engine/index.ts';

export interface WorkerStart {
  kind: 'start';
  /** The pipeline file, as a file: URL. */
  fileUrl: string;
  dataDir: string;
  bounded: boolean;
  /** Checkpoints (and restore from the latest) in this directory; none for a batch run. */
  checkpointDir?: string;
  checkpointIntervalMs: number;
  /** Where the log sources start (and, bounded, stop) when no checkpoint says otherwise. */
  position?: { from: StartPosition; until?: Record<number, number> | { timestamp: number } };
  reportMs?: number;
}

export type WorkerMessage =
  /** The pipeline file loaded and its definition built the pipeline (a failure before this is not restarted). */
  | { kind: 'built' }
  | { kind: 'ready' }
  /** Every report also gives the log sources' positions (next offset per partition, by topic): replay progress. */
  | { kind: 'metrics'; metrics: PipelineMetrics; positions: Record<string, number[]> }
  | { kind: 'finished'; metrics: PipelineMetrics }
  /** `phase`: loading the file, building the pipeline (final when the pipeline never built), or running it. */
  | { kind: 'failed'; error: { code: string; message: string; phase?: 'load' | 'build' | 'run' } };
