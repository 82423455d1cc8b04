// Consumer groups' committed offsets: one JSON file per group under <dataDir>/groups, replaced atomically on each
// commit, so a crash leaves either the previous or the new set of offsets — never a mix.
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../errors.ts';
import { removeTempFilesSync, writeFileAtomic } from '../files.ts';
import type { CommittedOffset, GroupOffsetStore, OffsetCommit } from './types.ts';

type GroupOffsets = Map<string, Map<number, CommittedOffset>>;

interface GroupFile {
  group: string;
  offsets: Record<string, Record<string, CommittedOffset>>;
}

export class FileGroupOffsetStore implements GroupOffsetStore {
  private readonly dir: string;
  private readonly groups = new Map<string, GroupOffsets>();
  /** Commits of one group are written one after another, each writing the latest state. */
  private readonly writes = new Map<string, Promise<void>>();

  constructor(dir: string) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true });
    removeTempFilesSync(dir);
    for (const name of fs.readdirSync(dir)) {
      if (!name.endsWith('.json')) continue;
      const file = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as GroupFile;
      const offsets: GroupOffsets = new Map();
      for (const [topic, partitions] of Object.entries(file.offsets)) {
        offsets.set(topic, new Map(Object.entries(partitions).map(([p, o]) => [Number(p), o])));
      }
      this.groups.set(file.group, offsets);
    }
  }

  async commit(group: string, offsets: readonly OffsetCommit[]): Promise<void> {
    validateGroup(group);
    for (const o of offsets) {
      if (!Number.isSafeInteger(o.offset) || o.offset < 0 || !Number.isInteger(o.partition) || o.partition < 0) {
        throw new SluiceError(
          'INVALID_COMMIT_OFFSET',
          `group ${group}: invalid offset ${o.offset} for ${o.topic}-${o.partition}`,
          { group, topic: o.topic, partition: o.partition },
        );
      }
    }
    const now = Date.now();
    let state = this.groups.get(group);
    const next: GroupOffsets = new Map();
    for (const [topic, partitions] of state ?? []) next.set(topic, new Map(partitions));
    for (const o of offsets) {
      let partitions = next.get(o.topic);
      if (!partitions) next.set(o.topic, (partitions = new Map()));
      partitions.set(o.partition, { offset: o.offset, metadata: o.metadata ?? '', commitTimestamp: now });
    }
    state = next;
    this.groups.set(group, state);
    const previous = this.writes.get(group) ?? Promise.resolve();
    const write = previous
      .catch(() => {})
      .then(() => writeFileAtomic(this.fileOf(group), serialise(group, this.groups.get(group)!)));
    this.writes.set(group, write);
    await write;
  }

  fetch(group: string): Map<string, Map<number, CommittedOffset>> {
    const state = this.groups.get(group);
    const copy: GroupOffsets = new Map();
    for (const [topic, partitions] of state ?? []) copy.set(topic, new Map(partitions));
    return copy;
  }

  fetchOne(group: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.groups.get(group)?.get(topic)?.get(partition);
  }

  listGroups(): string[] {
    return [...this.groups.keys()].sort();
  }

  async deleteGroup(group: string): Promise<void> {
    this.groups.delete(group);
    await (this.writes.get(group) ?? Promise.resolve()).catch(() => {});
    await fs.promises.rm(this.fileOf(group), { force: true });
  }

  /** Drops a deleted topic's offsets from every group. */
  async forgetTopic(topic: string): Promise<void> {
    const touched = [...this.groups].filter(([, offsets]) => offsets.has(topic));
    for (const [group, offsets] of touched) {
      offsets.delete(topic);
      await writeFileAtomic(this.fileOf(group), serialise(group, offsets));
    }
  }

  private fileOf(group: string): string {
    return path.join(this.dir, `${Buffer.from(group).toString('base64url')}.json`);
  }
}

function validateGroup(group: string): void {
  if (typeof group !== 'string' || group.length === 0 || group.length > 255) {
    throw new SluiceError(
      'INVALID_GROUP_ID',
      `invalid consumer group id ${JSON.stringify(group)}: 1 to 255 characters`,
      {
        group,
      },
    );
  }
}

function serialise(group: string, offsets: GroupOffsets): string {
  const file: GroupFile = { group, offsets: {} };
  for (const [topic, partitions] of offsets) {
    file.offsets[topic] = Object.fromEntries([...partitions].map(([p, o]) => [String(p), o]));
  }
  return JSON.stringify(file);
}
