// The SQL planner tests' probes over a script prefix (their CREATE TABLEs): the plan of its one bare SELECT, the
// SluiceError a script is refused with; and a script run over in-memory rows of several tables.
import assert from 'node:assert/strict';
import { collect, type DataStream, fromArrays, Pipeline } from '../../src/engine/index.ts';
import { isSluiceError } from '../../src/errors.ts';
import { addToPipeline, tablesRead } from '../../src/sql/build.ts';
import { planScript, type QueryPlan } from '../../src/sql/index.ts';
import type { Row } from '../../src/sql/types.ts';

export function sqlPlanning(ddl = ''): {
  select(text: string): Promise<QueryPlan>;
  refusal(text: string): Promise<Error>;
} {
  return {
    async select(text) {
      return (await planScript(`${ddl}${text}`, { selects: true })).selects[0]!;
    },
    async refusal(text) {
      try {
        await planScript(`${ddl}${text}`, { selects: true });
      } catch (e) {
        assert.ok(isSluiceError(e), String(e));
        return e as Error;
      }
      assert.fail('the script was accepted');
    },
  };
}

/**
 * Runs a script's INSERT INTOs over `events` — one stream in order, each row naming its table, in batches of two —
 * into one collecting sink: its rows, and the keyed state each operator still holds after the run (its end passes
 * every expiry).
 */
export async function runSqlOver(
  script: string,
  events: (Row & { table: string })[],
): Promise<{ rows: Row[]; state: Map<string, number> }> {
  const plan = await planScript(script);
  const p = new Pipeline({ bounded: true, onError: 'fail' });
  const all = p.source(fromArrays([events], { batchSize: 2 })) as unknown as DataStream<Row & { table: string }>;
  const streams = new Map<string, DataStream<Row>>();
  for (const table of plan.inserts.flatMap((insert) => tablesRead(insert.query))) {
    streams.set(table.name, all.filter((e) => e.table === table.name) as unknown as DataStream<Row>);
  }
  const sink = collect<Row>();
  const sinks = new Map(plan.inserts.map((insert) => [insert.sink.name, sink]));
  await addToPipeline(p, plan, { log: {} as never, sinks, ensureTopics: false }, streams);
  await p.run();
  return { rows: sink.values, state: new Map(p.metrics().operators.map((n) => [n.name, n.stateSize])) };
}
