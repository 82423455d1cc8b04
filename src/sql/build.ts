// Building a planned script with the DataStream API: one log source per table read (JSON, the declared columns,
// event time with a bounded-out-of-orderness watermark), then per INSERT: filter → keyBy → window → aggregate →
// projection → log sink. The same operators, checkpoints and exactly-once sinks as a TypeScript pipeline.

import type { ServingStore } from '../contracts/index.ts';
import {
  type Aggregate,
  type DataStream,
  ensureTopic,
  json,
  LATE_TAG,
  logSink,
  logSource,
  Pipeline,
  type PipelineLog,
  type Sink,
  type WindowResult,
  type WindowResultStream,
  watermarks,
  windows,
} from '../engine/index.ts';
import { serveTable } from '../serve/index.ts';
import { sqlAggregates } from './aggregates.ts';
import { type GroupState, groupBy, groupState, regularJoin, splitUpdates } from './build-updating.ts';
import { compositeKey, fieldReader, rowBuilder } from './codegen.ts';
import { cumulate } from './cumulate.ts';
import type { QueryPlan, ScriptPlan, ViewPlan } from './planner.ts';
import { extremumPrune } from './prune.ts';
import { type KindedRow, shuffle, withKind } from './rows.ts';
import type { TableDef } from './script.ts';
import { rankOrder } from './top-n.ts';
import { type Row, readColumn, type Value } from './types.ts';
import { VIEW_ROW_FORMAT, viewPartitions, viewRecordKey, viewRowKind, viewTableOf, viewTopic } from './views.ts';

export interface BuildOptions {
  log: PipelineLog;
  bounded: boolean;
  /** The pipeline's name (its checkpoints' directory): the file's name for `sluice run file.sql`. */
  name: string;
  /** Create the tables' topics when missing (default true; EXPLAIN builds without touching the log). */
  ensureTopics?: boolean;
  /** The runner's serving store, for CREATE MATERIALIZED VIEW (refused without one, unless `explain`). */
  serving?: ServingStore;
  /** Building for EXPLAIN: materialized views get a placeholder sink. */
  explain?: boolean;
  /** Sink tables written to these sinks of the pipeline instead of their topics (by table name). */
  sinks?: ReadonlyMap<string, Sink<Row>>;
  /** Source tables' late records written to these sinks instead of their `late.topic` (by table name). */
  lateSinks?: ReadonlyMap<string, Sink<Row>>;
}

export async function buildPipeline(plan: ScriptPlan, options: BuildOptions): Promise<Pipeline> {
  const p = new Pipeline({ name: options.name, bounded: options.bounded });
  await addToPipeline(p, plan, options);
  return p;
}

/**
 * Adds a planned script to a pipeline: its sources (a table bound in `streams` is that DataStream instead of its
 * topic), its INSERTs and views with their sinks; returns the streams of its bare SELECTs, in order.
 */
