// The deployment's serving tables: each loads the topic its spec names (the version its producer writes) with a
// checkpointed loader (table-loader.ts), and the first version is published under the table's name as soon as its
// loader has defined it. A replay loads the new version beside the old one until readers switch.
import fs from 'node:fs';
import type { Log } from '../log/index.ts';
import type { Logger } from '../logger.ts';
import { sleep } from '../runtime/index.ts';
import type { ServingStore } from '../serve/index.ts';
import type { Deployment } from './spec.ts';
import { loaderCheckpointDir, startTableLoader, type TableLoader, versionedTable } from './table-loader.ts';
import { versionedTopic } from './versions.ts';

export interface DeploymentTablesOptions {
  spec: Deployment;
  log: Log;
  store: ServingStore;
  logger: Logger;
  /** The live version of a pipeline. */
  versionOf(pipeline: string): number;
  /** Resolves once a pipeline is healthy (it has created its output topics). */
  healthy(pipeline: string): Promise<void>;
  /** Whether the deployment is stopping (nothing new starts then). */
  closing(): boolean;
}

/** A table as the deployment's status shows it. */
export type TableState = 'waiting' | 'starting' | 'catching-up' | 'live' | 'restarting' | 'failed' | 'stopped';

export interface TableStatus {
  /** The table readers query. */
  name: string;
  /** The physical table of this version (`<name>__v<version>`). */
  version: string;
  /** Whether readers see this version now (a replay loads the next version beside the live one). */
  serving: boolean;
  topic: string;
  state: TableState;
  detail: string;
  /** Records of the topic not loaded yet. */
  lag: number;
  /** Rows in the table (counted every few seconds; null before the first count). */
  rows: number | null;
  /** When the loader last loaded records (epoch ms): the table's freshness. Null before the first. */
  loadedAt: number | null;
}

/** Row counts are a query per table: taken every few seconds, not on every heartbeat. */
const ROW_COUNT_INTERVAL_MS = 3000;

export class DeploymentTables {
  private readonly options: DeploymentTablesOptions;
  private readonly loaders = new Map<string, TableLoader>();
  /** Per physical table: the records its loader's sink had taken at the last refresh, and when that changed. */
  private readonly freshness = new Map<string, { loaded: number; at: number | null }>();
  private readonly rows = new Map<string, number>();
  private counting = false;
  private countedAt = 0;

  constructor(options: DeploymentTablesOptions) {
    this.options = options;
  }

  /** The pipeline (in this spec) that writes `topic`. */
  producerOf(topic: string): string | undefined {
    return Object.entries(this.options.spec.pipelines).find(([, p]) => p.outputs.includes(topic))?.[0];
  }

  /** The spec's tables that load one of the pipeline's outputs. */
  tablesOf(pipeline: string): string[] {
    const outputs = this.options.spec.pipelines[pipeline]!.outputs;
    return Object.entries(this.options.spec.tables)
      .filter(([, table]) => outputs.includes(table.from))
      .map(([name]) => name);
  }

  /** Starts loading table `name` once its topic's writer is healthy, and publishes its first version. */
  start(name: string): void {
    const { options } = this;
    const spec = options.spec.tables[name]!;
    const producer = this.producerOf(spec.from);
    const version = producer ? options.versionOf(producer) : 1;
    const start = async () => {
      // The producer creates its output topics when it opens: load once it is healthy.
      if (producer) await options.healthy(producer);
      if (options.closing()) return;
      this.loadVersion(name, version);
      if (options.store.versionOf(name) !== undefined) return;
      // The first version is published as soon as its loader has defined it (the sink does that when it opens).
      const physical = versionedTable(name, version);
      while (!options.store.table(physical)) {
        if (options.closing()) return;
        await sleep(50);
      }
      await options.store.publishVersions({ [name]: physical });
    };
    start().catch((error: unknown) => options.logger.error({ table: name, err: error }, 'table not loaded'));
  }

  /** Starts loading version `version` of table `name` (from that version's topic). */
  loadVersion(name: string, version: number): TableLoader {
    const { options } = this;
    const spec = options.spec.tables[name]!;
    const physical = versionedTable(name, version);
    const loader = startTableLoader({
      log: options.log,
      store: options.store,
      table: physical,
      topic: versionedTopic(spec.from, version),
      spec,
      dataDir: options.log.dataDir,
      logger: options.logger,
    });
    this.loaders.set(physical, loader);
    loader.run.done.catch((error: unknown) =>
      options.logger.error({ table: physical, err: error }, 'table loader failed'),
    );
    return loader;
  }

  loader(table: string): TableLoader | undefined {
    return this.loaders.get(table);
  }

