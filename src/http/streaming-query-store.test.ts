// The streaming queries' definition files: a definition reads back as written; a torn file, a changed byte, another
// version, a missing field or another query's name are each refused with CORRUPT_CHECKPOINT naming the file and why;
// load() reads them all (a damaged one as its error), removes interrupted writes and checkpoints without a
// definition; remove() takes the definition and the checkpoints.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { decodeQuery, encodeQuery, type StoredQuery, StreamingQueryStore } from './streaming-query-store.ts';

const QUERY: StoredQuery = {
  name: 'per_key',
  sql: "CREATE TABLE t (k VARCHAR);\nCREATE MATERIALIZED VIEW per_key AS SELECT k, count(*) AS n FROM t GROUP BY k; -- 'é'",
  startedAt: 1_700_000_000_000,
  tables: ['per_key'],
  topics: [],
  resumes: 2,
};

function refusal(text: string, name = 'per_key'): string {
  try {
    decodeQuery(text, '/d/per_key.json', name);
  } catch (error) {
    assert.equal((error as { code?: string }).code, 'CORRUPT_CHECKPOINT');
    return (error as Error).message;
  }
  assert.fail('accepted');
}

describe('streaming query definitions', () => {
  it('read back as written, and refuse damage saying what it is', () => {
    const text = encodeQuery(QUERY);
    assert.deepEqual(decodeQuery(text, '/d/per_key.json', 'per_key'), QUERY);
    // Whitespace does not matter (the checksum is over the query), a changed value does.
    assert.deepEqual(decodeQuery(JSON.stringify(JSON.parse(text), null, 2), 'f', 'per_key'), QUERY);
    assert.match(refusal(text.slice(0, 40)), /^its definition d[/\\]per_key\.json is not valid JSON/);
    assert.match(refusal(text.replace('"resumes":2', '"resumes":3')), /fails its checksum/);
    assert.match(refusal(text.replace('"version":1', '"version":2')), /has version 2 \(this Sluice reads 1\)/);
    assert.match(refusal('{"something":"else"}'), /is not a streaming query definition/);
    assert.match(refusal(text, 'other'), /names another query \("per_key"\)/);
    const { resumes: _, ...partial } = QUERY;
    assert.match(refusal(encodeQuery(partial as StoredQuery)), /lacks a field/);
  });

  it('load every file, tidy leftovers, and remove a query with its checkpoints', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-query-store-'));
    try {
      const store = new StreamingQueryStore(dataDir);
      assert.deepEqual(await store.load(), []);
      await store.save(QUERY);
      await store.save({ ...QUERY, name: 'second' });
      fs.mkdirSync(store.checkpointDirOf('per_key'));
      fs.mkdirSync(store.checkpointDirOf('orphan'));
      fs.writeFileSync(path.join(store.dir, 'second.json.tmp-1-x'), '{');
      fs.writeFileSync(store.fileOf('torn'), '{"format":"sluice.stre');
      // Not a query's: left alone.
      fs.writeFileSync(path.join(store.dir, '..json'), '{');
      fs.writeFileSync(path.join(store.dir, 'README.txt'), 'notes');
      fs.mkdirSync(path.join(store.dir, 'Mine.d'));
      fs.mkdirSync(path.join(store.dir, 'per_key.old'));
      const loaded = await store.load();
      assert.deepEqual(
        loaded.map((l) => [l.name, 'error' in l ? l.error.code : l.query.name]),
        [
          ['per_key', 'per_key'],
          ['second', 'second'],
          ['torn', 'CORRUPT_CHECKPOINT'],
        ],
      );
      const others = ['..json', 'Mine.d', 'README.txt', 'per_key.old'];
      assert.deepEqual(
        fs.readdirSync(store.dir).sort(),
        [...others, 'per_key', 'per_key.json', 'second.json', 'torn.json'].sort(),
      );
      await store.remove('per_key');
      assert.deepEqual(fs.readdirSync(store.dir).sort(), [...others, 'second.json', 'torn.json'].sort());
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
