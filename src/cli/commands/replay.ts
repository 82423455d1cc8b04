// `sluice replay <pipeline> --from <point>`: asks the running deployment to reprocess the pipeline's history into a
// new version of its output tables (Kappa), shows progress with rate and ETA until readers are switched to the new
// version, and exits 0 then. `--drop-version N` drops an old version (its tables, topics and checkpoints).
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { SluiceError } from '../../errors.ts';
import type { ReplayStatus } from '../../orchestrate/index.ts';
import { DEFAULTS, paint, positiveIntOption } from '../common.ts';
import { controlClient, parsePoint } from '../deployment-client.ts';

interface ReplayFlags {
  dataDir: string;
  url?: string;
  authToken?: string;
  from?: string;
  dropVersion?: number;
  detach?: boolean;
}

export function registerReplay(program: Command): void {
  program
    .command('replay <pipeline>')
    .description('reprocess a pipeline from a past point into a new version of its tables, then switch readers')
    .option('--from <point>', 'earliest, an offset (every partition), an ISO date-time or epoch ms')
    .option('--drop-version <n>', 'drop old version n of the pipeline (tables, topics, checkpoints)', positiveIntOption)
    .option('--detach', 'start the replay and return without waiting')
    .option('--data-dir <dir>', 'the data directory of the running deployment', DEFAULTS.dataDir)
    .option('--url <url>', 'the deployment HTTP API (default: from its status file)')
    .option('--auth-token <token>', 'bearer token (env SLUICE_AUTH_TOKEN)')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice replay windowed-counts --from earliest
  $ sluice replay windowed-counts --from 2026-11-25T08:00:00Z
  $ sluice replay windowed-counts --drop-version 1
Queries keep answering from the old version until the new one has caught up; then all tables switch at once.`,
    )
    .action(async (pipeline: string, flags: ReplayFlags) => {
      const client = controlClient(flags);
      if (flags.dropVersion !== undefined) {
        await client.call('DELETE', `/pipelines/${encodeURIComponent(pipeline)}/versions/${flags.dropVersion}`);
        console.log(`${paint('bold', 'sluice replay')}: dropped version ${flags.dropVersion} of ${pipeline}`);
        return;
      }
      if (!flags.from) throw new SluiceError('INVALID_ARGUMENT', 'give --from <point> (or --drop-version <n>)');
      const started = await client.call<ReplayStatus>('POST', '/replays', {
        pipeline,
        from: parsePoint(flags.from, '--from'),
      });
      console.log(`${paint('bold', 'sluice replay')}: ${started.id} → version ${started.version} of ${pipeline}`);
      if (flags.detach) return;
      const final = await follow(() => client.call<ReplayStatus>('GET', `/replays/${encodeURIComponent(started.id)}`));
      if (final.state !== 'switched') {
        throw new SluiceError('REPLAY_FAILED', `${final.id} ${final.state}: ${final.error ?? 'no reason given'}`);
      }
      const seconds = ((final.switchedAt! - final.startedAt) / 1000).toFixed(1);
      console.log(
        `${paint('green', 'switched')}: readers see version ${final.version} of ${pipeline} (${final.total} records reprocessed in ${seconds} s); ` +
          `drop the old one with: sluice replay ${pipeline} --drop-version ${final.version - 1}`,
      );
    });
}

/** Polls the replay, with a progress bar on a terminal and a line every few seconds elsewhere. */
async function follow(poll: () => Promise<ReplayStatus>): Promise<ReplayStatus> {
  const tty = process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: ' {bar} {percentage}% | {value}/{total} records | {rate} rec/s | ETA {eta_s}',
      etaBuffer: 50,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let status = await poll();
  if (tty) bar.start(Math.max(1, status.total), 0, { rate: 0, eta_s: '-' });
  let printed = 0;
  while (status.state === 'running') {
    await new Promise((resolve) => setTimeout(resolve, 250));
    status = await poll();
    const eta = status.etaSec === null ? '-' : `${status.etaSec} s`;
    if (tty) {
      bar.setTotal(Math.max(1, status.total));
      bar.update(status.processed, { rate: status.ratePerSec, eta_s: eta });
    } else if (Date.now() - printed > 5000) {
      printed = Date.now();
      console.error(`  ${status.processed}/${status.total} records, ${status.ratePerSec} rec/s, ETA ${eta}`);
    }
  }
  if (tty) {
    bar.update(status.state === 'switched' ? status.total : status.processed);
    bar.stop();
  }
  return status;
}
