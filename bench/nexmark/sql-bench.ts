// `npm run bench -- nexmark --sql [--events N] [--queries q0,q5] [--runs R]`: each Nexmark query that runs in SQL
// (bench/nexmark/sql/), its SQL plan against its DataStream pipeline over the same generated events in one process,
// the two alternated R times after a warm-up of each; prints a table to stderr and one JSON line with each query's
// events/s and events per CPU-second (median runs) and the ratios SQL / DataStream (the target: >= 0.8).
import { countingSink, Pipeline } from '../../src/engine/index.ts';
import { NexmarkGenerator } from './generator.ts';
import { nexmarkEvents, QUERIES } from './queries.ts';
import { nexmarkSource } from './sources.ts';
import { nexmarkSql, SQL_QUERIES, type SqlQueryName } from './sql-queries.ts';

export interface SqlBenchOptions {
  /** Events per run (default 500,000 unless --events is given). */
  events: number;
  queries: string[];
  runs: number;
}

type Side = 'datastream' | 'sql';

async function runOnce(query: SqlQueryName, side: Side, generator: NexmarkGenerator, events: number) {
  const p = new Pipeline({ bounded: true, onError: 'fail', ...(query === 'q12' ? { tickMs: 10 } : {}) });
  const sink = countingSink<unknown>();
  const source = nexmarkSource(generator, events);
  if (side === 'sql') await nexmarkSql(p, p.source(source), query, sink);
  else
    (QUERIES[query] as unknown as (e: unknown) => { sinkTo(s: unknown): void })(nexmarkEvents(p, source)).sinkTo(sink);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await p.run();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    eventsPerSec: Math.round(events / wall),
    eventsPerCpuSec: Math.round(events / ((cpu.user + cpu.system) / 1e6)),
    results: sink.count,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function sqlBench(options: SqlBenchOptions): Promise<void> {
  const queries = options.queries.filter((q): q is SqlQueryName => (SQL_QUERIES as readonly string[]).includes(q));
  const generator = new NexmarkGenerator();
  const out: Record<string, unknown> = { events: options.events, runs: options.runs };
  console.error('query  datastream ev/s   sql ev/s   ratio  cpu ratio  (results ds/sql)');
  for (const query of queries) {
    // Warm-up: both plans' code compiled once.
    const warm = Math.min(options.events, 100_000);
    await runOnce(query, 'datastream', generator, warm);
    await runOnce(query, 'sql', generator, warm);
    const runs: Record<Side, Awaited<ReturnType<typeof runOnce>>[]> = { datastream: [], sql: [] };
    for (let r = 0; r < options.runs; r++) {
      for (const side of (r % 2 === 0 ? ['datastream', 'sql'] : ['sql', 'datastream']) as Side[]) {
        runs[side].push(await runOnce(query, side, generator, options.events));
      }
    }
    const ds = median(runs.datastream.map((r) => r.eventsPerSec));
    const sql = median(runs.sql.map((r) => r.eventsPerSec));
    const ratio = Math.round((sql / ds) * 100) / 100;
    const dsCpu = median(runs.datastream.map((r) => r.eventsPerCpuSec));
    const sqlCpu = median(runs.sql.map((r) => r.eventsPerCpuSec));
    // Per CPU-second as well: on a shared machine wall time carries the neighbours' load.
    const cpuRatio = Math.round((sqlCpu / dsCpu) * 100) / 100;
    out[query] = {
      datastreamEvPerSec: ds,
      sqlEvPerSec: sql,
      ratio,
      datastreamEvPerCpuSec: dsCpu,
      sqlEvPerCpuSec: sqlCpu,
      cpuRatio,
      results: [runs.datastream[0]!.results, runs.sql[0]!.results],
    };
    console.error(
      `${query.padEnd(6)} ${String(ds).padStart(15)} ${String(sql).padStart(10)} ${ratio.toFixed(2).padStart(7)} ` +
        `${cpuRatio.toFixed(2).padStart(9)}  (${runs.datastream[0]!.results}/${runs.sql[0]!.results})`,
    );
  }
  console.log(JSON.stringify({ sqlVsDataStream: out }));
}
