import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDeployment } from './spec.ts';

const pipeline = (extra: object = {}) => ({ file: './p.ts', inputs: ['events'], outputs: ['out'], ...extra });

function refused(spec: unknown, message: RegExp): void {
  assert.throws(
    () => parseDeployment(spec, '/specs'),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, 'INVALID_SPEC');
      assert.match(error.message, message);
      return true;
    },
  );
}

describe('deployment specs', () => {
  it('fills defaults, resolves files and orders pipelines after those they read from', () => {
    const spec = parseDeployment(
      {
        name: 'shop',
        topics: { events: { partitions: 3 } },
        pipelines: {
          b: { file: './b.ts', inputs: ['out'], outputs: ['b-out'] },
          a: pipeline(),
          c: { file: '/abs/c.ts', dependsOn: ['b'] },
        },
      },
      '/specs',
    );
    assert.deepEqual(spec.order, ['a', 'b', 'c']);
    assert.deepEqual(spec.dependencies, { a: [], b: ['a'], c: ['b'] });
    assert.equal(spec.pipelines.a!.file, '/specs/p.ts');
    assert.equal(spec.pipelines.c!.file, '/abs/c.ts');
    assert.equal(spec.pipelines.a!.checkpointInterval, '10s');
  });

  it('names the field and the reason of every mistake', () => {
    refused({ name: 'x', topics: { events: { partitions: 0 } } }, /topics\.events\.partitions: .*>=1/);
    refused({ name: 'x', pipelines: { a: { inputs: [] } } }, /pipelines\.a\.file: /);
    refused(
      { name: 'x', pipelines: { a: { file: 'a.ts', checkpointInterval: 'soon' } } },
      /pipelines\.a\.checkpointInterval: 'soon' is not a duration/,
    );
    refused({ name: 'x', pipelines: { a: { file: 'a.ts', retries: 3 } } }, /pipelines\.a: Unrecognized key: "retries"/);
    refused({ name: 'x', pipelines: { a: pipeline() } }, /pipelines\.a\.inputs: topic "events" is neither declared/);
    refused(
      { name: 'x', topics: { events: { partitions: 1 } }, pipelines: { a: pipeline(), b: pipeline() } },
      /pipelines\.b\.outputs: topic "out" is already written by pipeline "a"/,
    );
    refused(
      {
        name: 'x',
        pipelines: { a: { file: 'a', inputs: ['y'], outputs: ['x'] }, b: { file: 'b', inputs: ['x'], outputs: ['y'] } },
      },
      /a dependency cycle among a, b/,
    );
    refused(
      { name: 'x', pipelines: { a: { file: 'a', dependsOn: ['zz'] } } },
      /pipelines\.a\.dependsOn: no pipeline "zz"/,
    );
    refused({ name: 'x', tables: { t: { from: 'nowhere' } } }, /tables\.t\.from: topic "nowhere"/);
    refused(
      { name: 'x', jobs: { j: { schedule: 'every day', run: () => {} } } },
      /jobs\.j\.schedule: not a cron expression/,
    );
    refused({ name: 'x', jobs: { j: { schedule: '* * * * *' } } }, /jobs\.j: give exactly one of "batch" or "run"/);
    refused(
      {
        name: 'x',
        topics: { events: { partitions: 1 } },
        pipelines: { a: pipeline() },
        tables: { t: { from: 'out' } },
        jobs: { j: { schedule: '* * * * *', batch: { pipeline: 'a', table: 't' } } },
      },
      /jobs\.j\.batch\.table: table "t" needs "time"/,
    );
  });
});
