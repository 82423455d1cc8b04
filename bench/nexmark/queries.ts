// The Nexmark queries as Sluice pipelines, each the counterpart of nexmark-flink's SQL (quoted in docs/benchmarks.md
// and checked against DuckDB in test/nexmark-duckdb.test.ts). A query takes the stream of events with event time
// assigned (dateTime, 4 s out of orderness, as nexmark-flink's DDL) and returns its result stream.
// Each family of queries lives in queries/; this file assembles them, by name, for the benchmark and the tests.
import { type DataStream, type Pipeline, type Source, watermarks } from '../../src/engine/index.ts';
import type { NexmarkEvent } from './model.ts';
import { q4, q6, q9 } from './queries/auctions.ts';
import { q15, q16, q17 } from './queries/daily.ts';
import { q3, q18, q19, q20 } from './queries/keyed.ts';
import { q0, q1, q2, q10, q13, q14, q21, q22 } from './queries/per-bid.ts';
import { q5, q7, q8, q11, q12 } from './queries/windows.ts';

export * from './queries/auctions.ts';
export * from './queries/daily.ts';
export * from './queries/functions.ts';
export * from './queries/keyed.ts';
export * from './queries/per-bid.ts';
export * from './queries/windows.ts';

/** The events of a source with Nexmark's event time: `dateTime`, watermark 4 s behind (nexmark-flink's DDL). */
export function nexmarkEvents(pipeline: Pipeline, source: Source<NexmarkEvent>): DataStream<NexmarkEvent> {
  return pipeline.source(source).withTimestamps((e) => e.dateTime, watermarks.boundedOutOfOrderness('4s'));
}

export const QUERIES = {
  q0,
  q1,
  q2,
  q3,
  q4,
  q5,
  q6,
  q7,
  q8,
  q9,
  q10,
  q11,
  q12,
  q13,
  q14,
  q15,
  q16,
  q17,
  q18,
  q19,
  q20,
  q21,
  q22,
};
export type QueryName = keyof typeof QUERIES;
