// The plan of a script, as the planner (planner.ts and its helpers) makes it and the builder (build.ts) runs it:
// types only, so that the planner's parts and the builder can all name them without importing each other.
import type { Compiled } from './expressions.ts';
import type { AstNode } from './parser.ts';
import type { SqlSource, TableDef, ViewDef } from './script.ts';
import type { SqlType } from './types.ts';

export type AggregateFunction =
  | 'count_star'
  | 'count'
  | 'sum'
  | 'min'
  | 'max'
  | 'avg'
  | 'approx_count_distinct'
  | 'approx_quantile';

export interface AggregateCall {
  fn: AggregateFunction;
  distinct: boolean;
  /** The argument, over the source row (none for count(*)). */
  arg?: Compiled;
  /** approx_quantile's quantile, in [0, 1]. */
  quantile?: number;
  type: SqlType;
  /** `agg(x) FILTER (WHERE cond)`: `arg` is already filtered (NULL where `cond` is not TRUE; count(*) FILTER is
   * `count` of 1 or NULL), so every reader of `arg` respects the FILTER. Here for the accumulators' faster path:
   * the condition (`key`: its text, without positions) and the unfiltered argument (none for count(*)). */
  filter?: { cond: Compiled; key: string; arg: Compiled | undefined };
}

export interface WindowSpec {
  kind: 'tumbling' | 'sliding' | 'session' | 'cumulate';
  /** Tumbling and sliding windows. */
  sizeMs: number;
  slideMs: number;
  offsetMs: number;
  /** Session windows: the gap of inactivity that closes a session. */
  gapMs: number;
  /** Over a PROCTIME() column: windows of processing time. */
  processingTime?: boolean;
}

export interface OutputColumn {
  name: string;
  type: SqlType;
  eval: Compiled['eval'];
  at: number;
  /** In a window aggregation: the column is window_start, window_end, or the GROUP BY key of this index. */
  role?: 'window_start' | 'window_end' | number;
  /** The column's value is the row's event time plus this (window_end: + 1 ms), for a query selecting from it. */
  timeOffset?: number;
  /** The column is PROCTIME(). */
  proctime?: boolean;
}

/** One query: source → WHERE → [window GROUP BY keys, aggregates → HAVING] → projection. */
export interface QueryPlan {
  source: TableDef;
  where?: Compiled;
  window?: WindowSpec;
  /** GROUP BY keys other than window_start/window_end, over the source row. */
  keys: Compiled[];
  aggregates: AggregateCall[];
  /** Over the window result row (`{ k: keys, a: aggregates, ws, we }`). */
  having?: Compiled;
  /** Over the source row, or the aggregation's result row (`{ k, a, ws, we, kind }`) when there is one. */
  outputs: OutputColumn[];
  /** A GROUP BY without a window: an updating result, each key's row re-emitted after each batch that changed it. */
  updating: boolean;
  /** OVER (PARTITION BY keys ORDER BY ts RANGE|ROWS BETWEEN … PRECEDING AND CURRENT ROW): a rolling aggregate per
   * key over the last `timeMs` of event time or the last `count` records, a row per record. */
  over?: { timeMs: number } | { count: number };
  /** A TUMBLE or HOP window TVF without GROUP BY: each source row, with `window_start`, `window_end` and
   * `window_time` (end − 1 ms) added, once per window holding it (TUMBLE: one; HOP: size / slide), before WHERE and
   * the projection read it. A window join reads two such relations. */
  windowRows?: WindowSpec;
  /** A join of `source` (left) with another table: rows `{ l, r }` then go through WHERE and SELECT. */
  join?: JoinPlan;
  /** ROW_NUMBER() over a window's rows (top-n.ts): the rows sorted and numbered when the window closes. */
  rank?: RankPlan;
  /** A window aggregation over a table: equal digests compute equal window results (shared by the builder). */
  digest?: string;
  /** A GROUP BY over an updating relation (a GROUP BY of a subquery): each input row replaces the one of its key,
   * retracted from the aggregates first. */
  retracting?: boolean;
  /** A regular GROUP BY whose keys include a table's declared one-column PRIMARY KEY (of its table, or of a join
   * side), the others columns of that same table: each value of it has one value of the others, so its rows are
   * keyed on that column alone (a number, not a composite key). */
  partitionKey?: Compiled;
  /** With `partitionKey` of a join side whose rows expire by columns (JoinPlan.expiry): when a key's row is forgotten
   * by the join (no row of that key can come after, its key being unique), its GROUP BY state is dropped too. */
  partitionExpiry?: Compiled['eval'];
  /** UNION ALL (union.ts): the rows of these queries, each projected to `columns` (the union's names, by
   * position), merged as DataStream.union; `source` is the first query's and `outputs` read the columns by name. */
  union?: { queries: QueryPlan[]; columns: string[] };
}

