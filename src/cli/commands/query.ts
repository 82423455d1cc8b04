// `sluice query "<sql>"`: runs a read-only SQL query against a running server's serving store and prints a table
// (or JSON rows with --json).
import type { Command } from 'commander';
import { errorFromWire, SluiceError } from '../../errors.ts';
import { DEFAULTS, paint, positiveIntOption } from '../common.ts';

interface QueryFlags {
  url: string;
  authToken?: string;
  json?: boolean;
  maxRows: number;
  timeoutMs: number;
}

interface QueryAnswer {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  truncated: boolean;
  elapsedMs: number;
}

export function registerQuery(program: Command): void {
  program
    .command('query <sql>')
    .description('run a read-only SQL query on the serving store of a running server')
    .option(
      '--url <url>',
      'the HTTP API (env SLUICE_URL)',
      process.env.SLUICE_URL ?? `http://${DEFAULTS.host}:${DEFAULTS.httpPort}`,
    )
    .option('--auth-token <token>', 'bearer token (env SLUICE_AUTH_TOKEN)')
    .option('--json', 'print the rows as a JSON array of objects')
    .option('--max-rows <n>', 'cut the result at this many rows', positiveIntOption, 1000)
    .option('--timeout-ms <ms>', 'cancel the query after this long', positiveIntOption, 10_000)
    .addHelpText(
      'after',
      `
Examples:
  $ sluice query "SELECT key, sum(cnt) FROM window_totals GROUP BY key ORDER BY 2 DESC LIMIT 5"
  $ sluice query "SELECT * FROM window_totals" --json | jq .`,
    )
    .action(async (sql: string, flags: QueryFlags) => {
      const token = flags.authToken ?? process.env.SLUICE_AUTH_TOKEN;
      let response: Response;
      try {
        response = await fetch(`${flags.url.replace(/\/$/, '')}/v1/sql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify({ sql, maxRows: flags.maxRows, timeoutMs: flags.timeoutMs }),
        });
      } catch (error) {
        throw new SluiceError(
          'BROKER_UNAVAILABLE',
          `cannot reach ${flags.url}: ${(error as Error).cause ?? (error as Error).message} (is sluice dev or sluice run up?)`,
        );
      }
      const body = (await response.json().catch(() => ({}))) as QueryAnswer & {
        error?: { code: string; message: string };
      };
      if (!response.ok) {
        if (!body.error)
          throw new SluiceError('INTERNAL', `${flags.url} answered ${response.status} ${response.statusText}`);
        // A refused statement is the user's input: exit code 2, as for SQL that does not parse.
        const code = body.error.code === 'READ_ONLY' ? 'INVALID_SQL' : body.error.code;
        throw errorFromWire({ ...body.error, code });
      }
      if (flags.json) {
        const objects = body.rows.map((row) => Object.fromEntries(body.columns.map((c, i) => [c.name, row[i]])));
        console.log(JSON.stringify(objects, null, 2));
        return;
      }
      console.log(
        renderTable(
          body.columns.map((c) => c.name),
          body.rows,
        ),
      );
      const note = `${body.rows.length} row${body.rows.length === 1 ? '' : 's'}${body.truncated ? ' (cut at --max-rows)' : ''} in ${body.elapsedMs} ms`;
      console.error(paint('dim', note));
    });
}

/** Columns padded to their widest value; numbers right-aligned. */
export function renderTable(names: string[], rows: unknown[][]): string {
  const cells = rows.map((row) =>
    row.map((v) => (v === null ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v))),
  );
  const widths = names.map((name, i) => Math.max(name.length, ...cells.map((row) => row[i]!.length)));
  const numeric = names.map(
    (_, i) =>
      rows.length > 0 && rows.every((row) => typeof row[i] === 'number' || /^-?\d+(\.\d+)?$/.test(String(row[i]))),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(names), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