export async function addToPipeline(
  p: Pipeline,
  plan: ScriptPlan,
  options: Omit<BuildOptions, 'bounded' | 'name'>,
  streams: ReadonlyMap<string, DataStream<Row>> = new Map(),
): Promise<DataStream<Row>[]> {
  const { log } = options;
  if (options.ensureTopics !== false) {
    const used = new Set([
      ...plan.inserts.flatMap((insert) => [...tablesRead(insert.query), insert.sink]),
      ...plan.views.flatMap((view) => tablesRead(view.query)),
      ...plan.selects.flatMap(tablesRead),
    ]);
    for (const table of used) {
      if (options.sinks?.has(table.name)) continue;
      if (!streams.has(table.name)) await ensureTopic(log, table.topic, { partitions: table.partitions });
      if (table.lateTopic !== undefined) await ensureTopic(log, table.lateTopic, { partitions: 1 });
    }
    for (const { view, query } of plan.views) {
      if (view.topic !== undefined) await ensureTopic(log, view.topic, { partitions: view.partitions });
      // Without a serving store here, the view's rows go to its changelog topic (views.ts).
      if (!options.serving && !options.explain) {
        const partitions = viewPartitions(log, tablesRead(query));
        await ensureTopic(log, viewTopic(p.name, view.name), { partitions });
      }
    }
  }
  /** Where a table's late records go: its late.topic (the planner let one query write them: checkLateTopics). */
  const lateSink = (table: TableDef): Sink<Row> =>
    options.lateSinks?.get(table.name) ?? topicSink(log, table.lateTopic!, table.key, 1);
  const sources = new Map<TableDef, DataStream<Row>>();
  const shared = new Map<string, unknown>();
  let derivedCount = 0;
  const sourceOf = (table: TableDef): DataStream<Row> => {
    let stream = sources.get(table);
    if (!stream && table.derived) {
      // A subquery, view or WITH query: its rows, with the times its operators gave them (a window result's end − 1).
      const planned = table.derived.query as QueryPlan;
      const used = table.derived.used;
      // Only the columns its reader uses are computed (q12's view of bid needs bidder, not its PROCTIME() value).
      const query = { ...planned, outputs: planned.outputs.filter((o) => used.has(o.name)) };
      const uid = `derived-${++derivedCount}-${table.name}`;
      const plain = !query.where && !query.window && !query.windowRows && !query.updating && !query.over && !query.join;
      if (plain && query.outputs.every((o) => o.eval === fieldReader(o.name))) {
        // Columns passed through under their names: the input's rows are the relation's rows (readers read by name);
        // a UNION ALL's are its SELECTs' rows, already under its column names.
        stream = query.union ? inputOf(query, uid) : sourceOf(query.source);
      } else {
        const names = query.outputs.map((o) => o.name);
        stream = buildQuery((group) => inputOf(query, uid, group), query, names, uid, lateSink, true, shared);
      }
      sources.set(table, stream);
    }
    if (!stream) {
      stream =
        streams.get(table.name) ??
        p.source(logSource({ log, topic: table.topic, format: json(rowDecoder(table)), from: table.startup }));
      const wm = table.watermark;
      if (wm) {
        // A generated `row.<column>` (a named load with its own inline cache, not a keyed `row[column]`).
        const time = fieldReader(wm.column) as (row: Row) => number;
        stream = stream.withTimestamps(time, watermarks.boundedOutOfOrderness(wm.boundMs));
      }
      sources.set(table, stream);
    }
    return stream;
  };
  // A join's input: the two tables' rows paired by intervalJoin as { l, r }, which WHERE and SELECT read.
  const inputOf = (query: QueryPlan, uid: string, group?: JoinGroup): DataStream<Row> => {
    if (query.union) {
      // UNION ALL: each SELECT's rows under the union's column names, merged (timestamps kept, watermark the minimum).
      const { queries, columns } = query.union;
      const [first, ...rest] = queries.map((q, i) =>
        buildQuery(
          (group) => inputOf(q, `${uid}-union-${i + 1}`, group),
          q,
          columns,
          `${uid}-union-${i + 1}`,
          lateSink,
          true,
          shared,
        ),
      );
      return first!.union(...rest);
    }
    const join = query.join;
    if (!join) return query.windowRows ? windowRows(sourceOf(query.source), query) : sourceOf(query.source);
    const keyOf = (keys: QueryPlan['keys']) =>
      keys.length === 0
        ? () => ''
        : keys.length === 1
          ? keys[0]!.eval
          : (row: Row) => JSON.stringify(keys.map((k) => k.eval(row)));
    const filtered = (stream: DataStream<Row>, where: QueryPlan['where'], side: string) => {
      if (!where) return stream;
      const f = where.eval;
      return stream.filter((row) => f(row) === true).named(`where-${side}`);
    };
    // A side joined with a window MAX/MIN of its own table on that value: its records that cannot match dropped first.
    const pruned = (stream: DataStream<Row>, side: 'l' | 'r') =>
      join.prune?.side === side ? stream.filter(extremumPrune(join.prune)).named('prune') : stream;
    const leftRows = filtered(pruned(sourceOf(query.source), 'l'), join.leftWhere, 'left');
    const rightRows = filtered(pruned(sourceOf(join.right), 'r'), join.rightWhere, 'right');
    if (join.kind === 'regular') {
      return regularJoin(
        leftRows,
        rightRows,
        keyOf(join.leftKeys),
        keyOf(join.rightKeys),
        uid,
        join.expiry,
        join.unique,
        query.where?.eval,
        group,
      );
    }
    const left = leftRows.keyBy(keyOf(join.leftKeys) as (row: Row) => Value, shuffle(`${uid}-join-left`));
    const right = rightRows.keyBy(keyOf(join.rightKeys) as (row: Row) => Value, shuffle(`${uid}-join-right`));
    const joined = left
      .intervalJoin(right, { lower: join.lowerMs, upper: join.upperMs }, (l, r) => ({ l, r }) as unknown as Row)
      .uid(`sql-${uid}-join`);
    // Each side's records behind the watermark (after its WHERE), to its own table's late.topic; a derived relation
    // has none, and without one they are dropped and counted.
    if (query.source.lateTopic !== undefined && !query.source.derived) {
      joined.leftLateData().sinkTo(lateSink(query.source));
    }
    if (join.right.lateTopic !== undefined && !join.right.derived) joined.rightLateData().sinkTo(lateSink(join.right));
    return joined;
  };
  const uids = new Map<string, number>();
  for (const insert of plan.inserts) {
    const n = (uids.get(insert.sink.name) ?? 0) + 1;
    uids.set(insert.sink.name, n);
    const rows = buildQuery(
      (group) => inputOf(insert.query, n === 1 ? insert.sink.name : `${insert.sink.name}-${n}`, group),
      insert.query,
      insert.sink.columns.map((c) => c.name),
      n === 1 ? insert.sink.name : `${insert.sink.name}-${n}`,
      lateSink,
    );
    rows.sinkTo(
      options.sinks?.get(insert.sink.name) ??
        topicSink(log, insert.sink.topic, insert.sink.key, insert.sink.partitions),
    );
  }
  for (const view of plan.views) {
    const rows = buildQuery(
      (group) => inputOf(view.query, `view-${view.view.name}`, group),
      view.query,
      view.columns.map((c) => c.name),
      `view-${view.view.name}`,
      lateSink,
    );
    if (view.view.topic !== undefined) {
      rows.sinkTo(topicSink(log, view.view.topic, view.view.topicKey?.column, view.view.partitions));
    }
    if (options.serving) rows.sinkTo(viewSink(options.serving, view));
    else if (options.explain) rows.sinkTo({ name: `table:${view.view.name}`, write() {} });
    else rows.sinkTo(viewChangelogSink(log, view, p.name));
  }
  return plan.selects.map((query, i) =>
    buildQuery(
      (group) => inputOf(query, `select-${i + 1}`, group),
      query,
      query.outputs.map((o) => o.name),
      `select-${i + 1}`,
      lateSink,
    ),
  );
}

