// A table's declared PRIMARY KEY (… NOT ENFORCED) in a regular join: parsed, recognized when the join's equal keys
// cover it (the other side's rows then kept only until the key's row came), and results equal to the join without it,
// whichever side comes first.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import { runSqlOver, sqlPlanning } from '../../test/helpers/sql-planning.ts';
import { fromArrays, type Operator, OperatorHarness, Pipeline } from '../engine/index.ts';
import { groupState, regularJoin } from './build-updating.ts';
import { rowBuilder } from './codegen.ts';
import { explainSql } from './index.ts';
import { KIND, type KindedRow } from './rows.ts';
import type { Row } from './types.ts';

const ddl = (auctionKey: string) => `
CREATE TABLE auction (id BIGINT, category BIGINT, dateTime TIMESTAMP(3), expires TIMESTAMP(3)${auctionKey},
  WATERMARK FOR dateTime AS dateTime - INTERVAL '1' SECOND);
CREATE TABLE bid (auction BIGINT, price BIGINT, dateTime TIMESTAMP(3),
  WATERMARK FOR dateTime AS dateTime - INTERVAL '1' SECOND);
`;
const KEYED = ddl(', PRIMARY KEY (id) NOT ENFORCED');
const PLAIN = ddl('');

const { select } = sqlPlanning();
const refusal = async (text: string) => (await sqlPlanning().refusal(text)).message;

type Event = Row & { table: 'auction' | 'bid' };

/** Runs `query` over `events` (one stream, in order), into a collecting sink: its rows. */
async function run(script: string, events: Event[]): Promise<Row[]> {
  return (await runWithState(script, events)).rows;
}

const runWithState = runSqlOver;

const auction = (id: number, t: number, expires: number): Event => ({
  table: 'auction',
  id,
  category: id % 2,
  dateTime: t,
  expires,
});
const bid = (a: number, price: number, t: number): Event => ({ table: 'bid', auction: a, price, dateTime: t });

// Bids before their auction (kept until it comes), after it (paired, not kept), outside its lifetime, for an
// auction that never comes, and after an auction expired.
const EVENTS: Event[] = [
  bid(1, 5, 1000),
  bid(1, 7, 1100),
  auction(1, 1000, 5000),
  bid(1, 9, 1200),
  bid(9, 3, 1300),
  auction(2, 1400, 3000),
  bid(2, 4, 1500),
  bid(1, 11, 2000),
  bid(2, 6, 2900),
  bid(2, 8, 3100),
  bid(1, 2, 4000),
  auction(3, 6000, 20_000),
  bid(3, 1, 10_000),
  bid(1, 12, 10_500),
  bid(3, 13, 12_000),
];

const sorted = (rows: Row[]) => rows.map((r) => JSON.stringify(r)).sort();

