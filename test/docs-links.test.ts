// Every relative link in README.md and docs/*.md resolves: `[text](path)` to an existing file or folder (relative to
// the linking file), and every `#anchor` — `(path#anchor)` or same-file `(#anchor)` — to a heading of the target
// markdown file (GitHub's slugs: lower case, spaces to '-', punctuation other than '-' and '_' removed, duplicates
// suffixed -1, -2, ...) or an explicit `<a id="…">` / `name="…"` anchor. External links (a scheme such as http:,
// https:, mailto:) are not checked; links in fenced code blocks, inline code and HTML comments are ignored.
// Also: bench/history.jsonl (the benchmark runs docs/benchmarks.md no longer shows) parses, one entry a line.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '..');

/** The markdown files whose links are checked: README.md and docs/*.md. */
function linkingFiles(): string[] {
  const docs = fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => path.join(ROOT, 'docs', f));
  return [path.join(ROOT, 'README.md'), ...docs];
}

/** Blanks out `text[from, to)`, keeping newlines (so that offsets and line numbers stay as they were). */
function blank(text: string, from: number, to: number): string {
  return text.slice(0, from) + text.slice(from, to).replace(/[^\n]/g, ' ') + text.slice(to);
}

/** Blanks fenced code blocks (``` and ~~~, also indented in lists) and HTML comments. */
function maskBlocks(text: string): string {
  const lines = text.split('\n');
  let fence: { char: string; length: number } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const open = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence) {
      const close = /^\s*(`{3,}|~{3,})\s*$/.exec(line);
      if (close && close[1]![0] === fence.char && close[1]!.length >= fence.length) fence = null;
      lines[i] = ' '.repeat(line.length);
    } else if (open && !(open[1]![0] === '`' && line.slice(open.index + open[0].length).includes('`'))) {
      fence = { char: open[1]![0]!, length: open[1]!.length };
      lines[i] = ' '.repeat(line.length);
    }
  }
  let out = lines.join('\n');
  for (const m of [...out.matchAll(/<!--[\s\S]*?-->/g)]) out = blank(out, m.index, m.index + m[0].length);
  return out;
}

/** Blanks code blocks, comments and inline code spans (`x`, ``x``): what is left is where links can be. */
function maskCode(text: string): string {
  let out = maskBlocks(text);
  // A code span: a run of backticks, then anything (within a paragraph) up to a run of the same length.
  for (const m of [...out.matchAll(/(?<!`)(`+)(?!`)([\s\S]*?[^`])\1(?!`)/g)]) {
    if (/\n\s*\n/.test(m[0])) continue; // a code span does not cross a blank line
    out = blank(out, m.index, m.index + m[0].length);
  }
  return out;
}

/** GitHub's slug of a heading's text (github-slugger, before duplicate suffixes). */
function slug(heading: string): string {
  const rendered = heading
    .replace(/<[^>]*>/g, '') // HTML tags (an <a id> anchor in the heading)
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .trim();
  return rendered
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

const anchorCache = new Map<string, Set<string>>();

/** The anchors a markdown text defines: its headings' slugs (duplicates numbered) and explicit id/name anchors. */
function anchorsIn(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const text = maskBlocks(markdown);
  const occurrences = new Map<string, number>();
  for (const line of text.split('\n')) {
    const heading = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1] ?? '');
    let result = base;
    while (occurrences.has(result)) {
      const n = occurrences.get(base)! + 1;
      occurrences.set(base, n);
      result = `${base}-${n}`;
    }
    occurrences.set(result, 0);
    anchors.add(result);
  }
  for (const m of text.matchAll(/<[a-zA-Z][^>]*?\s(?:id|name)\s*=\s*["']([^"']+)["']/g)) anchors.add(m[1]!);
  return anchors;
}

