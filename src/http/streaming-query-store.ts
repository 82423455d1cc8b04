// Where streaming queries started over HTTP are kept so that they outlive the process: one small file per query,
// `<data dir>/streaming-queries/<name>.json`, beside its checkpoint directory `<data dir>/streaming-queries/<name>/`.
// A file is replaced atomically (written to a temporary file, fsynced, renamed, the directory fsynced) and carries
// a CRC-32C of its query, so that a damaged or hand-edited file is told apart from a good one: it is reported as that
// query's failure, never thrown at the server, and the other files load as usual. Names are lowercase letters,
// digits, `-` and `_` (no dots), so a definition can never be mistaken for a checkpoint directory or a temporary file.
import fs from 'node:fs/promises';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { SluiceError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';

/** What is kept of a streaming query: enough to start it again, and what GET shows of it. */
export interface StoredQuery {
  name: string;
  /** The script, exactly as it was posted. */
  sql: string;
  /** When it was first started (epoch ms); kept across restarts. */
  startedAt: number;
  /** The serving tables its materialized views fill. */
  tables: string[];
  /** The topics it writes. */
  topics: string[];
  /** How many times a server has resumed it after a restart. */
  resumes: number;
}

/** A definition file read back: the query, or why it cannot be used (its name is the file's). */
export type LoadedQuery =
  | { name: string; query: StoredQuery }
  | { name: string; error: SluiceError /** The file's modification time. */; modifiedAt: number };

/** A query's name: also its file's and its checkpoint directory's (no dot, no slash). */
export const QUERY_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

const FORMAT = 'sluice.streaming-query';
const VERSION = 1;
const SUFFIX = '.json';

/** The file's text: the query and its checksum (over the query's JSON exactly as written). */
export function encodeQuery(query: StoredQuery): string {
  const body = JSON.stringify(query);
  return `{"format":"${FORMAT}","version":${VERSION},"crc32c":${crc32c(body)},"query":${body}}\n`;
}

/** Parses a definition file, or throws CORRUPT_CHECKPOINT saying what is wrong with it. */
export function decodeQuery(text: string, file: string, name: string): StoredQuery {
  // Short enough for the dashboard's list (the path from the data directory on; details.file has all of it).
  const shown = path.join(path.basename(path.dirname(file)), path.basename(file));
  const corrupt = (why: string, cause?: string) =>
    new SluiceError('CORRUPT_CHECKPOINT', `its definition ${shown} ${why}: delete the query and start it again`, {
      file,
      ...(cause === undefined ? {} : { cause }),
    });
  let parsed: { format?: unknown; version?: unknown; crc32c?: unknown; query?: Record<string, unknown> };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (error) {
    throw corrupt('is not valid JSON (torn or damaged)', (error as Error).message);
  }
  if (parsed === null || typeof parsed !== 'object' || parsed.format !== FORMAT) {
    throw corrupt(`is not a streaming query definition (no "format": "${FORMAT}")`);
  }
  if (parsed.version !== VERSION) {
    throw corrupt(`has version ${JSON.stringify(parsed.version)} (this Sluice reads ${VERSION})`);
  }
  const query = parsed.query;
  if (query === null || typeof query !== 'object') throw corrupt('has no "query"');
  if (parsed.crc32c !== crc32c(JSON.stringify(query))) throw corrupt('fails its checksum (damaged or edited)');
  const strings = (value: unknown) => Array.isArray(value) && value.every((v) => typeof v === 'string');
  if (
    typeof query.name !== 'string' ||
    typeof query.sql !== 'string' ||
    typeof query.startedAt !== 'number' ||
    !strings(query.tables) ||
    !strings(query.topics) ||
    typeof query.resumes !== 'number'
  ) {
    throw corrupt('lacks a field (name, sql, startedAt, tables, topics or resumes)');
  }
  if (query.name !== name) throw corrupt(`names another query ("${query.name}")`);
  return query as unknown as StoredQuery;
}

export class StreamingQueryStore {
  /** `<data dir>/streaming-queries`. */
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'streaming-queries');
  }

  fileOf(name: string): string {
    return path.join(this.dir, `${name}${SUFFIX}`);
  }

  checkpointDirOf(name: string): string {
    return path.join(this.dir, name);
  }

  /** Writes (or replaces) the query's definition durably: once this resolves, a restart finds it. */
  async save(query: StoredQuery): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.fileOf(query.name), encodeQuery(query));
  }

  /** Forgets the query for good: its definition first (durably), then its checkpoints. */
  async remove(name: string): Promise<void> {
    await fs.rm(this.fileOf(name), { force: true });
    await this.syncDir();
    await fs.rm(this.checkpointDirOf(name), { recursive: true, force: true });
  }

  /**
   * Every definition in the directory, by name (a damaged one as its error). Leftovers of interrupted writes are
   * removed, and so are checkpoint directories without a definition (a DELETE or a start that a crash cut short).
   */
  async load(): Promise<LoadedQuery[]> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(this.dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    // Only what a query of a valid name can have written is touched: anything else there is left alone.
    const names = new Set(
      entries
        .filter((e) => e.isFile() && e.name.endsWith(SUFFIX))
        .map((e) => e.name.slice(0, -SUFFIX.length))
        .filter((name) => QUERY_NAME.test(name)),
    );
    for (const entry of entries) {
      const file = path.join(this.dir, entry.name);
      const [base, temporary] = entry.name.split(`${SUFFIX}.tmp-`);
      if (entry.isFile() && temporary !== undefined && QUERY_NAME.test(base!)) await fs.rm(file, { force: true });
      else if (entry.isDirectory() && QUERY_NAME.test(entry.name) && !names.has(entry.name)) {
        await fs.rm(file, { recursive: true, force: true });
      }
    }
    const loaded: LoadedQuery[] = [];
    for (const name of [...names].sort()) {
      const file = this.fileOf(name);
      try {
        loaded.push({ name, query: decodeQuery(await fs.readFile(file, 'utf8'), file, name) });
      } catch (error) {
        const failure =
          error instanceof SluiceError
            ? error
            : new SluiceError(
                'CORRUPT_CHECKPOINT',
                `its definition ${file} cannot be read: ${(error as Error).message}`,
                { file },
              );
        const modifiedAt = await fs.stat(file).then(
          (stat) => Math.round(stat.mtimeMs),
          () => Date.now(),
        );
        loaded.push({ name, error: failure, modifiedAt });
      }
    }
    return loaded;
  }

  private async syncDir(): Promise<void> {
    const handle = await fs.open(this.dir, 'r').catch(() => undefined);
    if (!handle) return;
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
