// Which version of each pipeline is live, and which old ones are kept: `<data dir>/deployment/versions.json`. A replay
// makes version n+1 and, once it has caught up, the live one; an old version stays (tables, topics, checkpoints)
// until it is dropped. Version 1 writes the spec's names; version n writes `<topic>.vN`, `<table>__vN` and
// `checkpoints/<pipeline>@vN`.
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../errors.ts';
import { writeFileAtomicSync } from '../files.ts';

interface VersionsFile {
  pipelines: Record<string, { version: number; previous: number[] }>;
}

/** The topic that version `version` of a pipeline writes for `topic` (version 1 writes `topic` itself). */
export function versionedTopic(topic: string, version: number): string {
  return version === 1 ? topic : `${topic}.v${version}`;
}

/** Where version `version` of `pipeline` checkpoints. */
export function pipelineCheckpointDir(dataDir: string, pipeline: string, version: number): string {
  return path.join(dataDir, 'checkpoints', version === 1 ? pipeline : `${pipeline}@v${version}`);
}

export class Versions {
  private readonly file: string;
  private readonly versions: VersionsFile;

  constructor(dir: string) {
    this.file = path.join(dir, 'versions.json');
    this.versions = fs.existsSync(this.file)
      ? (JSON.parse(fs.readFileSync(this.file, 'utf8')) as VersionsFile)
      : { pipelines: {} };
  }

  /** The live version of `pipeline`. */
  of(pipeline: string): number {
    return this.versions.pipelines[pipeline]?.version ?? 1;
  }

  /** Makes `version` the live one, keeping the one before among the old versions. */
  promote(pipeline: string, version: number): void {
    const entry = this.versions.pipelines[pipeline] ?? { version: 1, previous: [] };
    this.versions.pipelines[pipeline] = { version, previous: [...entry.previous, entry.version] };
    this.write();
  }

  /** Refuses to drop the live version or one that is not kept. */
  checkDroppable(pipeline: string, version: number): void {
    if (version === this.of(pipeline)) {
      throw new SluiceError('VERSION_IN_USE', `version ${version} is the live version of ${pipeline}`);
    }
    if (!this.versions.pipelines[pipeline]?.previous.includes(version)) {
      throw new SluiceError('UNKNOWN_VERSION', `${pipeline} has no old version ${version}`);
    }
  }

  /** Forgets an old version (once what it left is removed). */
  dropped(pipeline: string, version: number): void {
    const entry = this.versions.pipelines[pipeline];
    if (!entry) return;
    entry.previous = entry.previous.filter((v) => v !== version);
    this.write();
  }

  private write(): void {
    writeFileAtomicSync(this.file, JSON.stringify(this.versions, null, 2));
  }
}