/** `FROM l JOIN r ON l.k = r.k AND r.ts BETWEEN l.ts - INTERVAL … AND l.ts + INTERVAL …`: intervalJoin; without
 * time bounds, a regular join (both sides kept in keyed state). */
export interface JoinPlan {
  kind: 'interval' | 'regular';
  /** An interval join with a window MAX/MIN of one side's own table on its value: that side pruned as it arrives. */
  prune?: { side: 'l' | 'r' } & ExtremumPrune;
  right: TableDef;
  /** A regular join's state expiry: each side's row is forgotten once the watermark passes its time + `afterTime`
   * or any of `columns`, when no on-time row of the other side can match it any more. */
  expiry?: Record<'l' | 'r', { afterTime?: number; columns: Compiled['eval'][] }>;
  /** A window join (two TUMBLE/HOP relations read as rows, equal window_start and window_end): the left side's
   * window; each side's row is kept until the watermark reaches its window_time. */
  window?: WindowSpec;
  /** A regular join on a side's declared PRIMARY KEY (that side's table appends one row per key): once a key's row
   * of that side came, the other side's rows of the key are paired with it and not kept. */
  unique?: Record<'l' | 'r', boolean>;
  /** Conditions on one side only, applied before the join. */
  leftWhere?: Compiled;
  rightWhere?: Compiled;
  /** Equal keys, each side over its own row. */
  leftKeys: Compiled[];
  rightKeys: Compiled[];
  /** r.ts − l.ts lies within [lowerMs, upperMs] (inclusive). */
  lowerMs: number;
  upperMs: number;
}

export interface InsertPlan {
  sink: TableDef;
  query: QueryPlan;
  at: number;
}

/** CREATE MATERIALIZED VIEW: the query's rows kept in a serving table (served, queryable), keyed or appended. */
export interface ViewPlan {
  view: ViewDef;
  query: QueryPlan;
  /** The serving table's columns: the query's, by name. */
  columns: { name: string; type: SqlType }[];
  /** The serving table's primary key: window_start and the GROUP BY keys for a window aggregation, or `'key'`;
   * none (an append table) for a query without a window and without `'key'`. */
  key: string[];
  at: number;
}

/** The tables of a script, with its CREATE VIEWs (and a query's WITH queries): planned where they are read. */
export type Tables = Map<string, TableDef> & { views?: Map<string, AstNode> };

export interface ScriptPlan {
  tables: Tables;
  inserts: InsertPlan[];
  views: ViewPlan[];
  /** Bare SELECTs, planned only for sqlStream (which returns their rows as a DataStream). */
  selects: QueryPlan[];
  /** The script's text, for errors raised after planning (a view without a serving store). */
  source: SqlSource;
  /** The script asked for its plan (`EXPLAIN INSERT INTO …`) rather than a run. */
  explain: boolean;
}

export interface PlanOptions {
  /** Plan bare SELECT statements (sqlStream); otherwise they are refused, as they have no sink. */
  selects?: boolean;
}

export interface RankPlan {
  /** The ORDER BY expressions over a row, each descending or not (NULLs last). */
  order: { eval: Compiled['eval']; desc: boolean }[];
  /** The row number of the row being projected (set by the builder before each row's projection). */
  current: { value: number };
}

export interface ExtremumPrune {
  /** The table's column that the join compares with the aggregate. */
  column: string;
  /** A column telling a record's time: its value is the time + `timeOffset`. */
  time: string;
  timeOffset: number;
  fn: 'max' | 'min';
  /** The aggregate's windows: size, slide and offset (window ends are offset + size + k × slide). */
  sizeMs: number;
  slideMs: number;
  offsetMs: number;
  /** The window results a record may join: those whose time (end − 1 ms) is within [time + lo, time + hi]. */
  lo: number;
  hi: number;
}