  async stopLoader(table: string): Promise<void> {
    const loader = this.loaders.get(table);
    if (!loader) return;
    await loader.run.stop();
    this.loaders.delete(table);
    this.freshness.delete(table);
    this.rows.delete(table);
  }

  /** Removes version `version` of the pipeline's tables: their loaders, the tables, the loaders' checkpoints. */
  async remove(pipeline: string, version: number): Promise<void> {
    for (const name of this.tablesOf(pipeline)) {
      const physical = versionedTable(name, version);
      await this.stopLoader(physical);
      if (this.options.store.table(physical)) await this.options.store.dropTable(physical);
      fs.rmSync(loaderCheckpointDir(this.options.log.dataDir, physical), { recursive: true, force: true });
    }
  }

  /**
   * Notes what changed since the last call: which loaders loaded records (freshness) and, every few calls, the
   * tables' row counts (a query each). Called every second by the deployment's heartbeat.
   */
  refresh(): void {
    const now = Date.now();
    for (const [table, loader] of this.loaders) {
      // Rows its sink took in this incarnation: a restored loader starts at 0, so only new loads count as fresh.
      const loaded =
        loader
          .current()
          ?.metrics()
          .operators.filter((o) => o.name.startsWith('sink:'))
          .reduce((sum, o) => sum + o.recordsIn, 0) ?? 0;
      const seen = this.freshness.get(table);
      if (loaded !== (seen?.loaded ?? 0)) this.freshness.set(table, { loaded, at: now });
    }
    if (this.counting || now - this.countedAt < ROW_COUNT_INTERVAL_MS) return;
    this.counting = true;
    this.countedAt = now;
    this.options.store
      .listTables()
      .then(
        (tables) => {
          for (const t of tables) this.rows.set(t.name, t.rows);
        },
        (error: unknown) => this.options.logger.debug({ err: error }, "could not count the tables' rows"),
      )
      .finally(() => {
        this.counting = false;
      });
  }

  /** Every table of the spec: its versions being loaded, or what it waits for. */
  status(): TableStatus[] {
    const { options } = this;
    const rows: TableStatus[] = [];
    for (const [name, spec] of Object.entries(options.spec.tables)) {
      const loaders = [...this.loaders.values()].filter((l) => l.table.replace(/__v\d+$/, '') === name);
      if (loaders.length === 0) {
        const producer = this.producerOf(spec.from);
        rows.push({
          name,
          version: versionedTable(name, producer ? options.versionOf(producer) : 1),
          serving: false,
          topic: spec.from,
          state: 'waiting',
          detail: producer
            ? `waiting for pipeline ${producer} to be healthy: it creates topic ${spec.from}`
            : `waiting to load topic ${spec.from}`,
          lag: 0,
          rows: null,
          loadedAt: null,
        });
        continue;
      }
      for (const loader of loaders) rows.push(this.loaderStatus(name, loader));
    }
    return rows;
  }

  private loaderStatus(name: string, loader: TableLoader): TableStatus {
    const lag = loader.lag();
    const supervisor = loader.run.state;
    const serving = this.options.store.versionOf(name) === loader.table;
    let state: TableState;
    let detail: string;
    if (supervisor === 'failed') {
      state = 'failed';
      detail = `its loader was given up on: ${loader.run.lastError ?? 'unknown error'}`;
    } else if (supervisor === 'restarting' || supervisor === 'recovering') {
      state = 'restarting';
      detail = `its loader failed and restarts from its latest checkpoint${loader.run.lastError ? `: ${loader.run.lastError}` : ''}`;
    } else if (supervisor === 'stopping' || supervisor === 'stopped' || supervisor === 'finished') {
      state = 'stopped';
      detail = 'not loading';
    } else if (supervisor !== 'running') {
      state = 'starting';
      detail = `its loader is opening topic ${loader.topic} and restoring its checkpoint`;
    } else if (lag > 0) {
      state = 'catching-up';
      detail = `${lag} record${lag === 1 ? '' : 's'} of topic ${loader.topic} not loaded yet`;
    } else {
      state = 'live';
      detail = `every record of topic ${loader.topic} is loaded`;
    }
    if (!serving && state !== 'failed') detail += '; readers see another version';
    return {
      name,
      version: loader.table,
      serving,
      topic: loader.topic,
      state,
      detail,
      lag,
      rows: this.rows.get(loader.table) ?? null,
      loadedAt: this.freshness.get(loader.table)?.at ?? null,
    };
  }

  async stop(): Promise<void> {
    for (const table of [...this.loaders.keys()]) await this.stopLoader(table);
  }
}
