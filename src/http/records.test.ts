// The record browser's endpoint, in process (app.request) over a real log: the latest records, from an offset or a
// time, by key (back from the end, or on from a position, within the scan bound), values as text or hex with their
// headers, the size bound, and every refused parameter with its code.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cleanup, tempDir } from '../../test/helpers/dashboard.ts';
import { type Log, type LogRecord, openLog } from '../log/index.ts';
import { type ErrorBody, RECORD_BROWSE_LIMITS, type TopicRecordsJson } from './api.ts';
import { createApp, type ServerLog } from './index.ts';

const T0 = Date.UTC(2026, 11, 4, 15, 0, 0);

describe('GET /v1/topics/{topic}/partitions/{partition}/records', () => {
  let log: Log;
  let app: ReturnType<typeof createApp>;

  before(async () => {
    log = await openLog({ dataDir: tempDir('sluice-records-') });
    cleanup.push(() => log.close());
    await log.createTopic('orders', { partitions: 2 });
    // Partition 0: 120 JSON records in 12 batches, keys k0..k9 in turn, a second apart; every 7th has a header.
    for (let batch = 0; batch < 12; batch++) {
      const records: LogRecord[] = [];
      for (let i = batch * 10; i < batch * 10 + 10; i++) {
        records.push({
          key: Buffer.from(`k${i % 10}`),
          value: Buffer.from(JSON.stringify({ n: i })),
          timestamp: T0 + i * 1000,
          ...(i % 7 === 0 ? { headers: [{ key: 'trace', value: Buffer.from(`t-${i}`) }] } : {}),
        });
      }
      await log.append('orders', 0, records);
    }
    // Partition 1: binary bytes, nulls, a long text cut inside a two-byte character, and valid UTF-8 with a NUL.
    await log.append('orders', 1, [
      { key: Buffer.from([0xff, 0xfe]), value: Buffer.from([0x00, 0xff, 0x10]), timestamp: T0 },
      { key: null, value: null, timestamp: T0 + 1, headers: [{ key: 'empty', value: null }] },
      { key: Buffer.from('long'), value: Buffer.from(`${'a'.repeat(16_383)}é${'b'.repeat(4000)}`), timestamp: T0 + 2 },
      { key: Buffer.from('nul'), value: Buffer.from('a\u0000b'), timestamp: T0 + 3 },
    ]);
    app = createApp({ log });
  });

  const get = async (path: string, server = app) => {
    const response = await server.request(path);
    return { status: response.status, body: (await response.json()) as TopicRecordsJson & ErrorBody };
  };
  const offsets = (body: TopicRecordsJson) => body.records.map((r) => r.offset);

  it('shows the latest records of a partition by default, with their bounds', async () => {
    const { status, body } = await get('/v1/topics/orders/partitions/0/records');
    assert.equal(status, 200);
    assert.equal(body.records.length, RECORD_BROWSE_LIMITS.defaultLimit);
    assert.deepEqual(
      offsets(body),
      Array.from({ length: 50 }, (_, i) => 70 + i),
    );
    assert.deepEqual([body.startOffset, body.endOffset, body.from, body.nextOffset], [0, 120, 70, 120]);
    assert.equal(body.scan, null);
    assert.equal(body.truncated, false);
    const last = body.records.at(-1)!;
    assert.equal(last.timestamp, T0 + 119_000);
    assert.deepEqual(last.key, { encoding: 'utf8', data: 'k9', size: 2, truncated: false });
    assert.deepEqual(last.value, { encoding: 'utf8', data: '{"n":119}', size: 9, truncated: false });
    const withHeader = body.records.find((r) => r.offset === 112)!;
    assert.deepEqual(withHeader.headers, [
      { key: 'trace', value: { encoding: 'utf8', data: 't-112', size: 5, truncated: false } },
    ]);
    const few = await get('/v1/topics/orders/partitions/0/records?limit=3');
    assert.deepEqual(offsets(few.body), [117, 118, 119]);
  });

  it('reads on from an offset, also inside a batch; past the end is empty', async () => {
    const { body } = await get('/v1/topics/orders/partitions/0/records?offset=5&limit=3');
    assert.deepEqual(offsets(body), [5, 6, 7]);
    assert.deepEqual([body.from, body.nextOffset], [5, 8]);
    const next = await get(`/v1/topics/orders/partitions/0/records?offset=${body.nextOffset}&limit=500`);
    assert.equal(next.body.records.length, 112);
    assert.equal(next.body.nextOffset, 120);
    const past = await get('/v1/topics/orders/partitions/0/records?offset=5000');
    assert.deepEqual([past.body.records.length, past.body.from, past.body.nextOffset], [0, 120, 120]);
  });

  it('reads on from the first record at or after a time', async () => {
    const { body } = await get(`/v1/topics/orders/partitions/0/records?timestamp=${T0 + 42_500}&limit=2`);
    assert.deepEqual(offsets(body), [43, 44]);
    assert.equal(body.from, 43);
    const early = await get(`/v1/topics/orders/partitions/0/records?timestamp=0&limit=1`);
    assert.deepEqual(offsets(early.body), [0]);
    const later = await get(`/v1/topics/orders/partitions/0/records?timestamp=${T0 + 10 ** 9}`);
    assert.deepEqual([later.body.records.length, later.body.from], [0, 120]);
  });

  it('finds the latest records with a key, and those after a position', async () => {
    const { body } = await get('/v1/topics/orders/partitions/0/records?key=k3&limit=5');
    assert.deepEqual(offsets(body), [73, 83, 93, 103, 113]);
    assert.ok(body.records.every((r) => r.key?.data === 'k3'));
    assert.deepEqual(body.scan, { from: 0, to: 120, records: 120, bounded: false });
    assert.equal(body.nextOffset, 120);
    const after = await get('/v1/topics/orders/partitions/0/records?key=k3&offset=10&limit=2');
    assert.deepEqual(offsets(after.body), [13, 23]);
    assert.equal(after.body.nextOffset, 24, 'paging on starts after the last match');
    assert.deepEqual(after.body.scan, { from: 10, to: 24, records: 14, bounded: false });
    const none = await get('/v1/topics/orders/partitions/0/records?key=nobody');
    assert.deepEqual([none.body.records.length, none.body.scan?.records], [0, 120]);
  });

  it('scans at most maxScan records for a key', async () => {
    await log.createTopic('big', { partitions: 1 });
    const n = RECORD_BROWSE_LIMITS.maxScan + 500;
    const records: LogRecord[] = Array.from({ length: n }, (_, i) => ({
      key: Buffer.from(i === 5 || i === n - 100 ? 'needle' : 'hay'),
      value: Buffer.from(String(i)),
    }));
    for (let i = 0; i < n; i += 2000) await log.append('big', 0, records.slice(i, i + 2000));
    const back = await get('/v1/topics/big/partitions/0/records?key=needle');
    assert.deepEqual(offsets(back.body), [n - 100], 'the needle at offset 5 is beyond the scan');
    assert.deepEqual(back.body.scan, { from: 500, to: n, records: RECORD_BROWSE_LIMITS.maxScan, bounded: true });
    const on = await get('/v1/topics/big/partitions/0/records?key=needle&offset=0');
    assert.deepEqual(offsets(on.body), [5]);
    assert.deepEqual(on.body.scan, { from: 0, to: RECORD_BROWSE_LIMITS.maxScan, records: 10_000, bounded: true });
    assert.equal(on.body.nextOffset, RECORD_BROWSE_LIMITS.maxScan, 'the next search goes on where this one stopped');
    const rest = await get(`/v1/topics/big/partitions/0/records?key=needle&offset=${on.body.nextOffset}`);
    assert.deepEqual(offsets(rest.body), [n - 100]);
    assert.equal(rest.body.scan?.bounded, false);
  });

  it('shows binary bytes as hex, text as UTF-8, nulls as null, and cuts long values', async () => {
    const { body } = await get('/v1/topics/orders/partitions/1/records');
    const [binary, nulls, long, nul] = body.records;
    assert.deepEqual(binary!.key, { encoding: 'hex', data: 'fffe', size: 2, truncated: false });
    assert.deepEqual(binary!.value, { encoding: 'hex', data: '00ff10', size: 3, truncated: false });
    assert.equal(nulls!.key, null);
    assert.equal(nulls!.value, null);
    assert.deepEqual(nulls!.headers, [{ key: 'empty', value: null }]);
    assert.equal(long!.value!.encoding, 'utf8');
    assert.equal(long!.value!.size, 16_383 + 2 + 4000);
    assert.equal(long!.value!.truncated, true);
    assert.equal(long!.value!.data, 'a'.repeat(16_383), 'the character the cut splits is left out, not mangled');
    assert.deepEqual(nul!.value, { encoding: 'hex', data: '610062', size: 3, truncated: false });
  });

  it('keeps an answer within its size bound: the latest records, or the first from a position', async () => {
    await log.createTopic('blobs', { partitions: 1 });
    const blob = Buffer.alloc(RECORD_BROWSE_LIMITS.shownBytes, 0xab);
    for (let i = 0; i < 4; i++) {
      await log.append(
        'blobs',
        0,
        Array.from({ length: 50 }, () => ({ key: null, value: blob })),
      );
    }
    const latest = await get('/v1/topics/blobs/partitions/0/records?limit=500');
    assert.equal(latest.body.truncated, true);
    const n = latest.body.records.length;
    assert.ok(n > 10 && n < 200, `${n} records`);
    assert.equal(latest.body.records.at(-1)!.offset, 199, 'the latest records are the ones kept');
    assert.equal(latest.body.from, 200 - n);
    const first = await get('/v1/topics/blobs/partitions/0/records?offset=0&limit=500');
    assert.equal(first.body.truncated, true);
    assert.deepEqual(offsets(first.body).slice(0, 2), [0, 1]);
    assert.equal(first.body.nextOffset, first.body.records.length, 'paging on starts after the last record shown');
  });

  it('takes the largest limit, and refuses bad parameters with INVALID_RECORDS_QUERY and the parameter', async () => {
    assert.equal((await get('/v1/topics/orders/partitions/0/records?limit=500')).body.records.length, 120);
    const refused: [string, string][] = [
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=ten', 'limit'],
      ['offset=-1', 'offset'],
      ['offset=1.5', 'offset'],
      ['offset=99999999999999999', 'offset'],
      ['timestamp=yesterday', 'timestamp'],
      ['offset=1&timestamp=2', 'timestamp'],
      ['offset=1&offset=2', 'offset'],
      ['key=', 'key'],
      [`key=${'x'.repeat(RECORD_BROWSE_LIMITS.maxKeyBytes + 1)}`, 'key'],
      ['from=3', 'from'],
    ];
    for (const [query, parameter] of refused) {
      const { status, body } = await get(`/v1/topics/orders/partitions/0/records?${query}`);
      assert.equal(status, 400, query);
      assert.equal(body.error.code, 'INVALID_RECORDS_QUERY', query);
      assert.equal(body.error.details?.parameter, parameter, query);
    }
    const partition = await get('/v1/topics/orders/partitions/one/records');
    assert.deepEqual([partition.status, partition.body.error.code], [400, 'INVALID_RECORDS_QUERY']);
  });

  it('answers 404 for an unknown topic or partition', async () => {
    const topic = await get('/v1/topics/nope/partitions/0/records');
    assert.deepEqual([topic.status, topic.body.error.code], [404, 'UNKNOWN_TOPIC']);
    const partition = await get('/v1/topics/orders/partitions/2/records');
    assert.deepEqual([partition.status, partition.body.error.code], [404, 'UNKNOWN_PARTITION']);
    assert.deepEqual(partition.body.error.details, { topic: 'orders', partition: 2 });
  });

  it('says so when the log cannot be read from here', async () => {
    const listOnly: ServerLog = {
      listTopics: () => log.listTopics(),
      hasTopic: (name) => log.hasTopic(name),
      describeTopic: (name) => log.describeTopic(name),
      createTopic: (name, spec) => log.createTopic(name, spec),
      append: (topic, partition, records) => log.append(topic, partition, records),
    };
    const { status, body } = await get('/v1/topics/orders/partitions/0/records', createApp({ log: listOnly }));
    assert.deepEqual([status, body.error.code], [400, 'UNSUPPORTED']);
  });
});
