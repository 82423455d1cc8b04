// Serving tables fed from topics, as Druid and Pinot ingest from Kafka: pipelines write their results to topics,
// and the orchestrator loads each table's topic into the serving store with a small checkpointed pipeline of its
// own (log source → serveTable), run in this process under the runtime's supervisor, so a table holds every result
// exactly once however often anything restarts.
import path from 'node:path';
import { type Format, json, type LogSource, logSource, Pipeline, type PipelineLog, toMillis } from '../engine/index.ts';
import type { Logger } from '../logger.ts';
import { InProcessHost, Supervisor } from '../runtime/index.ts';
import { type ServingStore, serveTable } from '../serve/index.ts';
import { VIEW_ROW_FORMAT, viewRowKind } from '../sql/index.ts';
import type { TableSpec } from './spec.ts';

export interface TableLoader {
  /** The table this loader writes (one version of the spec's table). */
  table: string;
  topic: string;
  /** The loader's supervisor: stop it, await it. */
  run: Supervisor;
  /** The loader pipeline running now. */
  current(): Pipeline | undefined;
  /** Records of the topic not loaded yet. */
  lag(): number;
  /** The next offset to load, per partition (empty before the loader has opened). */
  position(): number[];
  /** Checkpoints the loader completed (what it loaded before one is in the table for good). */
  checkpoints(): number;
}

/** The physical table of version `version` of spec table `name`. */
export function versionedTable(name: string, version: number): string {
  return `${name}__v${version}`;
}

/** Where the loader of `table` checkpoints. */
export function loaderCheckpointDir(dataDir: string, table: string): string {
  return path.join(dataDir, 'checkpoints', `table-${table}`);
}

/**
 * Starts loading `topic` into table `table` (a version of spec table `spec`), checkpointing into the data dir. The
 * topic holds JSON rows (a keyed table deletes a row whose `kind` is 'delete' and upserts the others), or, with
 * `format: 'sql-rows'`, a materialized view's changelog (src/sql/views.ts: each row with its kind beside it).
 */
export function startTableLoader(options: {
  /** The embedded log, or any other (a Kafka cluster's, for a view its members write there). */
  log: PipelineLog;
  store: ServingStore;
  table: string;
  topic: string;
  spec: TableSpec;
  dataDir: string;
  logger: Logger;
}): TableLoader {
  const { log, store, table, topic, spec } = options;
  let source: LogSource<Record<string, unknown>> | undefined;
  const sqlRows = spec.format === 'sql-rows';
  const format: Format<Record<string, unknown>> = sqlRows ? VIEW_ROW_FORMAT : json<Record<string, unknown>>();
  const build = async () => {
    const p = new Pipeline({ name: `load-${table}` });
    source = logSource({ log, topic, format });
    p.source(source)
      .uid('source')
      .sinkTo(
        serveTable({
          store,
          name: table,
          ...(spec.columns ? { columns: spec.columns } : {}),
          // A topic may hold a result twice (a writer that is only at-least-once, a reader that rolled back):
          // every row of a keyed table is an upsert, so loading is idempotent.
          // A view's changelog says each row's kind beside it (a merged session's row is deleted).
          ...(spec.key
            ? {
                key: spec.key,
                kind: (row) => ((sqlRows ? viewRowKind(row) : row.kind) === 'delete' ? 'delete' : 'update'),
              }
            : {}),
          ...(spec.time ? { hybrid: { time: spec.time } } : {}),
          ...(spec.retention
            ? { retention: { column: spec.retention.column, keepMs: toMillis(spec.retention.keep) } }
            : {}),
          flushMs: 100,
        }),
      );
    p.enableCheckpoints({ dir: loaderCheckpointDir(options.dataDir, table), intervalMs: 1000 });
    return p;
  };
  const host = new InProcessHost({ build });
  const run = new Supervisor({ host, name: `table loader ${table}`, logger: options.logger }).start();
  return {
    table,
    topic,
    run,
    current: () => host.current(),
    position: () => source?.position() ?? [],
    checkpoints: () => host.current()?.metrics().checkpoints.completed ?? 0,
    lag() {
      if (!source || !log.hasTopic(topic)) return 0;
      const position = source.position();
      return log
        .describeTopic(topic)
        .partitions.reduce((sum, p, i) => sum + Math.max(0, p.logEndOffset - (position[i] ?? p.logStartOffset)), 0);
    },
  };
}
