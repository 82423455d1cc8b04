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
      const age = Math.round((Date.now() - status.startedAt) / 1000);
      const state = alive
        ? paint(healthy ? 'green' : 'yellow', healthy ? 'healthy' : 'degraded')
        : paint('red', 'not running');
      console.log(
        `${paint('bold', `deployment ${status.name}`)}: ${state} (pid ${status.pid}, up ${age} s)${status.url ? `, ${status.url}` : ''}`,
      );
      console.log(
        `\n${renderTable(
          ['pipeline', 'version', 'state', 'restarts', 'records in', 'out', 'late', 'checkpoints', 'watermark lag'],
          status.pipelines.map((p) => [
            p.name,
            `v${p.version}`,
            p.state,
            p.restarts,
            p.recordsIn,
            p.recordsOut,
            p.lateRecords,
            p.checkpoints,
            p.watermarkLagMs === null ? '-' : `${(p.watermarkLagMs / 1000).toFixed(1)} s`,
          ]),
        )}`,
      );
      for (const p of status.pipelines) if (p.lastError) console.log(paint('red', `  ${p.name}: ${p.lastError}`));
      if (status.tables.length > 0) {
        console.log(
          `\n${renderTable(
            ['table', 'version', 'from topic', 'lag', 'state'],
            status.tables.map((t) => [t.name, t.version, t.topic, t.lag, t.state]),
          )}`,
        );
      }
      if (status.jobs.length > 0) {
        console.log(
          `\n${renderTable(
            ['job', 'schedule', 'next run', 'last run', 'result'],
            status.jobs.map((j) => [
              j.name,
              j.schedule,
              j.nextRun ? new Date(j.nextRun).toISOString() : '-',
              j.lastRun ? new Date(j.lastRun.startedAt).toISOString() : '-',
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