/**
 * A TUMBLE or HOP window TVF read as rows (QueryPlan.windowRows): each row once per window holding its time, with
 * window_start, window_end and window_time (end − 1 ms, Flink's) added; the record's timestamp is kept.
 */
function windowRows(stream: DataStream<Row>, query: QueryPlan): DataStream<Row> {
  const { sizeMs, slideMs, offsetMs } = query.windowRows!;
  const time = fieldReader(query.source.watermark!.column) as (row: Row) => number;
  return stream
    .flatMap((row) => {
      const ts = time(row);
      const out: Row[] = [];
      // The last window start at or before ts, then back by slide while the window still holds ts.
      const last = ts - ((((ts - offsetMs) % slideMs) + slideMs) % slideMs);
      for (let start = last; start > ts - sizeMs; start -= slideMs) {
        out.push({ ...row, window_start: start, window_end: start + sizeMs, window_time: start + sizeMs - 1 });
      }
      return out;
    })
    .named('window-rows');
}

function topicSink(log: PipelineLog, topic: string, key: string | undefined, partitions: number) {
  return logSink({
    log,
    topic,
    format: json<Row>(),
    key: key === undefined ? undefined : (row) => (row[key] === null ? null : String(row[key])),
    createPartitions: partitions,
  });
}

/** A materialized view's serving table: keyed (a window's late update replaces its row) or an append table. */
function viewSink(store: ServingStore, view: ViewPlan) {
  const table = viewTableOf(view, 'sql');
  return serveTable<Row>({
    store,
    name: table.name,
    columns: table.columns,
    ...(table.key.length > 0 ? { key: table.key } : {}),
    ...(table.retention ? { retention: table.retention } : {}),
    // A window's first result is appended, a late one supersedes it, a merged session's row is deleted; rows
    // that crossed a process boundary lost their kind and supersede (correct for a keyed table, only slower).
    kind: viewRowKind,
  });
}

/**
 * A materialized view without a serving store in this process (task threads, members, `sluice up` workers): its rows
 * with their kinds to its changelog topic, keyed by the table's key, exactly once (a transaction per checkpoint);
 * the process serving the table loads it from there (views.ts).
 */
function viewChangelogSink(log: PipelineLog, view: ViewPlan, pipeline: string) {
  const key = viewRecordKey(view.key);
  return logSink<Row>({
    log,
    topic: viewTopic(pipeline, view.view.name),
    format: VIEW_ROW_FORMAT,
    ...(key ? { key } : {}),
    createPartitions: viewPartitions(log, tablesRead(view.query)),
  });
}

