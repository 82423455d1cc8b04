// The serving tables of a scaled-out SQL pipeline's materialized views, in the process that owns the serving store:
// its tasks (threads of `sluice run --parallelism`, members) have none, so each view writes its rows with their kinds
// to its changelog topic (src/sql/views.ts), and this process loads each table from that topic with a table loader
// (table-loader.ts): same columns, key and retention as the view's table in one process, exactly once.
import fs from 'node:fs/promises';
import type { PipelineLog } from '../engine/index.ts';
import type { Logger } from '../logger.ts';
import { sleep } from '../runtime/index.ts';
import type { ServingStore } from '../serve/index.ts';
import { pipelineNameOf, scriptViewTables, type ViewTable } from '../sql/index.ts';
import type { TableSpec } from './spec.ts';
import { startTableLoader, type TableLoader } from './table-loader.ts';

export interface ViewLoaders {
  /** The views' tables, as the script declares them. */
  readonly views: readonly ViewTable[];
  /** The loaders started so far (one per view once its topic exists). */
  loaders(): TableLoader[];
  /** Waits until every loader has loaded its topic to the end (or `timeoutMs` passed). */
  settle(timeoutMs: number): Promise<void>;
  /** Stops the loaders (each with a last checkpoint). */
  stop(): Promise<void>;
}

/** A view's table as a deployment table spec: its changelog topic's rows, with their kinds. */
export function viewTableSpec(view: ViewTable): TableSpec {
  return {
    from: view.topic,
    columns: view.columns,
    ...(view.key.length > 0 ? { key: view.key } : {}),
    ...(view.retention ? { retention: { column: view.retention.column, keep: view.retention.keepMs } } : {}),
    format: 'sql-rows',
  };
}

/**
 * Loads the tables of `file`'s materialized views (a .sql pipeline file; nothing for another file or a script without
 * views) from their changelog topics in `log`, each once its topic exists (the pipeline's tasks create it).
 */
export async function startViewLoaders(options: {
  file: string;
  log: PipelineLog;
  store: ServingStore;
  dataDir: string;
  logger: Logger;
}): Promise<ViewLoaders> {
  const { file, log, logger } = options;
  const views = /\.sql$/i.test(file)
    ? await scriptViewTables(await fs.readFile(file, 'utf8'), pipelineNameOf(file))
    : [];
  const started: TableLoader[] = [];
  const stopping = new AbortController();
  const starting = views.map(async (view) => {
    while (!log.hasTopic(view.topic)) {
      await sleep(100, stopping.signal).catch(() => {});
      if (stopping.signal.aborted) return;
      await log.refresh?.(view.topic).catch(() => {});
    }
    const loader = startTableLoader({
      log,
      store: options.store,
      table: view.name,
      topic: view.topic,
      spec: viewTableSpec(view),
      dataDir: options.dataDir,
      logger,
    });
    loader.run.done.catch((error: unknown) => logger.error({ table: view.name, err: error }, 'view loader failed'));
    started.push(loader);
  });
  if (views.length > 0) {
    logger.info({ views: views.map((v) => `${v.name} <- ${v.topic}`) }, 'loading materialized views from topics');
  }
  return {
    views,
    loaders: () => [...started],
    async settle(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const loaded =
          started.length === views.length &&
          started.every((l) => l.run.state !== 'running' || (l.position().length > 0 && l.lag() === 0));
        if (loaded) return;
        await sleep(50);
      }
    },
    async stop() {
      stopping.abort();
      await Promise.all(starting);
      await Promise.all(started.map((loader) => loader.run.stop()));
    },
  };
}
