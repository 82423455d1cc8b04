// `sluice status`: what a deployment (`sluice up`) on this data directory runs and how healthy it is, from the
// status file it rewrites every second. Exit code 0 when it runs and every pipeline is healthy, 1 when something
// is not, 4 when the deployment is not running.
import type { Command } from 'commander';
import { DEFAULTS, EXIT, paint } from '../common.ts';
import { readDeploymentStatus } from '../deployment-client.ts';
import { renderTable } from './query.ts';

interface StatusFlags {
  dataDir: string;
  json?: boolean;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show what the deployment on this data directory runs, and its health')
    .option('--data-dir <dir>', 'the data directory of the deployment', DEFAULTS.dataDir)
    .option('--json', 'print the whole status as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice status
  $ sluice status --json | jq '.pipelines[] | {name, state, restarts}'
Pipeline states: waiting (for the pipelines it reads), starting, running, restarting (after a failure, with
backoff), recovering (restoring its checkpoint after one), stopping, stopped, finished (bounded input read),
failed (given up on), blocked (a pipeline it reads failed). Table states: waiting (for its topic's writer),
starting, catching-up (records of its topic not loaded yet), live (all loaded), restarting, failed, stopped.
Anything not running or live is explained on a line of its own.
Exit codes: 0 running and healthy, 1 degraded (a pipeline restarting, failed or waiting), 4 not running.`,
    )
    .action((flags: StatusFlags) => {
      const { status, alive } = readDeploymentStatus(flags.dataDir);
      const healthy = alive && status.pipelines.every((p) => p.state === 'running');
      process.exitCode = !alive ? EXIT.UNAVAILABLE : healthy ? EXIT.OK : EXIT.FAILURE;
      if (flags.json) {
        console.log(JSON.stringify({ ...status, alive }, null, 2));
        return;
      }
      const upFor = age(Date.now() - status.startedAt);
      const state = alive
        ? paint(healthy ? 'green' : 'yellow', healthy ? 'healthy' : 'degraded')
        : paint('red', 'not running');
      console.log(
        `${paint('bold', `deployment ${status.name}`)}: ${state} (pid ${status.pid}, up ${upFor})${status.url ? `, ${status.url}` : ''}`,
      );
      const now = Date.now();
      console.log(
        `\n${renderTable(
          ['pipeline', 'version', 'state', 'restarts', 'records in', 'out', 'late', 'checkpoints', 'last', 'watermark'],
          status.pipelines.map((p) => [
            p.name,
            `v${p.version}`,
            p.state.startsWith('blocked') ? 'blocked' : p.state,
            p.restarts,
            p.recordsIn,
            p.recordsOut,
            p.lateRecords,
            p.checkpointFailures ? `${p.checkpoints} (${p.checkpointFailures} failed)` : p.checkpoints,
            p.lastCheckpointAt ? `${age(now - p.lastCheckpointAt)} ago` : '-',
            watermarkLag(p.watermarkLagMs),
          ]),
        )}`,
      );
      // Every pipeline that is not simply processing says why, in a sentence.
      for (const p of status.pipelines) {
        if (p.state !== 'running') console.log(paint('yellow', `  ${p.name}: ${p.detail ?? p.lastError ?? p.state}`));
      }
      if (status.tables.length > 0) {
        console.log(
          `\n${renderTable(
            ['table', 'version', 'from topic', 'state', 'lag', 'rows', 'loaded'],
            status.tables.map((t) => [
              t.name,
              `${t.version}${t.serving ? '' : ' (not served)'}`,
              t.topic,
              t.state,
              t.lag,
              t.rows ?? '-',
              t.loadedAt ? `${age(now - t.loadedAt)} ago` : '-',
            ]),
          )}`,
        );
        for (const t of status.tables) {
          if (t.state !== 'live') console.log(paint('yellow', `  ${t.version}: ${t.detail ?? t.state}`));
        }
      }
      if (status.jobs.length > 0) {
        console.log(
          `\n${renderTable(
            ['job', 'schedule', 'next run', 'last run', 'result'],
            status.jobs.map((j) => [
              j.name,
              j.schedule,
              j.running ? 'running now' : j.nextRun ? `${clock(j.nextRun)} (in ${age(j.nextRun - now)})` : '-',
              j.lastRun ? clock(j.lastRun.startedAt) : '-',
              j.lastRun ? `${j.lastRun.status}${j.lastRun.error ? `: ${j.lastRun.error}` : ''}` : '-',
            ]),
          )}`,
        );
      }
      for (const r of status.replays) {
        console.log(`\nreplay ${r.id}: ${r.state}, ${r.processed}/${r.total} records${r.error ? `: ${r.error}` : ''}`);
      }
    });
}

/** A duration as the status shows it: `850 ms`, `12 s`, `4 min`, `3 h`. */
function age(ms: number): string {
  const abs = Math.max(0, ms);
  if (abs < 1000) return `${Math.round(abs)} ms`;
  if (abs < 120_000) return `${Math.round(abs / 1000)} s`;
  if (abs < 7_200_000) return `${Math.round(abs / 60_000)} min`;
  return `${Math.round(abs / 3_600_000)} h`;
}

/** A time of day in UTC, 24-hour, with the date when it is not today. */
function clock(at: number): string {
  const iso = new Date(at).toISOString();
  const today = new Date().toISOString().slice(0, 10);
  return iso.startsWith(today) ? `${iso.slice(11, 19)}Z` : `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
}

/** Signed: a watermark ahead of the wall clock (event time from the future, e.g. demo time) is not "0 s behind". */
function watermarkLag(ms: number | null): string {
  if (ms === null) return '-';
  return ms >= 0 ? `${age(ms)} behind` : `${age(-ms)} ahead`;
}
