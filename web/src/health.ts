// Health as the dashboard colours it, from the engine's metrics: a failed or stopped pipeline, operators whose
// output waits for slow sinks (backpressure), idle ones, and the rest flowing.
import type { OperatorJson, PipelineJson } from '../../src/http/api.ts';

export type Health = 'ok' | 'busy' | 'congested' | 'idle' | 'stopped' | 'failed';

export const HEALTH_LABELS: Record<Health, string> = {
  ok: 'flowing',
  busy: 'some backpressure (≥ 10%)',
  congested: 'backpressured (≥ 50%)',
  idle: 'idle',
  stopped: 'stopped',
  failed: 'failed',
};

/** Order of concern: a pipeline is as healthy as its worst operator (an idle one worries least). */
const RANK: Health[] = ['idle', 'ok', 'busy', 'congested', 'stopped', 'failed'];

export function operatorHealth(pipeline: PipelineJson, operator: OperatorJson | undefined): Health {
  if (pipeline.error) return 'failed';
  if (!pipeline.running) return 'stopped';
  if (!operator) return 'idle';
  if (operator.backpressure >= 0.5) return 'congested';
  if (operator.backpressure >= 0.1) return 'busy';
  if (operator.idle) return 'idle';
  return 'ok';
}

export function pipelineHealth(pipeline: PipelineJson): Health {
  let worst: Health = operatorHealth(pipeline, undefined);
  for (const operator of pipeline.operators) {
    const health = operatorHealth(pipeline, operator);
    if (RANK.indexOf(health) > RANK.indexOf(worst)) worst = health;
  }
  return worst;
}
