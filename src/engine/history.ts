// What happened to a pipeline over time, for operators and the dashboard: the last checkpoints (completed or
// failed, with duration and size) and the restarts with their causes. One history outlives the pipeline instances
// that a supervisor rebuilds after each failure, so that a restart does not wipe the record of why it happened.

/** One checkpoint or savepoint attempt. */
export interface CheckpointRecord {
  id: number;
  kind: 'checkpoint' | 'savepoint';
  /** When the barrier was taken (epoch ms). */
  startedAt: number;
  status: 'completed' | 'failed';
  /** From the barrier to the file being durable and the sinks committed (or to the failure). */
  durationMs: number;
  /** How long the sources were held at the barrier. */
  pauseMs: number;
  /** Size of the checkpoint file; null when it failed before one was written. */
  bytes: number | null;
  /** Why it failed. */
  error?: string;
}

/** A failure of the pipeline and what the supervisor did about it. */
export interface RestartRecord {
  /** When the pipeline failed (epoch ms). */
  at: number;
  /** The error's stable code, when it had one. */
  code: string | null;
  message: string;
  /** Failures within the supervisor's window, this one included. */
  failures: number;
  /** The delay before the restart; null when the supervisor gave up (a crash loop). */
  restartInMs: number | null;
}

export interface PipelineHistorySnapshot {
  checkpoints: CheckpointRecord[];
  restarts: RestartRecord[];
}

export class PipelineHistory {
  private readonly limit: number;
  private readonly checkpointList: CheckpointRecord[] = [];
  private readonly restartList: RestartRecord[] = [];
  /** Restarts ever made (the list keeps only the last ones). */
  private restartCount = 0;

  /** Keeps the last `limit` checkpoints and the last `limit` restarts. */
  constructor(limit = 100) {
    this.limit = limit;
  }

  recordCheckpoint(record: CheckpointRecord): void {
    this.checkpointList.push(record);
    if (this.checkpointList.length > this.limit) this.checkpointList.shift();
  }

  recordRestart(record: RestartRecord): void {
    this.restartList.push(record);
    if (record.restartInMs !== null) this.restartCount++;
    if (this.restartList.length > this.limit) this.restartList.shift();
  }

  /** Copies, oldest first. */
  snapshot(): PipelineHistorySnapshot {
    return {
      checkpoints: this.checkpointList.map((c) => ({ ...c })),
      restarts: this.restartList.map((r) => ({ ...r })),
    };
  }

  /** How many times the pipeline was restarted. */
  get restarts(): number {
    return this.restartCount;
  }
}