function anchorsOf(file: string): Set<string> {
  let anchors = anchorCache.get(file);
  if (!anchors) anchorCache.set(file, (anchors = anchorsIn(fs.readFileSync(file, 'utf8'))));
  return anchors;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

/** Every inline link and image `[text](target "title")` and reference definition `[x]: target` outside code. */
function linksIn(file: string): Link[] {
  const text = maskCode(fs.readFileSync(file, 'utf8'));
  const lineAt = (offset: number) => text.slice(0, offset).split('\n').length;
  const links: Link[] = [];
  const inline = /\]\(\s*(<[^>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
  for (const m of text.matchAll(inline)) {
    const target = m[1]!.replace(/^<(.*)>$/, '$1');
    links.push({ file, line: lineAt(m.index + 2), target });
  }
  for (const m of text.matchAll(/^ {0,3}\[[^\]\n]+\]:[ \t]*(<[^>\n]*>|\S+)/gm)) {
    links.push({ file, line: lineAt(m.index), target: m[1]!.replace(/^<(.*)>$/, '$1') });
  }
  return links;
}

/** Why `link` does not resolve, or null when it does (or is external). */
function brokenBecause(link: Link): string | null {
  const { target } = link;
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(target) || target.startsWith('//')) return null; // http:, mailto:, ...
  const hash = target.indexOf('#');
  const filePart = hash === -1 ? target : target.slice(0, hash);
  const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
  const resolved = filePart === '' ? link.file : path.resolve(path.dirname(link.file), decodeURIComponent(filePart));
  if (!fs.existsSync(resolved)) return 'no such file';
  if (anchor === null) return null;
  if (!resolved.endsWith('.md') || fs.statSync(resolved).isDirectory()) return null; // e.g. a line of source
  if (anchor === '' || !anchorsOf(resolved).has(anchor)) return `no heading or anchor #${anchor}`;
  return null;
}

test('slugs follow GitHub', () => {
  assert.equal(slug('Performance (`npm run bench -- engine`)'), 'performance-npm-run-bench----engine');
  assert.equal(slug('Scale-out'), 'scale-out');
  assert.equal(slug('What each sink guarantees'), 'what-each-sink-guarantees');
  assert.equal(slug('Node.js versions'), 'nodejs-versions');
  assert.equal(slug('1 → 2 threads: ×1.7, snake_case'), '1--2-threads-17-snake_case');
  assert.equal(slug('See [the log](log.md)'), 'see-the-log');
  const anchors = anchorsIn(
    '# A\n## Figures\n```\n# Not a heading\n```\n### Figures\n## Figures-1\n- <a id="x"></a>item\n',
  );
  assert.deepEqual([...anchors], ['a', 'figures', 'figures-1', 'figures-1-1', 'x']);
});

test('every relative link in README.md and docs/*.md resolves', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of linkingFiles()) {
    for (const link of linksIn(file)) {
      checked++;
      const why = brokenBecause(link);
      if (why) broken.push(`${path.relative(ROOT, link.file)}:${link.line} → ${link.target} (${why})`);
    }
  }
  assert.ok(checked > 50, `only ${checked} links found: is the link parser broken?`);
  assert.ok(broken.length === 0, `${broken.length} broken link(s):\n${broken.join('\n')}`);
});

test('bench/history.jsonl: one benchmark run per line', () => {
  const lines = fs.readFileSync(path.join(ROOT, 'bench', 'history.jsonl'), 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  assert.ok(lines.length > 0);
  lines.forEach((line, i) => {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line);
    } catch (error) {
      assert.fail(`bench/history.jsonl:${i + 1}: ${(error as Error).message}`);
    }
    assert.equal(typeof entry.benchmark, 'string', `bench/history.jsonl:${i + 1}: benchmark`);
    assert.equal(typeof entry.label, 'string', `bench/history.jsonl:${i + 1}: label`);
    assert.equal(typeof entry.figures, 'object', `bench/history.jsonl:${i + 1}: figures`);
  });
});
