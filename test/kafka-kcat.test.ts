// librdkafka (Debian's kcat) against the broker: metadata, 10,000 keyed records produced with acks=all under every
// compression codec, consumed back byte for byte, and a balanced consumer group splitting the partitions.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { installed, run } from '../support/processes.ts';
import { startTestBroker, type TestBroker } from './helpers/broker.ts';

const hasKcat = installed('kcat');
let t: TestBroker;

describe('kcat (librdkafka)', {
  skip: hasKcat ? false : 'kcat is not installed (.ci/run installs it with apt-get)',
}, () => {
  before(async () => {
    t = await startTestBroker({ autoCreateTopics: true, defaultPartitions: 4 });
  });
  after(async () => {
    await t?.close();
  });

  it('lists metadata with -L', async () => {
    await t.log.createTopic('listed', { partitions: 3 });
    const result = await run('kcat', ['-b', t.bootstrap, '-L', '-J']);
    assert.equal(result.code, 0, result.stderr);
    const meta = JSON.parse(result.stdout.toString());
    assert.equal(meta.brokers[0].name, t.bootstrap);
    assert.equal(meta.brokers[0].id, 0);
    const topic = meta.topics.find((x: { topic: string }) => x.topic === 'listed');
    assert.equal(topic.partitions.length, 3);
  });

  const expected: string[] = [];
  it('produces 10,000 keyed records with acks=all under every codec and consumes them back byte for byte', {
    timeout: 90_000,
  }, async () => {
    for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd']) {
      const lines: string[] = [];
      for (let i = 0; i < 2000; i++)
        lines.push(`${codec}-${i}\tvalue ${i} ${'é✓'.repeat(i % 5)} ${'x'.repeat(i % 97)}`);
      expected.push(...lines);
      const produced = await run(
        'kcat',
        ['-b', t.bootstrap, '-P', '-t', 'kc', '-K', '\t', '-X', 'acks=all', '-z', codec],
        `${lines.join('\n')}\n`,
      );
      assert.equal(produced.code, 0, produced.stderr);
    }
    const total = t.log.describeTopic('kc').partitions.reduce((n, p) => n + p.logEndOffset, 0);
    assert.equal(total, 10_000);
    const consumed = await run('kcat', [
      '-b',
      t.bootstrap,
      '-C',
      '-t',
      'kc',
      '-o',
      'beginning',
      '-e',
      '-f',
      '%k\t%s\n',
    ]);
    assert.equal(consumed.code, 0, consumed.stderr);
    const got = consumed.stdout.toString('utf8').split('\n').filter(Boolean);
    assert.equal(got.length, 10_000);
    assert.deepEqual(got.sort(), [...expected].sort());
  });

  it('splits partitions among the members of a balanced consumer group (-G)', async () => {
    const member = () =>
      run(
        'kcat',
        ['-b', t.bootstrap, '-G', 'balanced', '-X', 'auto.offset.reset=earliest', '-e', '-f', '%p\t%k\t%s\n', 'kc'],
        undefined,
        45_000,
      );
    const [a, b] = await Promise.all([member(), member()]);
    const rows = (r: { stdout: Buffer }) => r.stdout.toString().split('\n').filter(Boolean);
    const partitionsOf = (r: { stdout: Buffer }) => new Set(rows(r).map((line) => line.split('\t')[0]));
    assert.ok(rows(a).length > 0 && rows(b).length > 0, `both members consumed (${rows(a).length}, ${rows(b).length})`);
    const overlap = [...partitionsOf(a)].filter((p) => partitionsOf(b).has(p));
    assert.deepEqual(overlap, [], 'no partition is consumed by both members');
    const all = [...rows(a), ...rows(b)].map((line) => line.slice(line.indexOf('\t') + 1)).sort();
    assert.deepEqual(all, [...expected].sort());
  });
});
