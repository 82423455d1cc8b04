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

export class DeploymentTables {
  private readonly options: DeploymentTablesOptions;
  private readonly loaders = new Map<string, TableLoader>();

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

  status(): { name: string; version: string; topic: string; lag: number; state: string }[] {
    return [...this.loaders.values()].map((l) => ({
      name: l.table.replace(/__v\d+$/, ''),
      version: l.table,
      topic: l.topic,
      lag: l.lag(),
      state: l.current()?.metrics().running ? 'loading' : 'starting',
    }));
  }

  async stop(): Promise<void> {
    for (const table of [...this.loaders.keys()]) await this.stopLoader(table);
  }
}
