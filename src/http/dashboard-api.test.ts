// The JSON endpoints the dashboard reads, in process (app.request): topics with offsets, bytes and lag per
// partition, the samplers behind their history (produce rates, lag, operator throughput), pipeline detail, checkpoints.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Hono } from 'hono';
import { openDashboardFixture } from '../../test/helpers/dashboard.ts';
import type { Pipeline } from '../engine/index.ts';
import type { Log } from '../log/index.ts';
import type { ServingStore } from '../serve/index.ts';
import type { CheckpointsJson, PipelineDetailJson, TopicsJson } from './api.ts';
import { createApp } from './index.ts';
import { ThroughputSampler } from './throughput.ts';
import { TopicSampler } from './topics.ts';

describe('dashboard API', () => {
  let log: Log;
  let store: ServingStore;
  let pipeline: Pipeline;

  before(async () => {
    ({ log, store, pipeline } = await openDashboardFixture());
  });

  const app = (options: { liveIntervalMs?: number; maxStreams?: number } = {}) =>
    createApp({ log, store, pipelines: () => [pipeline], liveIntervalMs: 50, ...options });

  it('GET /v1: the mounted prefixes, so that the dashboard shows the Deployment page only under sluice up', async () => {
    assert.deepEqual(await (await app().request('/v1')).json(), { mounts: [], streamingQueries: false });
    const withDeployment = createApp({ log, store, mount: { '/v1/deployment': new Hono() } });
    assert.deepEqual(await (await withDeployment.request('/v1')).json(), {
      mounts: ['/v1/deployment'],
      streamingQueries: false,
    });
  });

  it('GET /v1/topics: partitions, offsets, bytes and the lag of groups and pipelines per partition', async () => {
    await log.append('clicks', 1, [{ key: null, value: Buffer.from('{"n":5}') }]);
    const body = (await (await app().request('/v1/topics?history=1')).json()) as TopicsJson;
    const clicks = body.topics.find((t) => t.name === 'clicks')!;
    assert.deepEqual(
      clicks.partitions.map((p) => [p.partition, p.startOffset, p.endOffset]),
      [
        [0, 0, 3],
        [1, 0, 2],
      ],
    );
    assert.equal(clicks.records, 5);
    assert.ok(clicks.bytes > 0 && clicks.partitions.every((p) => p.bytes > 0));
    const group = body.consumers.find((c) => c.id === 'group:reporting:clicks')!;
    assert.deepEqual(
      group.partitions.map((p) => [p.offset, p.lag]),
      [
        [1, 2],
        [null, null],
      ],
    );
    assert.equal(group.lag, 2);
    const reader = body.consumers.find((c) => c.kind === 'pipeline')!;
    assert.equal(reader.id, 'pipeline:counter:source:log:clicks');
    assert.deepEqual(
      reader.partitions.map((p) => p.lag),
      [0, 1],
      'the pipeline read everything but the record appended after it stopped',
    );
    assert.ok(Array.isArray(body.history));
  });

  it('samples produce rates and keeps lag per partition over time', async () => {
    let now = 1_000_000;
    const sampler = new TopicSampler({ log, pipelines: () => [pipeline], clock: () => now, keep: 2 });
    const first = sampler.sample();
    assert.equal(first.topics.find((t) => t.name === 'clicks')!.recordsPerSec, null, 'no rate from one sample');
    await log.append('clicks', 0, [
      { key: null, value: Buffer.from('{"n":6}') },
      { key: null, value: Buffer.from('{"n":7}') },
    ]);
    now += 2000;
    const second = sampler.sample();
    const clicks = second.topics.find((t) => t.name === 'clicks')!;
    assert.deepEqual(
      clicks.partitions.map((p) => p.recordsPerSec),
      [1, 0],
    );
    assert.equal(clicks.recordsPerSec, 1);
    assert.ok(clicks.partitions[0]!.bytesPerSec! > 0);
    now += 1000;
    sampler.sample();
    now += 1000;
    sampler.sample();
    const points = sampler.points();
    assert.equal(points.length, 2, 'keeps the last two');
    assert.equal(points[1]!.at, now);
    assert.deepEqual(points[1]!.lag['group:reporting:clicks'], [4, null]);
    assert.equal(points[1]!.produce.clicks, 0);
  });

  it("samples every operator's records per second, keeping the last minutes", () => {
    const sampler = new ThroughputSampler({ pipelines: () => [pipeline], keep: 2 });
    sampler.sample(1);
    sampler.sample(2);
    const last = sampler.sample(3);
    assert.deepEqual(Object.keys(last.rates.counter!), ['source:log:clicks', 'map', 'sink:collect']);
    assert.ok(Object.values(last.rates.counter!).every((rate) => rate >= 0));
    assert.deepEqual(
      sampler.points().map((p) => p.at),
      [2, 3],
    );
  });

  it('GET /v1/pipelines/{name}: metrics, topology and history; 404 for an unknown one', async () => {
    const response = await app().request('/v1/pipelines/counter');
    assert.equal(response.status, 200);
    const detail = (await response.json()) as PipelineDetailJson;
    assert.equal(detail.metrics.name, 'counter');
    assert.deepEqual(
      detail.topology.nodes.map((n) => [n.id, n.kind]),
      [
        ['source:log:clicks', 'source'],
        ['map', 'operator'],
        ['sink:collect', 'sink'],
      ],
    );
    assert.deepEqual(
      detail.topology.edges.map((e) => [e.from, e.to]),
      [
        ['source:log:clicks', 'map'],
        ['map', 'sink:collect'],
      ],
    );
    assert.equal(detail.history.checkpoints[0]!.status, 'completed');
    assert.equal(detail.history.totals.completed, detail.metrics.checkpoints.completed);
    // Per source partition: where it reads, its watermark (none without withTimestamps), and idleness (never in a
    // bounded run).
    assert.deepEqual(detail.metrics.sources, [
      {
        operator: 'source:log:clicks',
        topic: 'clicks',
        partitions: [
          { partition: 0, offset: 3, watermark: null, idle: false, idleSince: null },
          { partition: 1, offset: 1, watermark: null, idle: false, idleSince: null },
        ],
      },
    ]);
    const missing = await app().request('/v1/pipelines/nope');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'UNKNOWN_PIPELINE');
  });

  it('GET /v1/checkpoints: every pipeline with its checkpoint history and restarts', async () => {
    const body = (await (await app().request('/v1/checkpoints')).json()) as CheckpointsJson;
    assert.equal(body.pipelines.length, 1);
    const [counter] = body.pipelines;
    assert.equal(counter!.name, 'counter');
    assert.ok(counter!.checkpoints.length >= 1);
    assert.ok(counter!.checkpoints.every((c) => c.bytes! > 0 && c.durationMs >= 0));
    assert.deepEqual(counter!.restarts, []);
  });
});
