// `sluice run --trigger`: a pipeline file read in micro-batches (src/engine/trigger.ts) gives the same window totals
// as a bounded run of the same events, each once; the flag is refused where it cannot work, with the reason.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { openLog } from '../src/log/index.ts';
import { sluice } from '../support/processes.ts';
import {
  batch,
  beforeClosing,
  closing,
  PARTITIONS,
  PIPELINE,
  reference,
  totals,
} from './fixtures/windowed-counts-scale.ts';
import { progresses } from './helpers/broker.ts';
import { appendKeyed, EVENT_MS, kafkaClient, scaleTestResources } from './helpers/scale.ts';

const resources = scaleTestResources('sluice-trigger-');

it('sluice run --trigger 300ms: micro-batches give the bounded run’s window totals, each once', async () => {
  const events = [...batch(0, 1_000, 300), ...batch(1, 1_000, 300), ...closing()];
  const expected = await reference(events, resources.tempDir());
  const dataDir = resources.tempDir();
  const seed = await openLog({ dataDir });
  await seed.createTopic('events', { partitions: PARTITIONS });
  await seed.createTopic('window-totals', { partitions: 4 });
  await appendKeyed(seed, 'events', PARTITIONS, events, (e) => e.key);
  await seed.close();
  const host = resources.start([
    'run',
    PIPELINE,
    '--trigger',
    '300ms',
    '--data-dir',
    dataDir,
    '--kafka-port',
    '0',
    '--no-http',
  ]);
  const kafka = kafkaClient((await host.waitFor(/Kafka protocol on (\S+?)[;,\s]/, EVENT_MS))[1]!);
  assert.match(host.output(), /micro-batches every 300 ms/);
  const read = async () => (await totals(kafka)).filter(beforeClosing);
  await progresses(async () => (await read()).length, expected.length, 'every window');
  await new Promise((resolve) => setTimeout(resolve, 700)); // two more ticks: anything extra would be a duplicate
  assert.deepEqual(await read(), expected);
  assert.equal(await host.stop('SIGTERM'), 0, host.output());
});

it('--trigger is refused with --parallelism, --bootstrap and --bounded, and without a duration', async () => {
  for (const extra of [['--parallelism', '2'], ['--bootstrap', '127.0.0.1:1'], ['--bounded']]) {
    const result = await sluice(['run', PIPELINE, '--trigger', '1s', '--no-kafka', '--no-http', ...extra]);
    assert.notEqual(result.code, 0, result.stderr);
    assert.match(result.stderr, /--trigger runs a streaming pipeline in one process on the embedded log/);
  }
  const bad = await sluice(['run', PIPELINE, '--trigger', 'soon', '--no-kafka', '--no-http']);
  assert.notEqual(bad.code, 0, bad.stderr);
  assert.match(bad.stderr, /trigger/i);
});