describe('a regular join on a declared PRIMARY KEY', () => {
  it('parses PRIMARY KEY … NOT ENFORCED (table and column constraints) and refuses an enforced or unknown one', async () => {
    const table = (await select(`${KEYED}SELECT id FROM auction`)).source;
    assert.deepEqual(table.primaryKey, ['id']);
    const column = (await select(`CREATE TABLE t (k BIGINT PRIMARY KEY NOT ENFORCED, v BIGINT); SELECT v FROM t`))
      .source;
    assert.deepEqual(column.primaryKey, ['k']);
    const named = (
      await select(`CREATE TABLE t (a BIGINT, b BIGINT, CONSTRAINT pk PRIMARY KEY (a, b) NOT ENFORCED);
        SELECT a FROM t`)
    ).source;
    assert.deepEqual(named.primaryKey, ['a', 'b']);
    assert.match(await refusal(`CREATE TABLE t (k BIGINT, PRIMARY KEY (k)); SELECT k FROM t`), /NOT ENFORCED/);
    assert.match(await refusal(`CREATE TABLE t (k BIGINT, PRIMARY KEY (x) NOT ENFORCED); SELECT k FROM t`), /"x"/);
  });

  it('is recognized when the equal keys cover a side key, on either side; not otherwise', async () => {
    const q4 = `SELECT A.id, B.price FROM auction A, bid B
      WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires`;
    assert.deepEqual((await select(`${KEYED}${q4}`)).join?.unique, { l: true, r: false });
    const swapped = `SELECT A.id, B.price FROM bid B JOIN auction A ON B.auction = A.id`;
    assert.deepEqual((await select(`${KEYED}${swapped}`)).join?.unique, { l: false, r: true });
    assert.equal((await select(`${PLAIN}${q4}`)).join?.unique, undefined, 'no declared key');
    const other = `SELECT A.id, B.price FROM auction A, bid B WHERE A.category = B.auction`;
    assert.equal((await select(`${KEYED}${other}`)).join?.unique, undefined, 'a join on another column');
    const view = `CREATE VIEW v AS SELECT id, category FROM auction;
      SELECT v.id, B.price FROM v, bid B WHERE v.id = B.auction`;
    assert.equal((await select(`${KEYED}${view}`)).join?.unique, undefined, 'a view: no declared key');
  });

  it('gives the rows of the join without it, rows before and after the key row alike (either side)', async () => {
    const sink = `CREATE TABLE out (id BIGINT, price BIGINT) WITH ('connector' = 'blackhole');`;
    const q4 = `INSERT INTO out SELECT A.id, B.price FROM auction A, bid B
      WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires;`;
    const keyed = await run(`${KEYED}${sink}${q4}`, EVENTS);
    const plain = await run(`${PLAIN}${sink}${q4}`, EVENTS);
    const expected = [
      [1, 5],
      [1, 7],
      [1, 9],
      [1, 11],
      [1, 2],
      [2, 4],
      [2, 6],
      [3, 1],
      [3, 13],
    ].map(([id, price]) => ({ id, price }));
    assert.deepEqual(sorted(plain), sorted(expected));
    assert.deepEqual(sorted(keyed), sorted(expected));
    const swapped = `INSERT INTO out SELECT A.id, B.price FROM bid B JOIN auction A ON B.auction = A.id;`;
    const all = await run(`${KEYED}${sink}${swapped}`, EVENTS);
    assert.deepEqual(sorted(all), sorted(await run(`${PLAIN}${sink}${swapped}`, EVENTS)));
    assert.equal(all.length, 11, 'each bid of an auction that came, in its lifetime or not');
  });

  it('keys a GROUP BY on the declared key alone when its other keys are columns of the same table', async () => {
    const inner = `SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
      WHERE A.id = B.auction GROUP BY A.id, A.category`;
    const keyed = await select(`${KEYED}${inner}`);
    assert.equal(keyed.partitionKey?.eval({ l: { id: 7, category: 1 }, r: {} }), 7);
    assert.equal(keyed.partitionExpiry, undefined, 'the join forgets no auction: no state expiry');
    const bounded = await select(`${KEYED}SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
      WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires GROUP BY A.id, A.category`);
    // The join forgets an auction once the watermark passes its expiry: its key's MAX can change no more then.
    assert.equal(bounded.partitionExpiry?.({ l: { id: 7, category: 1, expires: 5000 }, r: {} }), 5000);
    assert.equal((await select(`${PLAIN}${inner}`)).partitionKey, undefined, 'no declared key');
    const mixed = `SELECT MAX(B.price) AS final FROM auction A, bid B WHERE A.id = B.auction GROUP BY A.id, B.price`;
    assert.equal((await select(`${KEYED}${mixed}`)).partitionKey, undefined, 'a key of the other side');
    const single = await select(`${KEYED}SELECT id, category, count(*) AS n FROM auction GROUP BY id, category`);
    assert.equal(single.partitionKey?.eval({ id: 3, category: 1 }), 3);
  });

  it('an aggregate over the join (MAX per auction, AVG per category, its state dropped at expiry) is unchanged', async () => {
    const sink = `CREATE TABLE out (category BIGINT, final DOUBLE) WITH ('connector' = 'blackhole');`;
    const q = `INSERT INTO out SELECT Q.category, AVG(Q.final) FROM (SELECT MAX(B.price) AS final, A.category
      FROM auction A, bid B WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
      GROUP BY A.id, A.category) Q GROUP BY Q.category;`;
    const keyed = await run(`${KEYED}${sink}${q}`, EVENTS);
    assert.deepEqual(keyed, await run(`${PLAIN}${sink}${q}`, EVENTS));
    assert.ok(keyed.length > 0);
  });

  it('runs a GROUP BY on the declared key inside the join (either side), with the rows and kinds of the plain plan', async () => {
    const sink = `CREATE TABLE out (id BIGINT, final BIGINT) WITH ('connector' = 'blackhole');`;
    const queries = {
      'auction first': `INSERT INTO out SELECT A.id, MAX(B.price) FROM auction A, bid B
        WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires GROUP BY A.id, A.category;`,
      'auction second': `INSERT INTO out SELECT A.id, MAX(B.price) FROM bid B JOIN auction A ON B.auction = A.id
        WHERE B.dateTime BETWEEN A.dateTime AND A.expires GROUP BY A.category, A.id;`,
    };
    const kinded = (rows: Row[]) => rows.map((r) => `${(r as KindedRow)[KIND]} ${JSON.stringify(r)}`);
    for (const [name, q] of Object.entries(queries)) {
      const explained = await explainSql(`${KEYED}${sink}${q}`);
      assert.match(explained, /join-group \(operator: KeyedCoProcessOperator\)/, name);
      assert.doesNotMatch(explained, /out-group/, `${name}: no GROUP BY step after the join`);
      assert.match(await explainSql(`${PLAIN}${sink}${q}`), /out-group-repartition/, `${name}: plain plan`);
      const keyed = await runWithState(`${KEYED}${sink}${q}`, EVENTS);
      const plain = await run(`${PLAIN}${sink}${q}`, EVENTS);
      assert.deepEqual(kinded(keyed.rows), kinded(plain), name);
      // A row per auction and batch that raised its maximum (mini-batch), each higher than the last; the last is
      // the highest bid in the auction's lifetime.
      const finals = new Map<unknown, number>();
      for (const r of keyed.rows) {
        assert.ok((finals.get(r.id) ?? -1) < (r.final as number), `${name}: auction ${r.id}'s MAX only rises`);
        finals.set(r.id, r.final as number);
      }
      assert.deepEqual([...finals].sort(), [
        [1, 11],
        [2, 6],
        [3, 13],
      ]);
      assert.equal(keyed.state.get('join-group'), 0, `${name}: every auction's aggregates dropped at its expiry`);
    }
  });

  it('a GROUP BY inside the join keeps its aggregates through a snapshot and restore at every point', async () => {
    const q = await select(`${KEYED}SELECT A.id, MAX(B.price) AS final FROM auction A, bid B
      WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires GROUP BY A.id, A.category`);
    const join = q.join!;
    // The grouped join operator alone, through the harness: auctions on input 0, bids on input 1.
    const make = () => {
      const p = new Pipeline({ bounded: true });
      const [a, b] = [p.source(fromArrays<Row>([[]])), p.source(fromArrays<Row>([[]]))];
      const project = rowBuilder(
        q.outputs.map((o) => o.name),
        q.outputs.map((o) => o.eval),
      );
      const group = {
        state: groupState(
          q,
          q.keys.map((k) => k.eval),
          project,
          false,
        ),
        side: 'l' as const,
      };
      const keyOf = (keys: typeof join.leftKeys) => keys[0]!.eval;
      const stream = regularJoin(
        a,
        b,
        keyOf(join.leftKeys),
        keyOf(join.rightKeys),
        'u',
        join.expiry,
        join.unique,
        q.where?.eval,
        group,
      );
      const operator = (stream as unknown as { node: { operator: Operator<Row, Row> } }).node.operator;
      return new OperatorHarness<Row, Row>(operator as never, { inputs: 2 });
    };
    const feed = (h: ReturnType<typeof make>, from: number, to: number) => {
      const out: string[] = [];
      for (let i = from; i < to; i++) {
        const { table, ...row } = EVENTS[i]!;
        h.process([[row, row.dateTime as number]], table === 'auction' ? 0 : 1);
        h.watermark((row.dateTime as number) - 1000);
        out.push(...h.values().map((r) => `${(r as KindedRow)[KIND]} ${r.id} ${r.final}`));
      }
      return out;
    };
    const whole = feed(make(), 0, EVENTS.length);
    assert.ok(whole.includes('update 1 11') && whole.includes('insert 3 1'), whole.join('\n'));
    for (let cut = 1; cut < EVENTS.length; cut++) {
      const first = make();
      const before = feed(first, 0, cut);
      const snapshot = v8.deserialize(v8.serialize(first.snapshot()));
      const second = make();
      second.node.operator.restore?.(snapshot);
      second.watermark((EVENTS[cut - 1]!.dateTime as number) - 1000);
      assert.deepEqual([...before, ...feed(second, cut, EVENTS.length)], whole, `restored after ${cut} records`);
    }
  });
});
