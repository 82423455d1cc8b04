// A record's bytes as the message browser shows them: JSON re-indented (from its own text, so that a 64-bit id or
// 0.10 reads exactly as stored), other text as it is, binary as hex bytes 16 to a line; and a one-line preview.
import type { RecordBytesJson } from '../../src/http/api.ts';

export interface ShownBytes {
  kind: 'null' | 'json' | 'text' | 'hex';
  /** One line, at most PREVIEW characters. */
  preview: string;
  /** All of what the server sent, laid out for reading. */
  full: string;
  /** "16 KiB of 20 KiB shown" when the server cut them, else ''. */
  note: string;
}

const PREVIEW = 120;

export function showBytes(bytes: RecordBytesJson | null): ShownBytes {
  if (bytes === null) return { kind: 'null', preview: 'null', full: 'null', note: '' };
  const shownSize = bytes.encoding === 'hex' ? bytes.data.length / 2 : new TextEncoder().encode(bytes.data).length;
  const note = bytes.truncated ? `first ${shownSize} of ${bytes.size} bytes` : '';
  if (bytes.encoding === 'hex') {
    const pairs = bytes.data.match(/../g) ?? [];
    const lines: string[] = [];
    for (let i = 0; i < pairs.length; i += 16) lines.push(pairs.slice(i, i + 16).join(' '));
    return { kind: 'hex', preview: cut(pairs.join(' ')), full: lines.join('\n'), note };
  }
  // Only whole JSON objects and arrays are re-indented: "42" or "true" are as readable as they are.
  const text = bytes.data;
  if (!bytes.truncated && /^\s*[[{]/.test(text) && isJson(text)) {
    return { kind: 'json', preview: cut(reindent(text, 0)), full: reindent(text, 2), note };
  }
  return { kind: 'text', preview: cut(text.replace(/\s+/g, ' ')), full: text, note };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function cut(line: string): string {
  return line.length > PREVIEW ? `${line.slice(0, PREVIEW - 1)}…` : line;
}

/**
 * Valid JSON laid out again without parsing its values: `indent` spaces a level (0: one compact line). Numbers and
 * strings are copied character for character, so nothing is rounded or re-escaped.
 */
export function reindent(json: string, indent: number): string {
  let out = '';
  let depth = 0;
  let i = 0;
  const newline = () => (indent > 0 ? `\n${' '.repeat(depth * indent)}` : '');
  while (i < json.length) {
    const c = json[i]!;
    if (c === '"') {
      // A string, escapes included, as it is.
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      out += json.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') {
      i++;
      continue;
    }
    if (c === '{' || c === '[') {
      // An empty object or array stays on its line.
      let j = i + 1;
      while (j < json.length && /\s/.test(json[j]!)) j++;
      if (json[j] === (c === '{' ? '}' : ']')) {
        out += c === '{' ? '{}' : '[]';
        i = j + 1;
        continue;
      }
      depth++;
      out += c + newline();
    } else if (c === '}' || c === ']') {
      depth--;
      out += newline() + c;
    } else if (c === ',') {
      out += indent > 0 ? `,${newline()}` : ', ';
    } else if (c === ':') {
      out += ': ';
    } else {
      out += c;
    }
    i++;
  }
  return out;
}