/** A GROUP BY run inside the regular join under it (regularJoin's `group`). */
type JoinGroup = { state: GroupState; side: 'l' | 'r' };

function buildQuery(
  /** The query's input, built when called: a GROUP BY on a join side's key passes itself to the join. */
  input: (group?: JoinGroup) => DataStream<Row>,
  query: QueryPlan,
  names: string[],
  uid: string,
  /** The sink of a source table's late records (its late.topic). */
  lateSink: (table: TableDef) => Sink<Row>,
  /** Read by another query: an updating result retracts a key's previous row before its new one. */
  derived = false,
  /** Window results by the query's digest: two queries computing the same ones share them. */
  shared = new Map<string, unknown>(),
): DataStream<Row> {
  const reused = query.digest === undefined ? undefined : (shared.get(query.digest) as WindowResults | undefined);
  const project: (row: unknown) => KindedRow = rowBuilder(
    names,
    query.outputs.map((o) => o.eval),
  );
  const keyFns = query.keys.map((k) => k.eval);
  const side = joinGroupSide(query);
  if (side) return input({ state: groupState(query, keyFns, project, derived), side });
  let stream = input();
  if (query.retracting) stream = splitUpdates(stream, keyFunctions(query).keyOf, query.where?.eval);
  // A regular join applies its WHERE as it pairs its rows (build-updating.ts).
  if (query.where && !reused && query.join?.kind !== 'regular') {
    const where = query.where.eval;
    stream = stream.filter((row) => where(row) === true).named('where');
  }
  const window = query.window;
  if (!window && !query.updating && !query.over) return stream.map(project).named('select');

  const { keyOf, keysOf } = keyFunctions(query);
  if (query.rank) {
    // Window Top-N: a window's rows of a key collected (a window of 1 ms at their time), sorted, numbered.
    const { order, current } = query.rank;
    const sort = rankOrder(order);
    const rows: Aggregate<Row, Row[], Row[]> = {
      create: () => [],
      add: (acc, row) => {
        acc.push(row);
        return acc;
      },
      merge: (a, b) => a.concat(b),
      result: (acc) => acc,
    };
    return stream
      .keyBy(keyOf, shuffle(`${uid}-rank`))
      .window(windows.tumbling(1))
      .aggregate(rows)
      .uid(`sql-${uid}-rank`)
      .flatMap((result) => {
        const sorted = result.value.slice().sort(sort);
        const out: Row[] = [];
        for (let i = 0; i < sorted.length; i++) {
          current.value = i + 1;
          out.push(project(sorted[i]));
        }
        return out;
      })
      .named('select');
  }
  const over = query.over;
  if (over) {
    // OVER: records later than the watermark minus allowed.lateness go to late.topic (when given), the others
    // update their key's rolling aggregate, one row per record.
    const table = query.source;
    let onTime = stream;
    if (table.lateTopic !== undefined) {
      const lateness = table.allowedLatenessMs;
      onTime = stream
        .keyBy(keyOf, shuffle(`${uid}-over`))
        .process<Row>({
          processElement(row, ctx) {
            if (ctx.timestamp < ctx.watermark - lateness) ctx.output('late', row);
            else ctx.emit(row);
          },
        })
        .uid(`sql-${uid}-late`)
        .named('late-filter');
      onTime.sideOutput<Row>('late').sinkTo(lateSink(table));
    }
    const aggregate = sqlAggregates(query.aggregates);
    // Behind the late filter the rows are with their key's task already.
    return onTime
      .keyBy(keyOf, table.lateTopic === undefined ? shuffle(`${uid}-over`) : {})
      .rolling(aggregate, 'count' in over ? { count: over.count } : { time: over.timeMs })
      .uid(`sql-${uid}-over`)
      .map((r) => project({ k: keysOf(r.key), a: r.value }))
      .named('select');
  }
  if (!window) {
    // A regular GROUP BY: each key's accumulators in keyed state (checkpointed), its row re-emitted per record.
    const groupKey = query.partitionKey?.eval ?? keyOf;
    return groupBy(stream, query, groupKey, keyFns, project, derived, `${uid}-group`, query.partitionExpiry)
      .uid(`sql-${uid}-group`)
      .named('select');
  }
  const assigner =
    window.kind === 'tumbling' || window.kind === 'cumulate'
      ? windows.tumbling(window.sizeMs, { offset: window.offsetMs })
      : window.kind === 'sliding'
        ? windows.sliding(window.sizeMs, window.slideMs, { offset: window.offsetMs })
        : windows.session(window.gapMs);
  const having = query.having?.eval;
  const table = query.source;
  let results: WindowResults | DataStream<WindowResult<Value, Value[]>> | undefined = reused;
  if (!results && window.kind === 'cumulate') {
    const aggregate = sqlAggregates(query.aggregates);
    const cumulated = cumulate(stream, keyOf, aggregate, window, `${uid}-window`, table.allowedLatenessMs);
    results = cumulated.uid(`sql-${uid}-window`);
    // Records later than the watermark and the allowed lateness for every window holding them.
    if (table.lateTopic !== undefined) cumulated.sideOutput<Row>(LATE_TAG).sinkTo(lateSink(table));
    if (query.digest !== undefined) shared.set(query.digest, results);
  }
  if (!results) {
    if (window.processingTime) stream = stream.withProcessingTime();
    let windowed = stream.keyBy(keyOf, shuffle(`${uid}-window`)).window(assigner);
    if (table.allowedLatenessMs > 0) windowed = windowed.allowedLateness(table.allowedLatenessMs);
    const aggregated = windowed.aggregate(sqlAggregates(query.aggregates)).uid(`sql-${uid}-window`);
    if (table.lateTopic !== undefined) {
      // Records later than the watermark and the allowed lateness: the DataStream API's lateData().
      aggregated.lateData().sinkTo(lateSink(table));
    }
    results = aggregated;
    if (query.digest !== undefined) shared.set(query.digest, results);
  }
  const rowOf = (result: WindowResult<Value, Value[]>) => ({
    k: keysOf(result.key),
    a: result.value,
    ws: result.windowStart,
    we: result.windowEnd,
    kind: result.kind,
  });
  if (!having) {
    // A row per result (no array per result, as flatMap needs); a result read by another query needs no kind.
    return results
      .map((result) => (derived ? project(rowOf(result)) : withKind(project(rowOf(result)), result.kind)))
      .named('select');
  }
  return results
    .flatMap((result) => {
      const row = rowOf(result);
      if (having(row) !== true) return [];
      return [withKind(project(row), result.kind)];
    })
    .named('select');
}

