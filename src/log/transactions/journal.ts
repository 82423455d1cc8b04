// The transaction coordinator's durable state: one JSON line per change of a transactional id's record, appended
// and fdatasynced before the change is answered (concurrent changes share one fsync: group commit). Loading keeps
// each id's last line; a torn last line (a crash mid-append) is dropped. The file is rewritten whole, atomically,
// on open and whenever it has grown to many times the live records.
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../../errors.ts';
import { removeTempFilesSync, writeFileAtomicSync } from '../../files.ts';
import type { Logger } from '../../logger.ts';

const FILE = 'transactions.jsonl';
/** Rewrite once the file holds this many lines and four times as many as live records. */
const COMPACT_AFTER_LINES = 10_000;

interface PendingWrite {
  line: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class Journal<R extends { transactionalId: string }> {
  private readonly file: string;
  private fd: number;
  private lines = 0;
  private pending: PendingWrite[] = [];
  private writing = false;
  private failure: Error | undefined;

  /** Opens the journal in `dir` and returns the records it holds (each id's last), rewriting the file compactly. */
  static open<R extends { transactionalId: string }>(
    dir: string,
    logger: Logger,
    keep: (record: R) => boolean,
  ): { journal: Journal<R>; records: Map<string, R> } {
    fs.mkdirSync(dir, { recursive: true });
    removeTempFilesSync(dir);
    const file = path.join(dir, FILE);
    const records = new Map<string, R>();
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '') continue;
      try {
        const record = JSON.parse(line) as R;
        records.set(record.transactionalId, record);
      } catch (error) {
        if (i < lines.length - 1) {
          throw new SluiceError(
            'STORAGE_ERROR',
            `${file}: line ${i + 1} is not a transaction record`,
            { file },
            {
              cause: error,
            },
          );
        }
        logger.warn({ file, line: i + 1 }, 'dropped a torn last line of the transaction journal');
      }
    }
    for (const [id, record] of records) if (!keep(record)) records.delete(id);
    const journal = new Journal<R>(file, [...records.values()]);
    return { journal, records };
  }

  private constructor(file: string, records: readonly R[]) {
    this.file = file;
    this.rewrite(records);
    this.fd = fs.openSync(file, 'a');
  }

  /** Appends the record's new state; resolves once it is durable. */
  write(record: R): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.push({ line: `${JSON.stringify(record)}\n`, resolve, reject });
      this.flush();
    });
  }

  /** Rewrites the file with `records` when it has grown to many times their number (between writes). */
  compactIfLarge(records: () => readonly R[]): void {
    if (this.writing || this.lines < COMPACT_AFTER_LINES) return;
    const live = records();
    if (this.lines < 4 * live.length) return;
    fs.closeSync(this.fd);
    this.rewrite(live);
    this.fd = fs.openSync(this.file, 'a');
  }

  private rewrite(records: readonly R[]): void {
    writeFileAtomicSync(this.file, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    this.lines = records.length;
  }

  private flush(): void {
    if (this.writing || this.pending.length === 0) return;
    this.writing = true;
    const batch = this.pending;
    this.pending = [];
    const data = Buffer.from(batch.map((w) => w.line).join(''));
    const done = (error: Error | null) => {
      this.writing = false;
      if (error) {
        this.failure = new SluiceError('STORAGE_ERROR', `write to ${this.file} failed: ${error.message}`);
        for (const w of [...batch, ...this.pending]) w.reject(this.failure);
        this.pending = [];
        return;
      }
      this.lines += batch.length;
      for (const w of batch) w.resolve();
      this.flush();
    };
    fs.write(this.fd, data, 0, data.length, null, (error, written) => {
      if (error || written !== data.length) return done(error ?? new Error(`short write (${written} bytes)`));
      fs.fdatasync(this.fd, done);
    });
  }

  /** Waits for writes in flight, then closes the file. */
  async close(): Promise<void> {
    while (this.writing || this.pending.length > 0) {
      if (this.failure) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    fs.closeSync(this.fd);
  }
}
