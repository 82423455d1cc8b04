// Building a planned script with the DataStream API: one log source per table read (JSON, the declared columns,
// event time with a bounded-out-of-orderness watermark), then per INSERT: filter → keyBy → window → aggregate →
// projection → log sink. The same operators, checkpoints and exactly-once sinks as a TypeScript pipeline.
import {
  type Aggregate,
  type DataStream,
  ensureTopic,
  json,
  logSink,
  logSource,
  Pipeline,
  type PipelineLog,
  watermarks,
  windows,
} from '../engine/index.ts';
import type { AggregateCall, InsertPlan, ScriptPlan } from './planner.ts';
import type { TableDef } from './script.ts';
import { type Row, readColumn, type Value } from './types.ts';

export interface BuildOptions {
  log: PipelineLog;
  bounded: boolean;
  /** The pipeline's name (its checkpoints' directory): the file's name for `sluice run file.sql`. */
  name: string;
  /** Create the tables' topics when missing (default true; EXPLAIN builds without touching the log). */
  ensureTopics?: boolean;
}

export async function buildPipeline(plan: ScriptPlan, options: BuildOptions): Promise<Pipeline> {
  const { log } = options;
  if (options.ensureTopics !== false) {
    const used = new Set(plan.inserts.flatMap((insert) => [insert.query.source, insert.sink]));
    for (const table of used) await ensureTopic(log, table.topic, { partitions: table.partitions });
  }
  const p = new Pipeline({ name: options.name, bounded: options.bounded });
  const sources = new Map<TableDef, DataStream<Row>>();
  const sourceOf = (table: TableDef) => {
    let stream = sources.get(table);
    if (!stream) {
      stream = p.source(logSource({ log, topic: table.topic, format: json(rowDecoder(table)), from: table.startup }));
      const wm = table.watermark;
      if (wm) {
        const column = wm.column;
        stream = stream.withTimestamps((row) => row[column] as number, watermarks.boundedOutOfOrderness(wm.boundMs));
      }
      sources.set(table, stream);
    }
    return stream;
  };
  const uids = new Map<string, number>();
  for (const insert of plan.inserts) {
    const n = (uids.get(insert.sink.name) ?? 0) + 1;
    uids.set(insert.sink.name, n);
    const rows = buildInsert(
      sourceOf(insert.query.source),
      insert,
      n === 1 ? insert.sink.name : `${insert.sink.name}-${n}`,
    );
    const key = insert.sink.key;
    rows.sinkTo(
      logSink({
        log,
        topic: insert.sink.topic,
        format: json<Row>(),
        key: key === undefined ? undefined : (row) => (row[key] === null ? null : String(row[key])),
        createPartitions: insert.sink.partitions,
      }),
    );
  }
  return p;
}

function buildInsert(input: DataStream<Row>, insert: InsertPlan, uid: string): DataStream<Row> {
  const { query, sink } = insert;
  const names = sink.columns.map((c) => c.name);
  const outputs = query.outputs.map((o) => o.eval);
  const project = (row: unknown): Row => {
    const out: Row = {};
    for (let i = 0; i < names.length; i++) out[names[i]!] = outputs[i]!(row);
    return out;
  };
  let stream = input;
  if (query.where) {
    const where = query.where.eval;
    stream = stream.filter((row) => where(row) === true).named('where');
  }
  const window = query.window;
  if (!window) return stream.map(project).named('select');

  const keyFns = query.keys.map((k) => k.eval);
  const single = keyFns.length === 1 ? keyFns[0]! : undefined;
  const keyOf =
    keyFns.length === 0
      ? () => ''
      : single
        ? (row: Row) => single(row)
        : (row: Row) => JSON.stringify(keyFns.map((f) => f(row)));
  const keysOf =
    keyFns.length === 0
      ? () => []
      : single
        ? (key: Value) => [key]
        : (key: Value) => JSON.parse(key as string) as Value[];
  const assigner =
    window.kind === 'tumbling'
      ? windows.tumbling(window.sizeMs, { offset: window.offsetMs })
      : windows.sliding(window.sizeMs, window.slideMs, { offset: window.offsetMs });
  const having = query.having?.eval;
  return stream
    .keyBy(keyOf)
    .window(assigner)
    .aggregate(sqlAggregates(query.aggregates))
    .uid(`sql-${uid}-window`)
    .flatMap((result) => {
      const row = { k: keysOf(result.key), a: result.value, ws: result.windowStart, we: result.windowEnd };
      if (having && having(row) !== true) return [];
      return [project(row)];
    })
    .named('select');
}

