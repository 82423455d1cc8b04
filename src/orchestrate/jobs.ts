// Scheduled jobs: cron schedules (croner), a timeout per attempt, retries with exponential backoff, no overlapping
// runs of one job, and a run history (one JSON line per run) in the data directory. A backfill runs a job over a
// past date range, one scheduled range at a time, oldest first.
import fs from 'node:fs';
import path from 'node:path';
import { Cron } from 'croner';
import { toMillis } from '../engine/index.ts';
import { SluiceError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { sleep } from '../runtime/index.ts';
import type { Deployment, JobSpec } from './spec.ts';

export interface TimeRange {
  from: number;
  to: number;
}

export interface JobRunRecord {
  job: string;
  id: string;
  trigger: 'schedule' | 'manual' | 'backfill';
  range: TimeRange;
  startedAt: number;
  endedAt: number;
  status: 'succeeded' | 'failed';
  attempts: number;
  error?: string;
  /** What the job returned (a batch run's reconciliation report). */
  result?: unknown;
}

type BatchSpec = NonNullable<JobSpec['batch']>;

/** A job as the deployment's status shows it. */
export interface JobStatus {
  name: string;
  schedule: string;
  nextRun: number | null;
  running: boolean;
  lastRun?: JobRunRecord;
  /** The latest runs, newest first. */
  history: JobRunRecord[];
}

export interface SchedulerOptions {
  jobs: Deployment['jobs'];
  historyDir: string;
  logger: Logger;
  /** Runs a Lambda batch job over a range. */
  batch: (job: string, batch: BatchSpec, range: TimeRange, signal: AbortSignal) => Promise<unknown>;
  /**
   * Whether a backfill of the job over `range` goes newest range first: a hybrid table's batch part must stay one
   * unbroken range, so a backfill into the past grows it backwards.
   */
  backwards?: (job: string, range: TimeRange) => Promise<boolean>;
}

let runs = 0;

/** How many of each job's latest runs the scheduler keeps in memory for the status. */
const RECENT_RUNS = 10;

export class Scheduler {
  private readonly crons = new Map<string, Cron>();
  private readonly running = new Map<string, Promise<unknown>>();
  /** Each job's latest runs, newest first (the status shows them every second: no file read each time). */
  private readonly recent = new Map<string, JobRunRecord[]>();
  private readonly stopping = new AbortController();
  private readonly options: SchedulerOptions;

  constructor(options: SchedulerOptions) {
    this.options = options;
    fs.mkdirSync(options.historyDir, { recursive: true });
    for (const job of Object.keys(options.jobs)) this.recent.set(job, this.history(job, RECENT_RUNS));
  }

  start(): void {
    for (const [name, job] of Object.entries(this.options.jobs)) {
      const cron = new Cron(job.schedule, { ...(job.timezone ? { timezone: job.timezone } : {}) }, () => {
        if (this.running.has(name)) {
          this.options.logger.warn({ job: name }, 'the previous run is still going: this one is skipped');
          return;
        }
        this.track(name, this.runRange(name, this.scheduledRange(name, job, Date.now()), 'schedule')).catch(() => {});
      });
      this.crons.set(name, cron);
    }
  }

  /** The range a run at `at` covers: batch jobs their `range` ending `lag` before, aligned; others since the last run. */
  scheduledRange(name: string, job: JobSpec, at: number): TimeRange {
    if (job.batch) {
      const span = toMillis(job.batch.range);
      const align = job.batch.align === undefined ? span : toMillis(job.batch.align);
      const end = at - toMillis(job.batch.lag);
      const to = align > 0 ? end - (end % align) : end;
      return { from: to - span, to };
    }
    return { from: this.recent.get(name)?.[0]?.range.to ?? at, to: at };
  }

  /**
   * Runs a job now: over its scheduled range, or, given a range (a backfill), over every scheduled range within it
   * in order. Resolves with the records of the runs; refusals (an unknown job, one already running, an empty
   * range) throw at once.
   */
  runNow(name: string, range?: TimeRange): Promise<JobRunRecord[]> {
    const job = this.options.jobs[name];
    if (!job) throw new SluiceError('UNKNOWN_JOB', `no job "${name}" in this deployment`);
    if (this.running.has(name)) throw new SluiceError('JOB_RUNNING', `job ${name} is running; try again when it ends`);
    if (range && !(range.from < range.to)) {
      throw new SluiceError('INVALID_RANGE', `the backfill range [${range.from}, ${range.to}) is empty`);
    }
    const work = (async () => {
      if (!range) return [await this.runRange(name, this.scheduledRange(name, job, Date.now()), 'manual')];
      const records: JobRunRecord[] = [];
      const span = job.batch ? toMillis(job.batch.range) : range.to - range.from;
      const ranges: TimeRange[] = [];
      for (let from = range.from; from < range.to; from += span)
        ranges.push({ from, to: Math.min(range.to, from + span) });
      if (await this.options.backwards?.(name, range)) ranges.reverse();
      for (const part of ranges) {
        if (this.stopping.signal.aborted) break;
        const record = await this.runRange(name, part, 'backfill');
        records.push(record);
        if (record.status === 'failed') break; // the other ranges wait until this one is fixed
      }
      return records;
    })();
    return this.track(name, work);
  }

  private track<T>(name: string, work: Promise<T>): Promise<T> {
    this.running.set(name, work);
    return work.finally(() => this.running.delete(name));
  }

  /** One run: attempts with a timeout each and backoff between them, then a history record. */
  private async runRange(name: string, range: TimeRange, trigger: JobRunRecord['trigger']): Promise<JobRunRecord> {
    const job = this.options.jobs[name]!;
    const id = `${name}-${Date.now().toString(36)}-${++runs}`;
    const startedAt = Date.now();
    const timeoutMs = toMillis(job.timeout);
    let error: unknown;
    let attempt = 0;
    for (; attempt <= job.retries; attempt++) {
      if (attempt > 0) {
        const delay = toMillis(job.retryDelay) * 2 ** (attempt - 1);
        this.options.logger.warn({ job: name, attempt, err: error, retryInMs: delay }, 'job failed; retrying');
        await sleep(delay, this.stopping.signal);
      }
      if (this.stopping.signal.aborted) {
        error ??= new SluiceError('JOB_CANCELLED', `job ${name} was cancelled by shutdown`);
        break;
      }
      const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), this.stopping.signal]);
      try {
        const result = await withAbort(this.attempt(name, job, range, signal, attempt + 1), signal, () =>
          this.stopping.signal.aborted
            ? new SluiceError('JOB_CANCELLED', `job ${name} was cancelled by shutdown`)
            : new SluiceError('JOB_TIMEOUT', `job ${name} took longer than ${job.timeout}`),
        );
        return this.record({
          job: name,
          id,
          trigger,
          range,
          startedAt,
          endedAt: Date.now(),
          status: 'succeeded',
          attempts: attempt + 1,
          ...(result === undefined ? {} : { result }),
        });
      } catch (caught) {
        error = caught;
      }
    }
    const message = (error as Error)?.message ?? String(error);
    this.options.logger.error({ job: name, err: error }, 'job failed');
    return this.record({
      job: name,
      id,
      trigger,
      range,
      startedAt,
      endedAt: Date.now(),
      status: 'failed',
      attempts: Math.min(attempt, job.retries + 1),
      error: message,
    });
  }

  private attempt(name: string, job: JobSpec, range: TimeRange, signal: AbortSignal, attempt: number) {
    if (job.batch) return this.options.batch(name, job.batch, range, signal);
    return Promise.resolve(job.run!({ range, signal, attempt }));
  }

  private record(record: JobRunRecord): JobRunRecord {
    this.recent.set(record.job, [record, ...(this.recent.get(record.job) ?? [])].slice(0, RECENT_RUNS));
    fs.appendFileSync(path.join(this.options.historyDir, `${record.job}.jsonl`), `${JSON.stringify(record)}\n`);
    return record;
  }

  /** The newest `limit` runs of a job, newest first. */
  history(job: string, limit = 20): JobRunRecord[] {
    const file = path.join(this.options.historyDir, `${job}.jsonl`);
    if (!fs.existsSync(file)) return [];
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const out: JobRunRecord[] = [];
    for (let i = lines.length - 1; i >= 0 && out.length < limit; i--) {
      try {
        out.push(JSON.parse(lines[i]!) as JobRunRecord);
      } catch {
        // a line torn by a crash mid-append: skip it
      }
    }
    return out;
  }

  /** Each job: its schedule, next run, whether it runs now, and its latest runs (newest first). */
  status(): JobStatus[] {
    return Object.entries(this.options.jobs).map(([name, job]) => {
      const history = this.recent.get(name) ?? [];
      return {
        name,
        schedule: job.schedule,
        nextRun: this.crons.get(name)?.nextRun()?.getTime() ?? null,
        running: this.running.has(name),
        ...(history[0] ? { lastRun: history[0] } : {}),
        history,
      };
    });
  }

  async stop(): Promise<void> {
    for (const cron of this.crons.values()) cron.stop();
    this.stopping.abort();
    await Promise.allSettled([...this.running.values()]);
  }
}

/** `work`, or the error `reason()` as soon as `signal` aborts (the work is told through the same signal). */
function withAbort<T>(work: Promise<T>, signal: AbortSignal, reason: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(reason());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
