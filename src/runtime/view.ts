// One view of a pipeline, wherever it runs: what the HTTP API (/v1/pipelines, /metrics) and the dashboard read —
// metrics, topology, checkpoint history, restarts, source positions — and the supervisor's state. A pipeline in this
// process is its own view; one running elsewhere sends a report (about once a second, or faster) that stands in for it.
import type {
  PipelineHistorySnapshot,
  PipelineMetrics,
  PipelineTopology,
  PipelineView,
  RestartRecord,
} from '../engine/index.ts';
import type { HostKind } from './host.ts';
import type { SupervisorState } from './states.ts';

/** A pipeline's view as it crosses a port (a worker's report). */
export interface PipelineReport {
  /** A partition task's partition (task threads, group members). */
  partition?: number;
  metrics: PipelineMetrics;
  topology: PipelineTopology;
  positions: { operator: string; topic: string; offsets: number[] }[];
  history: PipelineHistorySnapshot;
}

export function reportOf(pipeline: PipelineView, partition?: number): PipelineReport {
  return {
    ...(partition === undefined ? {} : { partition }),
    metrics: pipeline.metrics(),
    topology: pipeline.topology(),
    positions: pipeline.sourcePositions(),
    history: pipeline.history.snapshot(),
  };
}

/** A report as a view, named `name` (default: the pipeline's own name; a task: `<pipeline>#<partition>`). */
export function reportView(report: PipelineReport, name?: string): PipelineView {
  const shown =
    name ?? (report.partition === undefined ? report.metrics.name : `${report.metrics.name}#${report.partition}`);
  return {
    name: shown,
    metrics: () => ({ ...report.metrics, name: shown }),
    topology: () => report.topology,
    sourcePositions: () => report.positions,
    history: { snapshot: () => report.history },
  };
}

/** A view with its supervisor's state, and where it runs. */
export interface RuntimeView extends PipelineView {
  readonly state: SupervisorState;
  readonly host: HostKind;
}

export interface ViewOverlay {
  state: SupervisorState;
  host: HostKind;
  /** Restarts the view does not know of (a worker is a new process after each): added to its own. */
  restarts?: readonly RestartRecord[];
  restartCount?: number;
  /** Shown under this name instead of the view's own. */
  name?: string;
}

const HISTORY_LIMIT = 100;

export function runtimeView(view: PipelineView, overlay: ViewOverlay): RuntimeView {
  const name = overlay.name ?? view.name;
  const extra = overlay.restarts ?? [];
  const count = overlay.restartCount ?? 0;
  return {
    name,
    state: overlay.state,
    host: overlay.host,
    metrics: () => {
      const metrics = view.metrics();
      return { ...metrics, name, restarts: metrics.restarts + count };
    },
    topology: () => view.topology(),
    sourcePositions: () => view.sourcePositions(),
    history: {
      snapshot: () => {
        const own = view.history.snapshot();
        if (extra.length === 0) return own;
        const restarts = [...own.restarts, ...extra].sort((a, b) => a.at - b.at).slice(-HISTORY_LIMIT);
        return { checkpoints: own.checkpoints, restarts };
      },
    },
  };
}

/** The next offsets per partition of each topic a view's sources read (the last source reading it, if several). */
export function positionsByTopic(view: PipelineView | undefined): Record<string, number[]> {
  const positions: Record<string, number[]> = {};
  for (const source of view?.sourcePositions() ?? []) positions[source.topic] = source.offsets;
  return positions;
}