/** A JSON format's validator for a table: the declared columns, typed, in order; others dropped. */
function rowDecoder(table: TableDef): (value: unknown) => Row {
  const columns = table.columns.map((c) => [c.name, c.type, c.notNull || c.name === table.watermark?.column] as const);
  return (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new TypeError(`a record of table ${table.name} must be a JSON object`);
    }
    const record = value as Record<string, unknown>;
    const row: Row = {};
    for (const [name, type, required] of columns) {
      const v = readColumn(record[name], type, name);
      if (v === null && required) throw new TypeError(`column "${name}" of table ${table.name} must not be null`);
      row[name] = v;
    }
    return row;
  };
}

type Acc = number | null | { s: number; n: number } | Set<Value> | Value;

/** Every aggregate of one window GROUP BY in one accumulator array (serializable for checkpoints). */
function sqlAggregates(calls: AggregateCall[]): Aggregate<Row, Acc[], Value[]> {
  const parts = calls.map(aggregateOf);
  return {
    create: () => parts.map((p) => p.create()),
    add: (accs, row) => {
      for (let i = 0; i < parts.length; i++) accs[i] = parts[i]!.add(accs[i]!, row);
      return accs;
    },
    merge: (a, b) => {
      for (let i = 0; i < parts.length; i++) a[i] = parts[i]!.merge(a[i]!, b[i]!);
      return a;
    },
    result: (accs) => parts.map((p, i) => p.result(accs[i]!)),
  };
}

function aggregateOf(call: AggregateCall): Aggregate<Row, Acc, Value> {
  const f = call.arg?.eval ?? (() => null);
  switch (call.fn) {
    case 'count_star':
      return {
        create: () => 0,
        add: (acc) => (acc as number) + 1,
        merge: (a, b) => (a as number) + (b as number),
        result: (acc) => acc as number,
      };
    case 'count':
      if (call.distinct) {
        return {
          create: () => new Set<Value>(),
          add: (acc, row) => {
            const v = f(row);
            if (v !== null) (acc as Set<Value>).add(v);
            return acc;
          },
          merge: (a, b) => {
            for (const v of b as Set<Value>) (a as Set<Value>).add(v);
            return a;
          },
          result: (acc) => (acc as Set<Value>).size,
        };
      }
      return {
        create: () => 0,
        add: (acc, row) => (f(row) === null ? acc : (acc as number) + 1),
        merge: (a, b) => (a as number) + (b as number),
        result: (acc) => acc as number,
      };
    case 'sum':
      return {
        create: () => null,
        add: (acc, row) => {
          const v = f(row) as number | null;
          return v === null ? acc : ((acc as number | null) ?? 0) + v;
        },
        merge: (a, b) => (a === null ? b : b === null ? a : (a as number) + (b as number)),
        result: (acc) => acc as number | null,
      };
    case 'avg':
      return {
        create: () => ({ s: 0, n: 0 }),
        add: (acc, row) => {
          const v = f(row) as number | null;
          if (v !== null) {
            (acc as { s: number }).s += v;
            (acc as { n: number }).n++;
          }
          return acc;
        },
        merge: (a, b) => {
          (a as { s: number }).s += (b as { s: number }).s;
          (a as { n: number }).n += (b as { n: number }).n;
          return a;
        },
        result: (acc) => {
          const { s, n } = acc as { s: number; n: number };
          return n === 0 ? null : s / n;
        },
      };
    case 'min':
    case 'max': {
      const better = call.fn === 'min' ? (a: Value, b: Value) => b! < a! : (a: Value, b: Value) => b! > a!;
      const pick = (a: Acc, b: Acc) => (a === null ? b : b === null ? a : better(a as Value, b as Value) ? b : a);
      return { create: () => null, add: (acc, row) => pick(acc, f(row)), merge: pick, result: (acc) => acc as Value };
    }
  }
}