/**
 * The join side whose PRIMARY KEY a regular GROUP BY over a regular join is keyed on (QueryPlan.partitionKey), when
 * that key is also the side's join key: the join's key state holds each group whole, and the GROUP BY runs in it.
 */
function joinGroupSide(query: QueryPlan): 'l' | 'r' | undefined {
  const join = query.join;
  const partitionKey = query.partitionKey?.eval;
  if (join?.kind !== 'regular' || !query.updating || query.retracting || partitionKey === undefined) return undefined;
  for (const side of ['l', 'r'] as const) {
    const primaryKey = (side === 'l' ? query.source : join.right).primaryKey;
    const joinKeys = side === 'l' ? join.leftKeys : join.rightKeys;
    if (join.unique?.[side] !== true || primaryKey?.length !== 1 || joinKeys.length !== 1) continue;
    const column = primaryKey[0]!;
    if (joinKeys[0]!.eval === fieldReader(column) && partitionKey === fieldReader(column, side)) return side;
  }
  return undefined;
}

/** A query's GROUP BY key of a row (a value, or one string of several) and the key's values back. */
function keyFunctions(query: QueryPlan): { keyOf: (row: Row) => Value; keysOf: (key: Value) => Value[] } {
  const keyFns = query.keys.map((k) => k.eval);
  const single = keyFns.length === 1 ? keyFns[0]! : undefined;
  const composite = compositeKey(
    query.keys.map((k) => k.type),
    keyFns,
  );
  return {
    keyOf: keyFns.length === 0 ? () => '' : single ? (row: Row) => single(row) : composite.encode,
    keysOf: keyFns.length === 0 ? () => [] : single ? (key: Value) => [key] : composite.decode,
  };
}

/** Every table a query reads, through its joins and derived relations. */
export function tablesRead(query: QueryPlan): TableDef[] {
  if (query.union) return query.union.queries.flatMap(tablesRead);
  const tables = [query.source, ...(query.join ? [query.join.right] : [])];
  return tables.flatMap((t) => (t.derived ? tablesRead(t.derived.query as QueryPlan) : [t]));
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

type WindowResults = WindowResultStream<Row, Value, Value[]>;
