// The checked-in generated/ is exactly what the generator writes from spec/ (nobody edits it by hand), and the
// generator reads the specs as Kafka's own generator does (comments stripped, every served field kept).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generate, SERVED, stripComments } from './generate.ts';
import { APIS } from './index.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('the message generator', () => {
  it('wrote the checked-in generated files (run `node src/kafka/protocol/generate.ts` after a change)', () => {
    const files = generate(path.join(here, 'spec'));
    const onDisk = fs.readdirSync(path.join(here, 'generated')).map((f) => `generated/${f}`);
    assert.deepEqual(onDisk.sort(), [...files.keys()].sort());
    for (const [file, text] of files) {
      assert.equal(fs.readFileSync(path.join(here, file), 'utf8'), text, `${file} differs from the generator's output`);
    }
  });

  it('vendors exactly the specs of the APIs it serves', () => {
    const specs = fs.readdirSync(path.join(here, 'spec')).filter((f) => f.endsWith('.json') && f !== 'biome.json');
    const expected = SERVED.flatMap(([name]) => [`${name}Request.json`, `${name}Response.json`]);
    assert.deepEqual(specs.sort(), expected.sort());
  });

  it('generates an API for each served entry, at its versions', () => {
    const byName = new Map([...APIS.values()].map((api) => [api.name, api]));
    for (const [name, min, max] of SERVED) {
      assert.deepEqual([byName.get(name)?.minVersion, byName.get(name)?.maxVersion], [min, max], name);
    }
    assert.equal(APIS.size, SERVED.length);
  });

  it('strips comments but not comment-like text inside strings', () => {
    const json = stripComments('// head\n{ "a": "http://x // y", /* b */ "c": "\\"//" } // tail');
    assert.deepEqual(JSON.parse(json), { a: 'http://x // y', c: '"//' });
  });
});
