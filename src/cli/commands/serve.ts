// `sluice serve`: the log and the serving store behind the HTTP API (ingest, SQL, tables, metrics), without a
// pipeline: for querying a data directory or ingesting into it over HTTP.
import type { Command } from 'commander';
import { DEFAULTS, paint, portOption, untilShutdownSignal } from '../common.ts';
import { type HttpFlags, openServices } from '../services.ts';

interface ServeFlags extends HttpFlags {
  dataDir: string;
  port?: number;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a data directory over HTTP: NDJSON ingest, read-only SQL, tables, metrics')
    .option('--data-dir <dir>', 'the data directory', DEFAULTS.dataDir)
    .option('--host <host>', 'interface to listen on (non-loopback needs --auth-token)', DEFAULTS.host)
    .option('--http-port <port>', 'HTTP port (0 picks a free one)', portOption, DEFAULTS.httpPort)
    .option('--port <port>', 'the same as --http-port', portOption)
    .option('--auth-token <token>', 'require this bearer token (env SLUICE_AUTH_TOKEN)')
    .addHelpText(
      'after',
      `
Examples:
  $ sluice serve --data-dir /var/lib/sluice
  $ curl -s localhost:8080/v1/sql -d '{"sql":"SELECT * FROM window_totals LIMIT 5"}'`,
    )
    .action(async (flags: ServeFlags) => {
      const httpPort = flags.port ?? flags.httpPort;
      const services = await openServices(flags.dataDir, { ...flags, httpPort, http: true }, () => []);
      console.log(
        `${paint('bold', 'sluice serve')}: HTTP on ${paint('cyan', services.http!.url)} for ${services.log.dataDir}`,
      );
      await untilShutdownSignal();
      await services.close();
    });
}
