// The Nexmark queries in SQL: nexmark-flink's own query files (bench/nexmark/sql/, Apache 2.0, with the dialect
// edits docs/sql.md lists), over our DDL binding the person, auction and bid tables to the generator's events (the
// WATERMARK of nexmark-flink's DDL: dateTime, 4 s), each INSERT INTO nexmark_qN written to a sink of the pipeline.
import fs from 'node:fs';
import path from 'node:path';
import type { DataStream, Pipeline, Sink } from '../../src/engine/index.ts';
import { addToPipeline, tablesRead } from '../../src/sql/build.ts';
import { planScript } from '../../src/sql/planner.ts';
import type { Row } from '../../src/sql/types.ts';
import { isAuction, isBid, isPerson, type NexmarkEvent } from './model.ts';

/** The queries whose nexmark-flink SQL runs here. */
export const SQL_QUERIES = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5', 'q7', 'q8', 'q11', 'q12', 'q15', 'q16', 'q17'] as const;
export type SqlQueryName = (typeof SQL_QUERIES)[number];

/** Ours, for nexmark-flink's datagen table and its three views: a table per event type, with its WATERMARK (and a
 * person's and an auction's id declared their table's PRIMARY KEY: the generator makes each once). */
export const NEXMARK_DDL = `
CREATE TABLE person (id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR,
  dateTime TIMESTAMP(3), extra VARCHAR, PRIMARY KEY (id) NOT ENFORCED,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND);
CREATE TABLE auction (id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT,
  dateTime TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR,
  PRIMARY KEY (id) NOT ENFORCED, WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND);
CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, dateTime TIMESTAMP(3),
  extra VARCHAR, WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND);
`;

/** The text of a query's file. */
export function sqlText(query: SqlQueryName): string {
  return fs.readFileSync(path.join(import.meta.dirname, 'sql', `${query}.sql`), 'utf8');
}

const FILTERS = { person: isPerson, auction: isAuction, bid: isBid } as const;

/**
 * Adds the SQL of `query` to `p`, reading `events` (not yet timestamped: each table's WATERMARK assigns event time)
 * and writing its rows to `sink`.
 */
export async function nexmarkSql(
  p: Pipeline,
  events: DataStream<NexmarkEvent>,
  query: SqlQueryName,
  sink: Sink<Row>,
): Promise<void> {
  const plan = await planScript(`${NEXMARK_DDL}\n${sqlText(query)}`);
  const streams = new Map<string, DataStream<Row>>();
  for (const table of plan.inserts.flatMap((insert) => tablesRead(insert.query))) {
    const filter = FILTERS[table.name as keyof typeof FILTERS];
    if (filter && !streams.has(table.name))
      streams.set(table.name, events.filter(filter) as unknown as DataStream<Row>);
  }
  const sinks = new Map(plan.inserts.map((insert) => [insert.sink.name, sink]));
  await addToPipeline(p, plan, { log: NO_LOG, sinks, ensureTopics: false }, streams);
}

/** The queries read bound streams and write bound sinks: no log is touched. */
const NO_LOG = new Proxy(
  {},
  {
    get: () => {
      throw new Error('the Nexmark SQL queries touch no log');
    },
  },
) as never;
