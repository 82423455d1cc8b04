import assert from 'node:assert/strict';
import { it } from 'node:test';
import { pipelineDetail } from './deployment-status.ts';

it('says what each pipeline state means, with what the status knows of it', () => {
  assert.equal(
    pipelineDetail('waiting', { dependsOn: ['counts', 'joins'] }),
    'waiting for counts, joins to be healthy (first checkpoint taken)',
  );
  assert.equal(pipelineDetail('waiting', { dependsOn: [] }), 'waiting to start');
  assert.equal(pipelineDetail('running', { dependsOn: [] }), 'processing');
  assert.equal(
    pipelineDetail('restarting', { dependsOn: [], lastError: 'worker exited', restartInMs: 1500, failures: 2 }),
    'failed (2 in the restart window); restarting after a 2 s backoff from its latest checkpoint: worker exited',
  );
  assert.equal(
    pipelineDetail('failed', { dependsOn: [], lastError: 'no such topic' }),
    'given up on (not restarted): no such topic',
  );
  assert.equal(
    pipelineDetail('blocked: pipeline counts failed', { dependsOn: ['counts'] }),
    'not started: pipeline counts failed',
  );
  assert.match(pipelineDetail('starting', { dependsOn: [] }), /restoring the latest checkpoint/);
});
