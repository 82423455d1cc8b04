// The running deployment's control API, mounted by `sluice up` at /v1/deployment of its HTTP server: status,
// replays (start, progress, drop an old version) and job runs (now, or a backfill over a past range). The CLI's
// `status`, `replay` and `backfill` commands are its clients. Errors are SluiceErrors, mapped to statuses by code.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { SluiceError } from '../errors.ts';
import type { DeploymentRunner } from './deployment.ts';
import type { JobRunRecord } from './jobs.ts';
import type { ReplayFrom } from './replay.ts';

const replayBody = z.strictObject({
  pipeline: z.string().min(1).max(200),
  from: z.union([
    z.literal('earliest'),
    z.strictObject({ offset: z.number().int().nonnegative() }),
    z.strictObject({ timestamp: z.number().int() }),
  ]),
});

const runBody = z.strictObject({
  from: z.number().int().optional(),
  to: z.number().int().optional(),
});

interface JobRun {
  id: string;
  job: string;
  state: 'running' | 'succeeded' | 'failed';
  records: JobRunRecord[];
  error?: string;
}

/** `deployment` is looked up per request: the HTTP server may start before the deployment does. */
export function controlApi(deployment: () => DeploymentRunner | undefined): Hono {
  const app = new Hono();
  let runner!: DeploymentRunner;
  app.use('*', async (_c, next) => {
    const current = deployment();
    if (!current) throw new SluiceError('DEPLOYMENT_STARTING', 'the deployment is still starting; try again');
    runner = current;
    await next();
  });
  const runs = new Map<string, JobRun>();
  let nextRun = 0;
  const parse = <T>(schema: z.ZodType<T>, body: unknown, what: string): T => {
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new SluiceError('INVALID_REQUEST', `${what}: ${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    return parsed.data;
  };
  const json = async (c: { req: { json(): Promise<unknown> } }) =>
    c.req.json().catch(() => {
      throw new SluiceError('INVALID_REQUEST', 'the body must be JSON');
    });
  const limit = bodyLimit({
    maxSize: 64 * 1024,
    onError: () => {
      throw new SluiceError('PAYLOAD_TOO_LARGE', 'the body is larger than 65536 bytes');
    },
  });

  app.get('/', (c) => c.json(runner.status()));

  app.post('/replays', limit, async (c) => {
    const body = parse(replayBody, await json(c), 'replay');
    const replay = runner.replay(body.pipeline, body.from as ReplayFrom);
    return c.json(replay.status(), 202);
  });

  app.get('/replays/:id', (c) => {
    const replay = runner.replayById(c.req.param('id'));
    if (!replay) throw new SluiceError('UNKNOWN_REPLAY', `no replay ${c.req.param('id')}`);
    return c.json(replay.status());
  });

  app.delete('/pipelines/:name/versions/:version', async (c) => {
    const version = Number(c.req.param('version'));
    if (!Number.isInteger(version) || version < 1) {
      throw new SluiceError('INVALID_REQUEST', `'${c.req.param('version')}' is not a version number`);
    }
    await runner.dropVersion(c.req.param('name'), version);
    return c.json({ dropped: { pipeline: c.req.param('name'), version } });
  });

  app.post('/jobs/:name/runs', limit, async (c) => {
    const name = c.req.param('name');
    const body = parse(runBody, await json(c), 'job run');
    if ((body.from === undefined) !== (body.to === undefined)) {
      throw new SluiceError('INVALID_REQUEST', 'a backfill needs both "from" and "to" (epoch ms)');
    }
    const range = body.from === undefined ? undefined : { from: body.from, to: body.to! };
    const id = `${name}-run-${++nextRun}`;
    const run: JobRun = { id, job: name, state: 'running', records: [] };
    const work = runner.runJobNow(name, range); // refusals throw here and answer this request
    runs.set(id, run);
    work.then(
      (records) => {
        run.records = records;
        run.state = records.every((r) => r.status === 'succeeded') ? 'succeeded' : 'failed';
      },
      (error: Error) => {
        run.state = 'failed';
        run.error = error.message;
      },
    );
    return c.json(run, 202);
  });

  app.get('/jobs/:name/runs/:id', (c) => {
    const run = runs.get(c.req.param('id'));
    if (!run || run.job !== c.req.param('name')) throw new SluiceError('UNKNOWN_RUN', `no run ${c.req.param('id')}`);
    return c.json(run);
  });

  app.get('/jobs/:name/history', (c) => {
    const name = c.req.param('name');
    if (!runner.spec.jobs[name]) throw new SluiceError('UNKNOWN_JOB', `no job "${name}" in this deployment`);
    return c.json({ runs: runner.scheduler.history(name, 50) });
  });

  return app;
}
