// Flink's window join: two TUMBLE (or HOP) window TVFs read as rows, joined ON their keys and equal window_start and
// window_end. Planned as a regular inner join on (keys, window) whose rows are forgotten once the watermark passes
// their window; the pairs equal a hand computation per (key, window), and no state is left after the run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSqlOver, sqlPlanning } from '../../test/helpers/sql-planning.ts';
import { explainSql } from './index.ts';
import type { Row } from './types.ts';

const DDL = `CREATE TABLE l (id BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('topic'='l');
CREATE TABLE r (id BIGINT, w BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('topic'='r');
CREATE TABLE o (id BIGINT, v BIGINT, w BIGINT, ws TIMESTAMP(3)) WITH ('topic'='o');
`;
const windowJoin = (tvf = `TUMBLE`, args = `INTERVAL '5' SECOND`, on = '') => `${DDL}
INSERT INTO o SELECT L.id, L.v, R.w, L.window_start
FROM (SELECT * FROM TABLE(${tvf}(TABLE l, DESCRIPTOR(ts), ${args}))) L
JOIN (SELECT * FROM TABLE(${tvf}(TABLE r, DESCRIPTOR(ts), ${args}))) R
ON L.id = R.id${on || ' AND L.window_start = R.window_start AND L.window_end = R.window_end'};`;

const refusal = async (text: string) => sqlPlanning().refusal(text);

type Event = Row & { table: 'l' | 'r' };
const l = (id: number, v: number, ts: number): Event => ({ table: 'l', id, v, ts });
const r = (id: number, w: number, ts: number): Event => ({ table: 'r', id, w, ts });

const run = runSqlOver;

const sorted = (rows: Row[]) => rows.map((row) => JSON.stringify(row)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** The pairs by definition: each left and right row of one id, once per window (size, slide) holding both. */
function reference(events: Event[], sizeMs: number, slideMs: number): Row[] {
  const windowsOf = (ts: number) => {
    const out: number[] = [];
    for (let start = ts - (ts % slideMs); start > ts - sizeMs; start -= slideMs) out.push(start);
    return out;
  };
  const rows: Row[] = [];
  for (const a of events.filter((e) => e.table === 'l')) {
    for (const b of events.filter((e) => e.table === 'r' && e.id === a.id)) {
      const shared = windowsOf(b.ts as number);
      for (const ws of windowsOf(a.ts as number)) if (shared.includes(ws)) rows.push({ id: a.id, v: a.v, w: b.w, ws });
    }
  }
  return rows;
}

// Out of order within the 1 s watermark bound (l 4500 after l 3000 and r 6000; r 5200 after r 6000), rows of one id
// 2.5 s apart in different windows (l 2 at 3000, r 2 at 5500), and windows that are not each other's (r 3 at 15000).
const EVENTS: Event[] = [
  l(1, 10, 1000),
  r(1, 100, 2000),
  l(2, 20, 3000),
  r(1, 101, 6000),
  l(1, 11, 4500),
  l(1, 12, 7000),
  r(1, 102, 5200),
  r(2, 200, 5500),
  l(3, 30, 12000),
  r(3, 300, 14900),
  r(3, 301, 15000),
  l(4, 40, 16000),
];

describe('SQL window join', () => {
  it('plans two TUMBLE relations joined on their windows as a join of (keys, window)', async () => {
    const text = await explainSql(windowJoin());
    assert.match(text, /window-rows \(operator: FlatMapOperator\)/);
    assert.match(text, /join \(operator: KeyedCoProcessOperator\)/);
    assert.match(text, /INSERT INTO o \(topic o\) FROM L: window join \(tumbling 5000 ms\)/);
    const hop = await explainSql(windowJoin('HOP', `INTERVAL '5' SECOND, INTERVAL '10' SECOND`));
    assert.match(hop, /window join \(sliding 10000 ms every 5000 ms\)/);
  });

  it('pairs the rows of each (id, window), as a hand computation does, and forgets them after', async () => {
    const { rows, state } = await run(windowJoin(), EVENTS);
    const expected = [
      { id: 1, v: 10, w: 100, ws: 0 },
      { id: 1, v: 11, w: 100, ws: 0 },
      { id: 1, v: 12, w: 101, ws: 5000 },
      { id: 1, v: 12, w: 102, ws: 5000 },
      { id: 3, v: 30, w: 300, ws: 10000 },
    ];
    assert.deepEqual(sorted(rows), sorted(expected));
    assert.deepEqual(sorted(reference(EVENTS, 5000, 5000)), sorted(expected));
    assert.equal(state.get('join'), 0);
  });

  it('HOP: a pair once per window holding both rows', async () => {
    const { rows, state } = await run(windowJoin('HOP', `INTERVAL '5' SECOND, INTERVAL '10' SECOND`), EVENTS);
    const expected = reference(EVENTS, 10000, 5000);
    assert.ok(expected.some((row) => row.id === 2)); // 3000 and 5500 share the window [0, 10 s)
    assert.deepEqual(sorted(rows), sorted(expected));
    assert.equal(state.get('join'), 0);
  });

  it('a TUMBLE without GROUP BY alone: each row with its window', async () => {
    const script = `${DDL}CREATE TABLE s (id BIGINT, ws TIMESTAMP(3), we TIMESTAMP(3), wt TIMESTAMP(3)) WITH ('topic'='s');
INSERT INTO s SELECT id, window_start, window_end, window_time FROM TABLE(TUMBLE(TABLE l, DESCRIPTOR(ts), INTERVAL '5' SECOND))
WHERE window_start >= TIMESTAMP '1970-01-01 00:00:05';`;
    const { rows } = await run(script, [l(1, 1, 1000), l(2, 2, 7000), l(3, 3, 12000)]);
    assert.deepEqual(rows, [
      { id: 2, ws: 5000, we: 10000, wt: 9999 },
      { id: 3, ws: 10000, we: 15000, wt: 14999 },
    ]);
  });

  it('refuses SESSION and CUMULATE without GROUP BY, and joins of windows without the window equality', async () => {
    const session = await refusal(`${DDL}
INSERT INTO o SELECT id, v, v, window_start FROM TABLE(SESSION(TABLE l, DESCRIPTOR(ts), INTERVAL '5' SECOND));`);
    assert.match(session.message, /a SESSION window TVF without GROUP BY window_start, window_end.*line 5, column 56/);
    const cumulate = await refusal(windowJoin('CUMULATE', `INTERVAL '5' SECOND, INTERVAL '10' SECOND`));
    assert.match(cumulate.message, /a CUMULATE window TVF without GROUP BY.*line 6, column 27/);
    const noEnd = await refusal(windowJoin('TUMBLE', `INTERVAL '5' SECOND`, ' AND L.window_start = R.window_start'));
    assert.equal((noEnd as Error & { code?: string }).code, 'UNSUPPORTED_SQL');
    assert.match(noEnd.message, /other than a window join.*line 7, column 1/);
    const none = await refusal(windowJoin('TUMBLE', `INTERVAL '5' SECOND`, ' AND L.v = R.w'));
    assert.match(none.message, /other than a window join.*line 7, column 1/);
    const oneSide = await refusal(`${DDL}
INSERT INTO o SELECT L.id, L.v, R.w, L.window_start
FROM (SELECT * FROM TABLE(TUMBLE(TABLE l, DESCRIPTOR(ts), INTERVAL '5' SECOND))) L
JOIN r R ON L.id = R.id;`);
    assert.match(oneSide.message, /other than a window join.*line 7, column 1/);
  });
});
