// q10's sink: rows appended as CSV to files partitioned by their event time's minute, as Flink's filesystem sink
// with PARTITIONED BY (dt, hm) lays them out (dir/dt=yyyy-MM-dd/hm=HH:mm/part-0.csv), and a partition committed —
// its file closed and a _SUCCESS file written beside it — once the watermark is a minute past its end (Flink's
// 'partition-time' commit trigger with a 1 min delay and the success-file policy).
import fs from 'node:fs';
import path from 'node:path';
import type { Sink } from '../../src/engine/index.ts';

const MINUTE_MS = 60_000;
/** Characters written to a partition's file at once: rows are gathered so that a write is not a system call each. */
const WRITE_AT = 1 << 16;

/** A CSV field: quoted when it holds a comma, a quote or a line break (Nexmark's strings never do). */
export function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The directory of the partition holding event time `ts`, relative to the sink's. */
export function partitionOf(ts: number): string {
  const iso = new Date(ts - (((ts % MINUTE_MS) + MINUTE_MS) % MINUTE_MS)).toISOString();
  return path.join(`dt=${iso.slice(0, 10)}`, `hm=${iso.slice(11, 16)}`);
}

interface OpenPartition {
  dir: string;
  fd: number;
  pending: string;
  /** The watermark at which it is committed: a minute past its end. */
  commitAt: number;
}

export interface PartitionedFiles {
  /** Appends a line to the partition of event time `ts`. */
  append(line: string, ts: number): void;
  /** Commits every partition whose time is a minute behind `watermark`. */
  commitUpTo(watermark: number): void;
  /** Writes what is gathered, without committing. */
  flush(): void;
  close(): void;
  /** Partitions committed so far. */
  readonly committed: number;
}

/** The files of one sink (also used as they are by q10's hand-written loop). */
export function partitionedFiles(root: string): PartitionedFiles {
  const open = new Map<number, OpenPartition>();
  let lastStart = Number.NaN;
  let last: OpenPartition | undefined;
  let committed = 0;
  let nextCommit = Number.POSITIVE_INFINITY;
  const write = (p: OpenPartition) => {
    if (p.pending.length === 0) return;
    fs.writeSync(p.fd, p.pending);
    p.pending = '';
  };
  return {
    get committed() {
      return committed;
    },
    append(line, ts) {
      let p = last;
      if (!(ts >= lastStart && ts < lastStart + MINUTE_MS)) {
        lastStart = ts - (((ts % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
        p = open.get(lastStart);
        if (!p) {
          // A row behind a committed partition reopens its file (appending), as a late file would in Flink.
          const dir = path.join(root, partitionOf(lastStart));
          fs.mkdirSync(dir, { recursive: true });
          const commitAt = lastStart + 2 * MINUTE_MS;
          p = { dir, fd: fs.openSync(path.join(dir, 'part-0.csv'), 'a'), pending: '', commitAt };
          open.set(lastStart, p);
          if (commitAt < nextCommit) nextCommit = commitAt;
        }
        last = p;
      }
      p!.pending += line;
      if (p!.pending.length >= WRITE_AT) write(p!);
    },
    commitUpTo(watermark) {
      if (watermark < nextCommit) return;
      nextCommit = Number.POSITIVE_INFINITY;
      for (const [start, p] of open) {
        if (p.commitAt > watermark) {
          if (p.commitAt < nextCommit) nextCommit = p.commitAt;
          continue;
        }
        write(p);
        fs.closeSync(p.fd);
        fs.writeFileSync(path.join(p.dir, '_SUCCESS'), '');
        open.delete(start);
        committed++;
        if (p === last) {
          last = undefined;
          lastStart = Number.NaN;
        }
      }
    },
    flush() {
      for (const p of open.values()) write(p);
    },
    close() {
      for (const p of open.values()) {
        write(p);
        fs.closeSync(p.fd);
      }
      open.clear();
      last = undefined;
      lastStart = Number.NaN;
    },
  };
}

/** A sink writing each row as `line(row)` into the partition of its timestamp (its event time) under `root`. */
export function partitionedCsvSink<T>(root: string, line: (row: T) => string): Sink<T> {
  const files = partitionedFiles(root);
  return {
    name: 'partitioned-files',
    write(batch) {
      const { values, timestamps } = batch;
      for (let i = 0; i < values.length; i++) files.append(line(values[i]!), timestamps[i]!);
    },
    onWatermark: (watermark) => files.commitUpTo(watermark),
    flush: async () => files.flush(),
    close: async () => files.close(),
  };
}
