// The CLI as a user types it: `sluice broker` in its own process, then topics/produce/consume against it, with
// the exit codes scripts rely on.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Daemon, run, SLUICE, sluice, startSluice } from '../support/processes.ts';

let dataDir: string;
let broker: Daemon;
let bootstrap: string;

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cli-'));
  broker = startSluice(['broker', '--data-dir', dataDir, '--kafka-port', '0']);
  bootstrap = (await broker.waitFor(/Kafka protocol on (\S+),/))[1]!;
});
after(async () => {
  await broker.stop('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('sluice CLI against sluice broker', () => {
  it('creates, lists, describes and deletes topics', async () => {
    const created = await sluice(['topics', 'create', 'orders', '-p', '3', '--bootstrap', bootstrap]);
    assert.equal(created.code, 0, created.stderr);
    const again = await sluice(['topics', 'create', 'orders', '--bootstrap', bootstrap]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /TOPIC_ALREADY_EXISTS/);
    assert.equal((await sluice(['topics', 'create', 'orders', '--if-not-exists', '--bootstrap', bootstrap])).code, 0);
    const list = await sluice(['topics', 'list', '--json', '--bootstrap', bootstrap]);
    assert.deepEqual(JSON.parse(list.stdout.toString()), ['orders']);
    const described = await sluice(['topics', 'describe', 'orders', '--json', '--bootstrap', bootstrap]);
    const description = JSON.parse(described.stdout.toString());
    assert.equal(description.partitions.length, 3);
    assert.deepEqual(description.partitions[0], { partition: 0, leader: 0, earliestOffset: 0, latestOffset: 0 });
    assert.equal((await sluice(['topics', 'delete', 'orders', '--bootstrap', bootstrap])).code, 0);
    const missing = await sluice(['topics', 'describe', 'orders', '--bootstrap', bootstrap]);
    assert.equal(missing.code, 3, missing.stderr);
  });

  it('produces NDJSON from stdin with keys and consumes it back', async () => {
    await sluice(['topics', 'create', 'events', '-p', '4', '--bootstrap', bootstrap]);
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ key: `k${i % 7}`, ts: i, value: i }));
    const produced = await sluice(
      ['produce', 'events', '--key-field', 'key', '--bootstrap', bootstrap],
      lines.join('\n'),
    );
    assert.equal(produced.code, 0, produced.stderr);
    assert.match(produced.stderr, /produced 500 record\(s\) to events/);
    const consumed = await sluice([
      'consume',
      'events',
      '--from-beginning',
      '--json',
      '-n',
      '500',
      '--bootstrap',
      bootstrap,
    ]);
    assert.equal(consumed.code, 0, consumed.stderr);
    const records = consumed.stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(records.map((r) => r.value).sort(), [...lines].sort());
    // Same key, same partition.
    const partitionOfKey = new Map<string, number>();
    for (const r of records) {
      assert.equal(partitionOfKey.get(r.key) ?? r.partition, r.partition);
      partitionOfKey.set(r.key, r.partition);
    }
  });

  it('stops at an invalid line with exit code 2, naming it, after sending the lines before it', async () => {
    const result = await sluice(
      ['produce', 'bad-input', '--create', '--bootstrap', bootstrap],
      '{"a":1}\n{"a":2}\n{oops\n{"a":4}\n',
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /INVALID_RECORD: line 3: not valid JSON/);
    const consumed = await sluice([
      'consume',
      'bad-input',
      '--from-beginning',
      '--idle-exit-ms',
      '1500',
      '--bootstrap',
      bootstrap,
    ]);
    assert.deepEqual(consumed.stdout.toString().trim().split('\n'), ['{"a":1}', '{"a":2}']);
  });

  it('refuses to produce to a topic that does not exist (exit 3, nothing sent) unless --create', async () => {
    const refused = await sluice(['produce', 'typo', '--bootstrap', bootstrap], '{"a":1}\n');
    assert.equal(refused.code, 3, refused.stderr);
    assert.equal(
      refused.stderr,
      "error UNKNOWN_TOPIC: topic typo does not exist; nothing was sent. Create it with --create [partitions] or 'sluice topics create typo'\n",
    );
    // The broker creates topics on demand: the refusal must not have asked it to.
    const listed = await sluice(['topics', 'list', '--json', '--bootstrap', bootstrap]);
    assert.ok(!JSON.parse(listed.stdout.toString()).includes('typo'), listed.stdout.toString());

    const created = await sluice(['produce', 'typo', '--create', '3', '--bootstrap', bootstrap], '{"a":1}\n{"a":2}\n');
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stderr, /created topic typo with 3 partition\(s\)\nproduced 2 record\(s\) to typo/);
    const described = await sluice(['topics', 'describe', 'typo', '--json', '--bootstrap', bootstrap]);
    assert.equal(JSON.parse(described.stdout.toString()).partitions.length, 3);
    // --create on a topic that exists just produces (its partitions stay as they are).
    const again = await sluice(['produce', 'typo', '--bootstrap', bootstrap, '--create'], '{"a":3}\n');
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, 'produced 1 record(s) to typo\n');
    const consumed = await sluice(['consume', 'typo', '--from-beginning', '-n', '3', '--bootstrap', bootstrap]);
    assert.deepEqual(consumed.stdout.toString().trim().split('\n').sort(), ['{"a":1}', '{"a":2}', '{"a":3}']);
  });

  it("never shows the Kafka client's internal codes: missing topics exit 3, a closed port 4", async () => {
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cli-run-'));
    const cases: [string[], number, RegExp][] = [
      [
        ['topics', 'describe', 'nope', '--bootstrap', bootstrap],
        3,
        /UNKNOWN_TOPIC_OR_PARTITION: topic nope does not exist$/,
      ],
      [
        ['topics', 'delete', 'nope', '--bootstrap', bootstrap],
        3,
        /UNKNOWN_TOPIC_OR_PARTITION: topic nope does not exist$/,
      ],
      [
        ['consume', 'nope', '-n', '1', '--bootstrap', bootstrap],
        3,
        /UNKNOWN_TOPIC_OR_PARTITION: consume nope: topic nope/,
      ],
      [['produce', 'nope', '--bootstrap', bootstrap], 3, /UNKNOWN_TOPIC: topic nope does not exist/],
      [
        ['topics', 'create', 'x', '--bootstrap', '127.0.0.1:1'],
        4,
        /BROKER_UNAVAILABLE: cannot reach a Kafka broker at 127\.0\.0\.1:1;/,
      ],
      [
        ['consume', 'x', '--bootstrap', '127.0.0.1:1'],
        4,
        /BROKER_UNAVAILABLE: cannot reach a Kafka broker at 127\.0\.0\.1:1;/,
      ],
      [
        ['produce', 'x', '--bootstrap', '127.0.0.1:1'],
        4,
        /BROKER_UNAVAILABLE: cannot reach a Kafka broker at 127\.0\.0\.1:1;/,
      ],
      [
        ['run', 'examples/windowed-counts.ts', '--bootstrap', '127.0.0.1:1', '--data-dir', runDir, '--no-http'],
        4,
        /BROKER_UNAVAILABLE: cannot reach a Kafka broker at 127\.0\.0\.1:1;/,
      ],
      [
        [
          'run',
          'examples/windowed-counts.ts',
          '--bootstrap',
          '127.0.0.1:1',
          '--data-dir',
          runDir,
          '--no-http',
          '--parallelism',
          '2',
        ],
        4,
        /BROKER_UNAVAILABLE: cannot reach a Kafka broker at 127\.0\.0\.1:1;/,
      ],
    ];
    try {
      const results = await Promise.all(cases.map(([args]) => sluice(args, '{"a":1}\n')));
      for (const [i, [args, code, message]] of cases.entries()) {
        const result = results[i]!;
        const what = `sluice ${args.join(' ')}: ${result.stderr}`;
        assert.equal(result.code, code, what);
        assert.doesNotMatch(result.stderr, /PLT_KFK/, what);
        assert.match(result.stderr.trim(), message, what);
        assert.equal(result.stderr.trim().split('\n').length, 1, what);
      }
    } finally {
      fs.rmSync(runDir, { recursive: true, force: true });
    }
  });

  it('exits quietly with code 0 when the reader of its output goes away (| head)', async () => {
    await sluice(['topics', 'create', 'lots', '-p', '2', '--bootstrap', bootstrap]);
    // Far more than a pipe holds, so that the command is still writing when head has gone.
    const lines = Array.from({ length: 60_000 }, (_, i) => `{"n":${i}}`);
    assert.equal((await sluice(['produce', 'lots', '--bootstrap', bootstrap], lines.join('\n'))).code, 0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-pipe-'));
    try {
      for (const extra of [[], ['--group', 'piped']]) {
        const err = path.join(dir, 'stderr');
        const code = path.join(dir, 'code');
        const command = [
          process.execPath,
          SLUICE,
          'consume',
          'lots',
          '--from-beginning',
          '--bootstrap',
          bootstrap,
          ...extra,
        ]
          .map((arg) => `'${arg}'`)
          .join(' ');
        const piped = await run('sh', ['-c', `(${command} 2>'${err}'; echo $? >'${code}') | head -1`]);
        assert.match(piped.stdout.toString(), /^\{"n":\d+\}\n$/);
        assert.equal(fs.readFileSync(err, 'utf8'), '', 'no stack trace, no error line');
        assert.equal(fs.readFileSync(code, 'utf8').trim(), '0', `exit code, with ${extra.join(' ') || 'no group'}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 4 with a clear message when no broker answers, and 2 on bad flags', async () => {
    const down = await sluice(['topics', 'list', '--bootstrap', '127.0.0.1:1']);
    assert.equal(down.code, 4);
    assert.match(down.stderr, /BROKER_UNAVAILABLE: cannot reach a Kafka broker at 127\.0\.0\.1:1/);
    const bad = await sluice(['broker', '--kafka-port', 'ninety']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /'ninety' is not a port number/);
  });

  it('refuses a second broker on the same data directory, and stops gracefully on SIGTERM', async () => {
    const second = await sluice(['broker', '--data-dir', dataDir, '--kafka-port', '0']);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /DATA_DIR_LOCKED/);
    const own = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cli-'));
    const daemon = startSluice(['broker', '--data-dir', own, '--kafka-port', '0']);
    await daemon.waitFor(/Kafka protocol on/);
    assert.equal(await daemon.stop('SIGTERM'), 0, `exit by signal, or a non-zero code; output:\n${daemon.output()}`);
    assert.match(daemon.output(), /sluice broker: stopped/);
    assert.equal(fs.existsSync(path.join(own, 'LOCK')), false, 'the lock is released');
    fs.rmSync(own, { recursive: true, force: true });
  });
});
