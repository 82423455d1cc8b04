// The repartition step: a pass-through in one process; between partition tasks an internal topic carrying records
// exactly once and event time as watermark markers, so that tasks counting by another key than the input's
// partitioning key give one process's results — bounded, streaming, and with a task crashing and resuming.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { SluiceError } from '../errors.ts';
import { type AppendOptions, type Log, type LogRecord, openLog, partitionForKey } from '../log/index.ts';
import { WRITER_HEADER } from './connectors/log-sink.ts';
import { RepartitionReader } from './connectors/repartition-reader.ts';
import { decodeMarker, encodeMarker, RepartitionTopic, WATERMARK_HEADER } from './connectors/repartition-topic.ts';
import { RepartitionWriter } from './connectors/repartition-writer.ts';
import { agg, json, logSink, logSource, MAX_WATERMARK, Pipeline, watermarks, windows } from './index.ts';
import { keyBytes } from './operators/repartition.ts';

const dirs: string[] = [];
const logs: Log[] = [];
after(async () => {
  for (const log of logs) await log.close().catch(() => {});
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function setup(partitions: number): Promise<{ log: Log; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-repartition-'));
  dirs.push(dir);
  const log = await openLog({ dataDir: path.join(dir, 'log') });
  logs.push(log);
  await log.createTopic('views', { partitions });
  await log.createTopic('counts', { partitions: 2 });
  return { log, dir };
}

interface View {
  user: string;
  country: string;
  ts: number;
}

const COUNTRIES = ['de', 'fr', 'it', 'es', 'pl', 'nl', 'se'];

/** Views by 40 users, each in one country, a little out of order (within the 1 s bound), partitioned by user. */
function views(from: number, to: number): View[] {
  const out: View[] = [];
  for (let i = from; i < to; i++) {
    const user = `u${(i * 7) % 40}`;
    out.push({
      user,
      country: COUNTRIES[Number(user.slice(1)) % COUNTRIES.length]!,
      ts: 1_000_000 + i * 100 - (i % 4) * 200,
    });
  }
  return out;
}

async function produce(log: Log, list: View[]): Promise<void> {
  const count = log.describeTopic('views').partitions.length;
  const byPartition = new Map<number, View[]>();
  for (const v of list) {
    const p = partitionForKey(Buffer.from(v.user), count);
    byPartition.set(p, [...(byPartition.get(p) ?? []), v]);
  }
  for (const [p, vs] of byPartition) {
    await log.append(
      'views',
      p,
      vs.map((v) => ({ key: Buffer.from(v.user), value: Buffer.from(JSON.stringify(v)), timestamp: v.ts })),
    );
  }
}

/** One far-future view in every partition (or those given): every task's watermark passes every earlier window. */
async function closeAll(log: Log, partitions?: number[]): Promise<void> {
  const count = log.describeTopic('views').partitions.length;
  for (const p of partitions ?? Array.from({ length: count }, (_, i) => i)) {
    let n = 0;
    while (partitionForKey(Buffer.from(`closer${n}`), count) !== p) n++;
    await log.append('views', p, [
      {
        key: Buffer.from(`closer${n}`),
        value: Buffer.from(JSON.stringify({ user: `closer${n}`, country: 'zz', ts: 9_000_000 })),
      },
    ]);
  }
}

interface BuildOptions {
  bounded?: boolean;
  repartition?: boolean;
  /** The watermark strategy's idleTimeout. */
  idleTimeout?: string;
  /** The log source's partition idleness (default: its own default). */
  sourceIdleTimeout?: string | false;
}

function build(log: Log, options: BuildOptions = {}): Pipeline {
  const p = new Pipeline({ name: 'views', bounded: options.bounded ?? false, tickMs: 20 });
  const idleTimeout = options.sourceIdleTimeout;
  const counted = p
    .source(
      logSource({ log, topic: 'views', format: json<View>(), ...(idleTimeout === undefined ? {} : { idleTimeout }) }),
    )
    .withTimestamps((v) => v.ts, watermarks.boundedOutOfOrderness('1s', { idleTimeout: options.idleTimeout }))
    .keyBy(
      (v) => v.country,
      options.repartition === false ? {} : { repartition: { name: 'by-country', watermarkIntervalMs: 20 } },
    )
    .window(windows.tumbling('10s'))
    .aggregate(agg.count<View>());
  counted
    .map((r) => ({ start: r.windowStart, country: r.key, views: r.value, kind: r.kind }))
    .sinkTo(logSink({ log, topic: 'counts', format: json(), key: (r) => r.country }));
  return p;
}

function counts(log: Log): string[] {
  const rows: string[] = [];
  for (const { partition, logEndOffset } of log.describeTopic('counts').partitions) {
    let offset = 0;
    while (offset < logEndOffset) {
      const page = log.readRecords('counts', partition, offset);
      for (const r of page.records) {
        const c = JSON.parse(r.value!.toString()) as { start: number; country: string; views: number; kind: string };
        if (c.country !== 'zz') rows.push(`${c.start} ${c.country} ${c.views} ${c.kind}`);
      }
      offset = page.nextOffset;
    }
  }
  return rows.sort();
}

/** The same views in one process, bounded: the reference. */
async function reference(list: View[], partitions: number, repartition = true): Promise<string[]> {
  const { log } = await setup(partitions);
  await produce(log, list);
  await closeAll(log);
  await build(log, { bounded: true, repartition }).run();
  assert.equal(log.hasTopic('views-by-country-repartition'), false, 'one process needs no repartition topic');
  return counts(log);
}

async function until(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('in one process', () => {
  it('passes records through: the results equal a keyBy without it', async () => {
    const list = views(0, 2000);
    const withStep = await reference(list, 3);
    const without = await reference(list, 3, false);
    assert.ok(withStep.length > 50);
    assert.deepEqual(withStep, without);
  });

  it('shows in the topology, and refuses a bad or repeated name', async () => {
    const { log } = await setup(2);
    const p = build(log);
    const nodes = p.topology().nodes.map((n) => n.id);
    assert.ok(nodes.includes('repartition:by-country'));
    assert.ok(nodes.includes('source:log:views-by-country-repartition'));
    const stream = new Pipeline({ name: 'x' }).source(logSource({ log, topic: 'views', format: json<View>() }));
    assert.throws(() => stream.repartition((v) => v.user, { name: 'no spaces' }), { code: 'INVALID_REPARTITION' });
    stream.repartition((v) => v.user, { name: 'a' });
    assert.throws(() => stream.repartition((v) => v.country, { name: 'a' }), { code: 'INVALID_REPARTITION' });
  });
});

describe('between partition tasks', () => {
  it('bounded tasks end once every task has, with one process results', async () => {
    const list = views(0, 3000);
    const expected = await reference(list, 4);
    const { log } = await setup(4);
    await produce(log, list);
    await closeAll(log);
    await Promise.all([0, 1, 2, 3].map((p) => build(log, { bounded: true }).runAsTask(p).run()));
    assert.equal(log.describeTopic('views-by-country-repartition').partitions.length, 4);
    assert.deepEqual(counts(log), expected);

    // Without the step, each task counts only the views of its own users: partial counts.
    const { log: plain } = await setup(4);
    await produce(plain, list);
    await closeAll(plain);
    await Promise.all([0, 1, 2, 3].map((p) => build(plain, { bounded: true, repartition: false }).runAsTask(p).run()));
    assert.notDeepEqual(counts(plain), expected);
  });

  for (const [how, options] of [
    ["the watermark strategy's idleTimeout", { idleTimeout: '100ms', sourceIdleTimeout: false }],
    ["the log source's partition idleness", { sourceIdleTimeout: '100ms' }],
  ] as const) {
    it(`a task whose input stays silent goes idle and does not hold the others back (${how})`, async () => {
      const list = views(0, 2000).filter((v) => partitionForKey(Buffer.from(v.user), 3) !== 2);
      const expected = await (async () => {
        const { log } = await setup(3);
        await produce(log, list);
        await closeAll(log, [0, 1]);
        await build(log, { bounded: true }).run();
        return counts(log);
      })();
      const { log } = await setup(3);
      const tasks = [0, 1, 2].map((p) => build(log, options).runAsTask(p));
      const done = tasks.map((t) => t.run());
      await produce(log, list);
      await closeAll(log, [0, 1]); // partition 2 never gets a record
      await until(() => counts(log).length >= expected.length, 'every window');
      // Each task's source reads its own partition only, and shows it per partition.
      assert.deepEqual(
        tasks.map((t) => t.metrics().sources.map((s) => s.partitions.map((x) => x.partition))),
        [[[0]], [[1]], [[2]]],
      );
      assert.equal(tasks[2]!.metrics().sources[0]!.partitions[0]!.idle, true);
      for (const t of tasks) t.stop();
      await Promise.all(done);
      assert.deepEqual(counts(log), expected);
    });
  }

  it('streaming, with a task crashing and resuming from its checkpoint: each window once, as one process', async () => {
    const all = views(0, 4500);
    const expected = await reference(all, 3);
    const { log, dir } = await setup(3);
    const start = (p: number) => {
      const pipeline = build(log).runAsTask(p);
      // Periodic checkpoints: the repartition topic's transactions commit with them, and only then do readers see records.
      pipeline.enableCheckpoints({ dir: path.join(dir, 'checkpoints', `p${p}`), intervalMs: 100 });
      return { pipeline, done: pipeline.run() };
    };
    const tasks = [start(0), start(1), start(2)];
    await produce(log, all.slice(0, 1500));
    await until(() => counts(log).length > 0, 'first windows');
    for (const t of tasks) await t.pipeline.checkpoint();
    await produce(log, all.slice(1500, 3000));
    const written = () =>
      log.describeTopic('views-by-country-repartition').partitions.reduce((n, p) => n + p.logEndOffset, 0);
    const before = written();
    await until(() => written() > before + 500, 'task 1 to write past its checkpoint');
    // A crash, as far as recovery can tell: task 1 resumes from the checkpoint, its writes since then already there.
    tasks[1]!.pipeline.stop({ checkpoint: false });
    await tasks[1]!.done;
    tasks[1] = start(1);
    await produce(log, all.slice(3000));
    await closeAll(log);
    await until(() => counts(log).length >= expected.length, 'every window');
    await new Promise((resolve) => setTimeout(resolve, 200)); // anything more would be a duplicate: let it show
    for (const t of tasks) t.pipeline.stop();
    await Promise.all(tasks.map((t) => t.done));
    assert.deepEqual(counts(log), expected);
  });
  it('refuses to resume a task whose unread repartition records were deleted, rather than skip them', async () => {
    const { log, dir } = await setup(3);
    const topic = 'views-by-country-repartition';
    await log.createTopic(topic, { partitions: 3, config: { retentionMs: -1, segmentBytes: 4096 } });
    const start = (p: number) => {
      const pipeline = build(log).runAsTask(p);
      // Periodic checkpoints: the repartition topic's transactions commit with them, and only then do readers see records.
      pipeline.enableCheckpoints({ dir: path.join(dir, 'checkpoints', `p${p}`), intervalMs: 100 });
      return { pipeline, done: pipeline.run() };
    };
    const tasks = [start(0), start(1), start(2)];
    await produce(log, views(0, 1000));
    await until(() => counts(log).length > 0, 'first windows');
    await tasks[0]!.pipeline.checkpoint();
    tasks[0]!.pipeline.stop({ checkpoint: false });
    await tasks[0]!.done;
    // While task 0 is down the others write on; an admin then deletes partition 0 up to its end (DeleteRecords).
    const end = () => log.describeTopic(topic).partitions[0]!.logEndOffset;
    const read = end(); // task 0 has read at most this far
    await produce(log, views(1000, 3000));
    await until(() => end() > read + 200, 'the other tasks to write to partition 0');
    assert.ok(log.purgeBefore(topic, 0, end()) > read);
    const again = start(0);
    const outcome = await Promise.race([
      again.done.then(
        () => 'ran',
        (error: SluiceError) => error.code,
      ),
      new Promise((resolve) => setTimeout(resolve, 10_000, 'still running')),
    ]);
    if (outcome === 'still running') {
      again.pipeline.stop({ checkpoint: false });
      await again.done;
    }
    assert.equal(outcome, 'REPARTITION_RECORDS_DELETED');
    for (const t of tasks.slice(1)) t.pipeline.stop();
    await Promise.all(tasks.slice(1).map((t) => t.done));
  });
});

describe('the reader', () => {
  const marker = (writer: string, watermark: number, idle = false) => ({
    key: null,
    value: null,
    headers: [
      { key: WRITER_HEADER, value: Buffer.from(writer) },
      { key: WATERMARK_HEADER, value: encodeMarker(watermark, idle) },
    ],
  });
  const data = (n: number) => ({ key: Buffer.from('k'), value: Buffer.from(String(n)), timestamp: n });

  async function reader(bounded = false): Promise<{ log: Log; source: RepartitionReader<number> }> {
    const { log } = await setup(3);
    const topic = new RepartitionTopic(log, 'views-t-repartition', ['views']);
    const source = new RepartitionReader(topic, json<number>());
    source.assign([1]);
    await source.open({ bounded, deadLetter: () => {} });
    return { log, source };
  }

  it('holds the watermark at the slowest writer, counting those not heard from yet', async () => {
    const { log, source } = await reader();
    const signal = new AbortController().signal;
    await log.append('views-t-repartition', 1, [data(5), marker('v#0', 100), data(6), marker('v#1', 50)]);
    const first = await source.poll(signal);
    assert.deepEqual(first!.values, [5, 6]);
    assert.equal(first!.watermark, undefined, 'writer 2 has not spoken: no watermark yet');
    await log.append('views-t-repartition', 1, [marker('v#2', 70), data(7), marker('v#1', 200)]);
    const second = await source.poll(signal);
    assert.deepEqual(second!.values, []);
    assert.equal(second!.watermark, 50, 'the minimum over the three writers');
    const third = await source.poll(signal);
    assert.deepEqual(third!.values, [7], 'a batch is cut at each marker that moves time');
    assert.equal(third!.watermark, 70);
  });

  it('leaves idle writers out, takes the highest when all are idle, and ends when all have ended', async () => {
    const { log, source } = await reader(true);
    const signal = new AbortController().signal;
    await log.append('views-t-repartition', 1, [
      marker('v#0', 100),
      marker('v#1', 300),
      marker('v#2', Number.NEGATIVE_INFINITY, true),
    ]);
    assert.equal((await source.poll(signal))!.watermark, 100);
    await log.append('views-t-repartition', 1, [marker('v#0', 120, true)]);
    assert.equal((await source.poll(signal))!.watermark, 300);
    await log.append('views-t-repartition', 1, [marker('v#1', 310, true)]);
    const allIdle = await source.poll(signal);
    assert.deepEqual([allIdle!.watermark, allIdle!.idle], [310, true]);
    await log.append('views-t-repartition', 1, [
      marker('v#0', MAX_WATERMARK),
      marker('v#1', MAX_WATERMARK),
      marker('v#2', MAX_WATERMARK),
    ]);
    const last = await source.poll(signal);
    assert.equal(last!.watermark, MAX_WATERMARK);
    assert.equal(await source.poll(signal), null);
  });

  it('resumes from its snapshot with what it knew of every writer', async () => {
    const { log, source } = await reader();
    const signal = new AbortController().signal;
    await log.append('views-t-repartition', 1, [marker('v#0', 10), marker('v#1', 20), marker('v#2', 30), data(1)]);
    await source.poll(signal);
    const snapshot = source.snapshot();
    const again = new RepartitionReader(new RepartitionTopic(log, 'views-t-repartition', ['views']), json<number>());
    again.assign([1]);
    again.restore(structuredClone(snapshot));
    await again.open({ bounded: false, deadLetter: () => {} });
    await log.append('views-t-repartition', 1, [marker('v#0', 40)]);
    const next = await again.poll(signal);
    assert.deepEqual(next!.values, [1]);
    assert.equal(next!.watermark, 20);
  });
});

describe('the writer', () => {
  const rec = (key: string, value: string) => ({ key: Buffer.from(key), value: Buffer.from(value) });
  /** Every partition's contents: values, and markers as `@watermark`. */
  const contents = (log: Log, topic: string) =>
    log.describeTopic(topic).partitions.map(({ partition }) =>
      log.readRecords(topic, partition, 0).records.map((r) => {
        const marker = r.headers.find((h) => h.key === WATERMARK_HEADER);
        return marker ? `@${decodeMarker(marker.value)!.watermark}` : r.value!.toString();
      }),
    );

  it('puts markers after the records they cover, in every partition, and sends them again on recovery', async () => {
    const { log } = await setup(3);
    const topic = 'views-w-repartition';
    const writer = new RepartitionWriter(new RepartitionTopic(log, topic, ['views']), { watermarkIntervalMs: 60_000 });
    writer.setWriter('views#1');
    await writer.open();
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    void writer.write({ values: keys.map((k, i) => rec(k, String(i))), timestamps: [1, 2, 3, 4, 5, 6] });
    writer.onWatermark(50); // the first marker goes at once
    void writer.write({ values: [rec('a', '6'), rec('b', '7')], timestamps: [7, 8] });
    writer.onWatermark(60); // within the interval: held back until flush (or the interval)
    const state = (await writer.prepareCheckpoint(1)) as { watermark: number };
    assert.equal(state.watermark, 60);
    let parts = contents(log, topic);
    for (const part of parts) assert.equal(part.filter((v) => v === '@50').length, 1);
    assert.equal(parts.flat().filter((v) => v === '@60').length, 0);
    await writer.flush();
    parts = contents(log, topic);
    for (const part of parts) {
      const at50 = part.indexOf('@50');
      assert.ok(
        part.slice(0, at50).every((v) => Number(v) < 6),
        'the first batch before the first marker',
      );
      assert.ok(part.slice(at50).every((v) => v.startsWith('@') || Number(v) >= 6));
      assert.equal(part.at(-1), '@60');
    }
    assert.equal(writer.markers, 6);
    await writer.close();

    // A crash after that checkpoint: the new instance sends the checkpoint's watermark again, and skips its records.
    const again = new RepartitionWriter(new RepartitionTopic(log, topic, ['views']), { watermarkIntervalMs: 60_000 });
    again.setWriter('views#1');
    await again.open();
    await again.recover(state);
    await again.prepareCheckpoint(2);
    assert.equal(again.markers, 3);
    await again.close();
  });

  it("writes records and markers in the epoch's transaction: read committed, they show once the checkpoint commits", async () => {
    const { log } = await setup(2);
    const topic = 'views-w-repartition';
    const committed = () =>
      [0, 1].flatMap((p) =>
        log.readRecords(topic, p, 0, { isolation: 'read_committed' }).records.map((r) => r.value?.toString() ?? '@'),
      );
    const writer = new RepartitionWriter(new RepartitionTopic(log, topic, ['views']), { watermarkIntervalMs: 0 });
    writer.setWriter('views#0');
    await writer.open();
    await writer.recover(undefined);
    void writer.write({ values: [rec('a', '1'), rec('b', '2')], timestamps: [1, 2] });
    writer.onWatermark(50);
    const state = await writer.prepareCheckpoint(1);
    assert.deepEqual(committed(), [], 'prepared, not committed');
    await writer.commitCheckpoint(1);
    assert.deepEqual(committed().sort(), ['1', '2', '@', '@']);

    // Written after that checkpoint, then a crash: the next instance aborts them.
    void writer.write({ values: [rec('c', '3')], timestamps: [3] });
    writer.onWatermark(90);
    await writer.flush();
    const again = new RepartitionWriter(new RepartitionTopic(log, topic, ['views']), { watermarkIntervalMs: 0 });
    again.setWriter('views#0');
    await again.open();
    await again.recover(state);
    await again.prepareCheckpoint(2);
    await again.commitCheckpoint(2);
    assert.deepEqual(committed().sort(), ['1', '2', '@', '@', '@', '@'], "no 3, and the checkpoint's markers again");
    await again.close();
  });

  it("defers its markers' fsync as its records' when the pipeline checkpoints; the checkpoint flushes them", async () => {
    const { log } = await setup(3);
    const topic = 'views-w-repartition';
    const markers: boolean[] = [];
    // A log without transactions (as a Kafka cluster's client is to this writer): markers go through append().
    const recording = new Proxy(log, {
      get(target, name) {
        if (name === 'openTransactionalWriter') return undefined;
        if (name !== 'append') return Reflect.get(target, name);
        return (t: string, partition: number, records: LogRecord[], options?: AppendOptions) => {
          if (records.some((r) => r.headers?.some((h) => h.key === WATERMARK_HEADER))) {
            markers.push(options?.durable !== false);
          }
          return target.append(t, partition, records, options);
        };
      },
    });
    const start = async (checkpoints: boolean) => {
      const writer = new RepartitionWriter(new RepartitionTopic(recording, topic, ['views']), {
        watermarkIntervalMs: 0,
      });
      writer.setWriter('views#1');
      await writer.open();
      if (checkpoints) await writer.recover(undefined); // the pipeline calls it only when it checkpoints
      return writer;
    };
    const deferred = await start(true);
    void deferred.write({ values: [rec('a', '1')], timestamps: [1] });
    deferred.onWatermark(50);
    await deferred.prepareCheckpoint(1); // flushes the topic before it records the end offsets
    assert.deepEqual(markers, [false, false, false]);
    for (const part of contents(log, topic)) assert.equal(part.at(-1), '@50', 'synced by the checkpoint');
    await deferred.close();

    markers.length = 0;
    const durable = await start(false);
    durable.onWatermark(70);
    await durable.flush();
    assert.deepEqual(markers, [true, true, true], 'without checkpoints each marker waits for its fsync');
    await durable.close();
  });
});

it('markers and keys encode as documented', () => {
  assert.deepEqual(decodeMarker(encodeMarker(-5, true)), { watermark: -5, idle: true });
  assert.deepEqual(decodeMarker(encodeMarker(MAX_WATERMARK, false)), { watermark: MAX_WATERMARK, idle: false });
  assert.equal(decodeMarker(Buffer.alloc(3)), undefined);
  assert.equal(keyBytes('de').toString(), 'de');
  assert.equal(keyBytes(42).toString(), '42');
  assert.equal(keyBytes({ a: 1 }).toString(), '{"a":1}');
  assert.equal(keyBytes(10n).toString(), '10');
});

it('a task refuses a repartition topic made for another task count', async () => {
  const { log } = await setup(3);
  await log.createTopic('views-by-country-repartition', { partitions: 2 });
  const p = build(log).runAsTask(0);
  await assert.rejects(p.run(), { code: 'NOT_CO_PARTITIONED' });
});
