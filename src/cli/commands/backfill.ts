// `sluice backfill <job> --from <time> --to <time>`: runs a scheduled job of the running deployment over a past
// range, one scheduled range at a time (a batch job recomputes each into its hybrid table), with a progress bar,
// and prints each run's result (a batch run's reconciliation). `--now` runs the job once over its current range.
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { SluiceError } from '../../errors.ts';
import type { JobRunRecord } from '../../orchestrate/index.ts';
import { DEFAULTS, paint } from '../common.ts';
import { controlClient, parsePoint } from '../deployment-client.ts';

interface BackfillFlags {
  dataDir: string;
  url?: string;
  authToken?: string;
  from?: string;
  to?: string;
  now?: boolean;
  json?: boolean;
}

interface JobRun {
  id: string;
  state: 'running' | 'succeeded' | 'failed';
  records: JobRunRecord[];
  error?: string;
}

function time(value: string, flag: string): number {
  const point = parsePoint(value, flag);
  if (typeof point !== 'object' || !('timestamp' in point)) {
    throw new SluiceError('INVALID_ARGUMENT', `${flag} '${value}' must be an ISO date-time or epoch ms`);
  }
  return point.timestamp;
}

export function registerBackfill(program: Command): void {
  program
    .command('backfill <job>')
    .description("run a deployment's scheduled job over a past range (or once, now)")
    .option('--from <time>', 'start of the range: ISO date-time or epoch ms')
    .option('--to <time>', 'end of the range (exclusive)')
    .option('--now', 'run the job once over its current scheduled range')
    .option('--json', 'print the run records as JSON')
    .option('--data-dir <dir>', 'the data directory of the running deployment', DEFAULTS.dataDir)
    .option('--url <url>', 'the deployment HTTP API (default: from its status file)')
    .option('--auth-token <token>', 'bearer token (env SLUICE_AUTH_TOKEN)')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice backfill window-batch --from 2026-11-24T00:00:00Z --to 2026-11-25T00:00:00Z
  $ sluice backfill window-batch --now --json | jq '.[0].result.reconciliation'
Exit code 1 when a run failed (later ranges are not run then).`,
    )
    .action(async (job: string, flags: BackfillFlags) => {
      if (!flags.now && (flags.from === undefined || flags.to === undefined)) {
        throw new SluiceError('INVALID_ARGUMENT', 'give --from and --to (or --now)');
      }
      const range = flags.now ? {} : { from: time(flags.from!, '--from'), to: time(flags.to!, '--to') };
      const client = controlClient(flags);
      const started = await client.call<JobRun>('POST', `/jobs/${encodeURIComponent(job)}/runs`, range);
      const route = `/jobs/${encodeURIComponent(job)}/runs/${encodeURIComponent(started.id)}`;
      const tty = process.stderr.isTTY === true;
      const bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: ' {bar} {value}/{total} ranges | {duration_formatted}' },
        cliProgress.Presets.shades_classic,
      );
      let run = started;
      if (tty && 'from' in range) bar.start(1, 0);
      while (run.state === 'running') {
        await new Promise((resolve) => setTimeout(resolve, 250));
        run = await client.call<JobRun>('GET', route);
        if (tty && 'from' in range) bar.update(run.records.length);
      }
      if (tty && 'from' in range) bar.stop();
      if (flags.json) console.log(JSON.stringify(run.records, null, 2));
      else {
        for (const r of run.records) {
          const result = r.result as
            | { rows?: number; reconciliation?: { differing: number; speedRows: number; batchRows: number } }
            | undefined;
          const recon = result?.reconciliation;
          console.log(
            `${r.status === 'succeeded' ? paint('green', 'ok') : paint('red', 'failed')} ${new Date(r.range.from).toISOString()} → ${new Date(r.range.to).toISOString()}` +
              ` (${r.attempts} attempt${r.attempts === 1 ? '' : 's'})` +
              (recon
                ? `: ${result!.rows} batch rows; speed ${recon.speedRows} vs batch ${recon.batchRows} rows, ${recon.differing} differ`
                : '') +
              (r.error ? `: ${r.error}` : ''),
          );
        }
      }
      // A range before the deployment's data began recomputes nothing: say so, rather than a silent "0 rows".
      const empty = run.records.every((r) => {
        const result = r.result as { rows?: number; reconciliation?: { speedRows: number } } | undefined;
        return r.status === 'succeeded' && result?.rows === 0 && (result.reconciliation?.speedRows ?? 0) === 0;
      });
      if (run.records.length > 0 && empty && !flags.json) {
        console.error(
          paint(
            'yellow',
            'no input in these ranges, so nothing was recomputed: a range must hold events the deployment has read ' +
              '(one that started minutes ago has no history before that); pick a range it has run through',
            process.stderr,
          ),
        );
      }
      if (run.state !== 'succeeded') {
        throw new SluiceError('JOB_FAILED', run.error ?? `a run of ${job} failed (see above)`);
      }
    });
}
