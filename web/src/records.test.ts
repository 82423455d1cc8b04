// How the message browser shows a record's bytes: JSON re-indented exactly as stored, text as it is, binary as hex.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { RecordBytesJson } from '../../src/http/api.ts';
import { reindent, showBytes } from './records.ts';

const utf8 = (data: string, truncated = false, size = data.length): RecordBytesJson => ({
  encoding: 'utf8',
  data,
  size,
  truncated,
});

describe('showBytes', () => {
  it('pretty-prints a JSON object, keeping numbers exactly as stored', () => {
    const shown = showBytes(utf8('{"id":12345678901234567890,"price":0.10,"tags":["a","b"],"empty":{},"s":"x,{y}"}'));
    assert.equal(shown.kind, 'json');
    assert.equal(
      shown.full,
      [
        '{',
        '  "id": 12345678901234567890,',
        '  "price": 0.10,',
        '  "tags": [',
        '    "a",',
        '    "b"',
        '  ],',
        '  "empty": {},',
        '  "s": "x,{y}"',
        '}',
      ].join('\n'),
    );
    assert.equal(
      shown.preview,
      '{"id": 12345678901234567890, "price": 0.10, "tags": ["a", "b"], "empty": {}, "s": "x,{y}"}',
    );
  });

  it('shows other text as it is, in one line as a preview', () => {
    assert.deepEqual(showBytes(utf8('hello\nworld')), {
      kind: 'text',
      preview: 'hello world',
      full: 'hello\nworld',
      note: '',
    });
    assert.equal(showBytes(utf8('42')).kind, 'text', 'a bare number is not worth re-indenting');
    assert.equal(showBytes(utf8('{not json')).kind, 'text');
    const long = showBytes(utf8('x'.repeat(500)));
    assert.equal(long.preview.length, 120);
    assert.ok(long.preview.endsWith('…'));
  });

  it('does not re-indent JSON the server cut short, and says how much is shown', () => {
    const shown = showBytes(utf8('{"a":1', true, 20_000));
    assert.equal(shown.kind, 'text');
    assert.equal(shown.note, 'first 6 of 20000 bytes');
  });

  it('shows binary as hex bytes, 16 a line', () => {
    const shown = showBytes({ encoding: 'hex', data: '00ff10'.repeat(6), size: 18, truncated: false });
    assert.equal(shown.kind, 'hex');
    assert.equal(shown.full, `${'00 ff 10 '.repeat(5)}00\nff 10`);
    assert.equal(shown.preview, '00 ff 10 '.repeat(6).trim());
  });

  it('shows null as null', () => {
    assert.equal(showBytes(null).kind, 'null');
  });
});

describe('reindent', () => {
  it('keeps the JSON value: parsing the re-indented text gives what parsing the original gives', () => {
    fc.assert(
      fc.property(fc.json(), fc.constantFrom(0, 2, 4), (json, indent) => {
        assert.deepEqual(JSON.parse(reindent(json, indent)), JSON.parse(json));
      }),
    );
  });
});
