// The topics a SQL script reads and writes, from its plan: what a deployment spec infers for a .sql pipeline's
// inputs and outputs (dependency order, table sources, replays), and the views it would need a serving store for.
import type { ScriptPlan } from './planner.ts';

export interface ScriptTopics {
  /** Topics of the tables the script declares over topics and never inserts into: what it reads. */
  reads: string[];
  /** Topics it writes: INSERT INTO sinks, materialized views' `topic`, source tables' `late.topic`. */
  writes: string[];
  /** Its materialized views (serving tables), by name. */
  views: string[];
}

/** Reads and writes of a planned script (a declared table that nothing reads counts as read: declare only what you use). */
export function topicsOf(plan: ScriptPlan): ScriptTopics {
  const written = new Set<string>();
  for (const insert of plan.inserts) written.add(insert.sink.topic);
  for (const { view } of plan.views) if (view.topic !== undefined) written.add(view.topic);
  const sinks = new Set(plan.inserts.map((insert) => insert.sink));
  const reads = new Set<string>();
  for (const table of plan.tables.values()) {
    // A relation a query of the script computes (a view, a WITH query) is no topic.
    if ((table as { derived?: unknown }).derived || sinks.has(table)) continue;
    reads.add(table.topic);
    if (table.lateTopic !== undefined) written.add(table.lateTopic);
  }
  return { reads: [...reads], writes: [...written], views: plan.views.map(({ view }) => view.name) };
}
