// A headline figure with its label (records/s, lag, checkpoints...).
import type { ComponentChildren } from 'preact';

export function Stat(props: { label: string; value: ComponentChildren; hint?: string; tone?: 'warn' | 'bad' }) {
  return (
    <div class={`stat${props.tone ? ` ${props.tone}` : ''}`} title={props.hint}>
      <span class="stat-value">{props.value}</span>
      <span class="stat-label">{props.label}</span>
    </div>
  );
}
