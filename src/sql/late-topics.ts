// A table's late records are written by one query: the window, CUMULATE or OVER aggregation or interval join that
// reads it (two would write each late record twice).
import type { QueryPlan, ScriptPlan } from './plan.ts';
import type { SqlSource, TableDef } from './script.ts';

/**
 * A table's late records come out of the one query that writes them to its late.topic (build.ts): a window or OVER
 * aggregation over the table, or an interval join with the table as a side — through views, subqueries, WITH and
 * UNION ALL too. Two would write every late record twice: refused at the second, naming the first.
 */
export function checkLateTopics(source: SqlSource, plan: ScriptPlan): void {
  const writers = new Map<TableDef, { what: string; at: number; id: unknown }>();
  const visited = new Set<TableDef>();
  const note = (table: TableDef, what: string, at: number, id: unknown) => {
    if (table.lateTopic === undefined || table.derived) return;
    const first = writers.get(table);
    if (!first) {
      writers.set(table, { what, at, id });
      return;
    }
    if (first.id === id) return; // equal window aggregations of subqueries, computed (and written) once
    const { line, column } = source.position(first.at);
    throw source.unsupported(
      at,
      `a second ${what} over ${table.name}, whose late records go to '${table.lateTopic}' ` +
        `(the ${first.what} at line ${line}, column ${column} writes them)`,
      'each would write them; write the results of one query to several places with a materialized view ' +
        "WITH ('topic' = …), or drop 'late.topic'",
    );
  };
  /** `nested`: a relation read by the query (the builder shares equal window aggregations among those). */
  const visit = (query: QueryPlan, at: number, nested: boolean): void => {
    if (query.union) {
      for (const q of query.union.queries) visit(q, at, true);
      return;
    }
    const join = query.join;
    for (const table of [query.source, ...(join ? [join.right] : [])]) {
      if (!table.derived || visited.has(table)) continue;
      visited.add(table);
      visit(table.derived.query as QueryPlan, at, true);
    }
    if (query.window && !query.rank) {
      note(query.source, 'window aggregation', at, nested && query.digest !== undefined ? query.digest : {});
    } else if (query.over) {
      note(query.source, 'OVER aggregation', at, {});
    } else if (join?.kind === 'interval') {
      if (join.right === query.source && query.source.lateTopic !== undefined && !query.source.derived) {
        throw source.unsupported(
          at,
          `an interval join of ${query.source.name} with itself, whose late records go to '${query.source.lateTopic}'`,
          "both sides would write each late record; join a view of the table on one side, or drop 'late.topic'",
        );
      }
      note(query.source, 'interval join', at, {});
      note(join.right, 'interval join', at, {});
    }
  };
  for (const { query, at } of [...plan.inserts, ...plan.views]) visit(query, at, false);
  for (const query of plan.selects) visit(query, query.outputs[0]?.at ?? 0, false);
}
