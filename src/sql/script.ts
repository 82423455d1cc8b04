// The pre-pass of a SQL script, ours: splitting it into statements, positions as line:column, the DDL grammar
// (CREATE TABLE … WATERMARK … WITH (…), which DuckDB's parser does not know) and the position-preserving rewrite of
// Flink's window TVF call syntax into one DuckDB parses. Queries themselves go to DuckDB (parser.ts).
import { SluiceError } from '../errors.ts';
import { type SqlType, sqlTypeOf } from './types.ts';

/** A script's text, to turn offsets into line:column in error messages. */
export class SqlSource {
  readonly text: string;
  private readonly lineStarts: number[] = [0];

  constructor(text: string) {
    this.text = text;
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.lineStarts.push(i + 1);
  }

  /** 1-based line and column of a character offset. */
  position(offset: number): { line: number; column: number } {
    const at = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: at - this.lineStarts[lo]! + 1 };
  }

  /** An INVALID_SQL (or UNSUPPORTED_SQL) error whose message ends with the position: `… (at line 3, column 7)`. */
  error(offset: number, message: string, unsupported = false): SluiceError {
    const { line, column } = this.position(offset);
    return new SluiceError(
      unsupported ? 'UNSUPPORTED_SQL' : 'INVALID_SQL',
      `${message} (at line ${line}, column ${column})`,
      { line, column },
    );
  }

  unsupported(offset: number, construct: string, hint = ''): SluiceError {
    return this.error(offset, `${construct} is not supported by streaming SQL${hint ? `: ${hint}` : ''}`, true);
  }
}

export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'symbol';

export interface Token {
  kind: TokenKind;
  /** A word's or identifier's name, a string's contents, a number's digits, a symbol. */
  value: string;
  /** Offset in the script. */
  start: number;
  end: number;
}

/** Tokens of `text` from `from` to `to` (comments and whitespace skipped), for the statement splitter and the DDL. */
export function tokenize(source: SqlSource, from = 0, to = source.text.length): Token[] {
  const text = source.text;
  const tokens: Token[] = [];
  let i = from;
  while (i < to) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && text[i + 1] === '-') {
      while (i < to && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      if (close < 0 || close >= to) throw source.error(i, 'unterminated comment');
      i = close + 2;
    } else if (c === "'" || c === '"' || c === '`') {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        if (i >= to) throw source.error(start, `unterminated ${c === "'" ? 'string' : 'quoted identifier'}`);
        if (text[i] === c) {
          if (text[i + 1] === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i++];
      }
      tokens.push({ kind: c === "'" ? 'string' : 'quoted', value, start, end: i });
    } else if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < to && /[A-Za-z0-9_$]/.test(text[i]!)) i++;
      tokens.push({ kind: 'word', value: text.slice(start, i), start, end: i });
    } else if (/[0-9]/.test(c)) {
      const start = i;
      while (i < to && /[0-9.]/.test(text[i]!)) i++;
      tokens.push({ kind: 'number', value: text.slice(start, i), start, end: i });
    } else {
      tokens.push({ kind: 'symbol', value: c, start: i, end: i + 1 });
      i++;
    }
  }
  return tokens;
}

/** One statement of a script: its tokens, and where it starts and ends in the script. */
export interface Statement {
  tokens: Token[];
  start: number;
  end: number;
}

/** Splits a script at the semicolons outside strings and comments; empty statements are dropped. */
export function splitStatements(source: SqlSource): Statement[] {
  const statements: Statement[] = [];
  let current: Token[] = [];
  const flush = (end: number) => {
    if (current.length > 0) statements.push({ tokens: current, start: current[0]!.start, end });
    current = [];
  };
  for (const token of tokenize(source)) {
    if (token.kind === 'symbol' && token.value === ';') flush(token.start);
    else current.push(token);
  }
  flush(source.text.length);
  return statements;
}

export const isWord = (token: Token | undefined, ...words: string[]): boolean =>
  token?.kind === 'word' && words.includes(token.value.toUpperCase());

// ---- CREATE TABLE ----

export interface ColumnDef {
  name: string;
  type: SqlType;
  notNull: boolean;
  at: number;
}

export interface TableDef {
  name: string;
  columns: ColumnDef[];
  /** The event-time column and the bound of its watermark (`WATERMARK FOR ts AS ts - INTERVAL '5' SECOND`). */
  watermark?: { column: string; boundMs: number; at: number };
  /** `PRIMARY KEY (id) NOT ENFORCED`: no two rows of the table have equal values of these columns (the writer's
   * promise, not checked): a regular join on them keeps the other side's rows only until the key's row came. */
  primaryKey?: string[];
  topic: string;
  /** Partitions to create the topic with when it is missing (WITH ('partitions' = '3'); default 1). */
  partitions: number;
  /** A column whose value keys the records written to this table's topic. */
  key?: string;
  /** Where a source starts: 'earliest-offset' (default) or 'latest-offset' (Flink's scan.startup.mode). */
  startup: 'earliest' | 'latest';
  /** How long a window over this table keeps firing updates after it closed (`'allowed.lateness' = '30 s'`). */
  allowedLatenessMs: number;
  /** The topic that records too late for a window over this table go to (`'late.topic' = 'x'`). */
  lateTopic?: string;
  at: number;
  /** A relation computed by a query of the script (a subquery in FROM, a view, a WITH query), not a topic. */
  derived?: DerivedRelation;
}

/** What a derived relation is built from, and which of its columns still tell its rows' event time. */
export interface DerivedRelation {
  /** The query (a planner QueryPlan; typed loosely here to keep the DDL free of the planner). */
  query: unknown;
  /** Columns whose value is the row's event time plus a constant (window_end of a window result is its time
   * + 1 ms): what joins and GROUP BYs over the relation may use as time. */
  times: Map<string, number>;
  /** A PROCTIME() column: windows over it are windows of processing time. */
  proctime?: string;
  /** The columns the query reading the relation uses (filled as it is planned): the others are not computed. */
  used: Set<string>;
}

/** WITH options Flink's Kafka tables carry that mean nothing here; accepted and ignored. */
const IGNORED_OPTIONS = /^(connector|properties\..*|scan\.topic-partition-discovery\.interval|value\.format|sink\..*)$/;

/** A tiny recursive-descent parser over one statement's tokens. */
class Cursor {
  private i = 0;
  readonly source: SqlSource;
  readonly statement: Statement;

  constructor(source: SqlSource, statement: Statement) {
    this.source = source;
    this.statement = statement;
  }

  peek(ahead = 0): Token | undefined {
    return this.statement.tokens[this.i + ahead];
  }

  get offset(): number {
    return this.peek()?.start ?? this.statement.end;
  }

  next(what: string): Token {
    const token = this.peek();
    if (!token) throw this.source.error(this.statement.end, `expected ${what} but the statement ended`);
    this.i++;
    return token;
  }

  word(...words: string[]): Token {
    const token = this.next(words.join(' or '));
    if (!isWord(token, ...words))
      throw this.source.error(token.start, `expected ${words.join(' or ')}, got ${show(token)}`);
    return token;
  }

  symbol(symbol: string): Token {
    const token = this.next(`'${symbol}'`);
    if (token.kind !== 'symbol' || token.value !== symbol) {
      throw this.source.error(token.start, `expected '${symbol}', got ${show(token)}`);
    }
    return token;
  }

  accept(symbolOrWord: string): boolean {
    const token = this.peek();
    if (!token) return false;
    const matches = token.kind === 'symbol' ? token.value === symbolOrWord : isWord(token, symbolOrWord.toUpperCase());
    if (matches) this.i++;
    return matches;
  }

  identifier(what: string): Token {
    const token = this.next(what);
    if (token.kind !== 'word' && token.kind !== 'quoted') {
      throw this.source.error(token.start, `expected ${what}, got ${show(token)}`);
    }
    return token;
  }

  /** `CREATE <words> [IF NOT EXISTS] name`: the name. */
  createHeader(words: string[], what: string): Token {
    this.word('CREATE');
    for (const word of words) this.word(word);
    if (isWord(this.peek(), 'IF')) {
      this.word('IF');
      this.word('NOT');
      this.word('EXISTS');
    }
    return this.identifier(what);
  }

  end(): void {
    const token = this.peek();
    if (token) throw this.source.error(token.start, `unexpected ${show(token)} after the end of the statement`);
  }
}

function show(token: Token): string {
  return token.kind === 'string' ? `'${token.value}'` : `"${token.value}"`;
}

/** `CREATE TABLE name (col TYPE [NOT NULL], …, [WATERMARK FOR col AS col - INTERVAL 'n' UNIT]) [WITH (k = v, …)]` */
export function parseCreateTable(source: SqlSource, statement: Statement): TableDef {
  const c = new Cursor(source, statement);
  const nameToken = c.createHeader(['TABLE'], 'a table name');
  const table: TableDef = {
    name: nameToken.value,
    columns: [],
    topic: nameToken.value,
    partitions: 1,
    startup: 'earliest',
    allowedLatenessMs: 0,
    at: nameToken.start,
  };
  c.symbol('(');
  do {
    const token = c.peek();
    if (isWord(token, 'WATERMARK')) {
      table.watermark = parseWatermark(c, table);
    } else if (isWord(token, 'PRIMARY', 'CONSTRAINT')) {
      if (c.accept('CONSTRAINT')) c.identifier('a constraint name');
      const at = c.word('PRIMARY').start;
      c.word('KEY');
      c.symbol('(');
      const columns: Token[] = [];
      do columns.push(c.identifier('a column name'));
      while (c.accept(','));
      c.symbol(')');
      setPrimaryKey(c, table, columns, at);
    } else if (isWord(token, 'LIKE')) {
      throw source.unsupported(token!.start, `${token!.value.toUpperCase()} in CREATE TABLE`);
    } else {
      const name = c.identifier('a column name');
      if (table.columns.some((col) => col.name === name.value)) {
        throw source.error(name.start, `column "${name.value}" is declared twice`);
      }
      if (isWord(c.peek(), 'AS')) throw source.unsupported(c.offset, 'a computed column (name AS expression)');
      const typeToken = c.identifier('a column type');
      let typeName = typeToken.value.toUpperCase();
      if (c.accept('(')) {
        while (!c.accept(')')) c.next("')'");
      }
      if (typeName === 'DOUBLE' && isWord(c.peek(), 'PRECISION')) c.next('PRECISION');
      if (typeName === 'TIMESTAMP' && isWord(c.peek(), 'WITH', 'WITHOUT')) {
        while (!isWord(c.peek(), 'ZONE')) c.next('ZONE');
        c.next('ZONE');
      }
      const type = sqlTypeOf(typeName);
      if (!type) throw source.unsupported(typeToken.start, `the column type ${typeName}`);
      typeName = type;
      let notNull = false;
      if (isWord(c.peek(), 'NOT')) {
        c.word('NOT');
        c.word('NULL');
        notNull = true;
      } else if (isWord(c.peek(), 'NULL')) {
        c.word('NULL');
      }
      table.columns.push({ name: name.value, type, notNull, at: name.start });
      if (isWord(c.peek(), 'PRIMARY')) {
        const at = c.word('PRIMARY').start;
        c.word('KEY');
        setPrimaryKey(c, table, [name], at);
      }
    }
  } while (c.accept(','));
  c.symbol(')');
  if (c.accept('WITH')) parseOptions(c, table);
  c.end();
  if (table.columns.length === 0) throw source.error(table.at, `table ${table.name} declares no columns`);
  return table;
}

/** `… PRIMARY KEY NOT ENFORCED` (Flink's syntax: a key the table's writer promises, which nothing checks). */
function setPrimaryKey(c: Cursor, table: TableDef, columns: Token[], at: number): void {
  if (!isWord(c.peek(), 'NOT') || !isWord(c.peek(1), 'ENFORCED')) {
    throw c.source.unsupported(at, 'an enforced PRIMARY KEY', 'write PRIMARY KEY (column) NOT ENFORCED');
  }
  c.word('NOT');
  c.word('ENFORCED');
  if (table.primaryKey) throw c.source.error(at, `table ${table.name} declares two primary keys`);
  for (const column of columns) {
    if (!table.columns.some((col) => col.name === column.value)) {
      throw c.source.error(column.start, `unknown column "${column.value}" in PRIMARY KEY`);
    }
  }
  table.primaryKey = columns.map((column) => column.value);
}

function parseWatermark(c: Cursor, table: TableDef): TableDef['watermark'] {
  const at = c.word('WATERMARK').start;
  if (table.watermark) throw c.source.error(at, `table ${table.name} declares two watermarks`);
  c.word('FOR');
  const column = c.identifier('the event-time column');
  const declared = table.columns.find((col) => col.name === column.value);
  if (!declared) throw c.source.error(column.start, `unknown column "${column.value}" in WATERMARK FOR`);
  if (declared.type !== 'TIMESTAMP' && declared.type !== 'BIGINT') {
    throw c.source.error(
      column.start,
      `the event-time column "${column.value}" must be a TIMESTAMP or BIGINT (epoch ms)`,
    );
  }
  c.word('AS');
  const same = c.identifier(`"${column.value}"`);
  if (same.value !== column.value) {
    throw c.source.unsupported(
      same.start,
      'a watermark expression other than the column minus an interval',
      `write WATERMARK FOR ${column.value} AS ${column.value} - INTERVAL '5' SECOND`,
    );
  }
  let boundMs = 0;
  if (c.accept('-')) boundMs = parseInterval(c);
  else if (c.peek() && !(c.peek()!.kind === 'symbol' && [',', ')'].includes(c.peek()!.value))) {
    throw c.source.unsupported(c.offset, 'a watermark expression other than the column minus an interval');
  }
  return { column: column.value, boundMs, at };
}

const UNIT_MS: Record<string, number> = {
  MILLISECOND: 1,
  MILLISECONDS: 1,
  SECOND: 1000,
  SECONDS: 1000,
  MINUTE: 60_000,
  MINUTES: 60_000,
  HOUR: 3_600_000,
  HOURS: 3_600_000,
  DAY: 86_400_000,
  DAYS: 86_400_000,
  MS: 1,
  S: 1000,
  MIN: 60_000,
  H: 3_600_000,
  D: 86_400_000,
};

/** Milliseconds of `n UNIT` ('10 seconds', or 10 with unit SECOND); undefined when not an interval we know. */
export function intervalMillis(amount: string, unit?: string): number | undefined {
  let text = amount.trim();
  let name = unit?.toUpperCase();
  if (name === undefined) {
    const match = /^(-?[0-9.]+)\s*([A-Za-z]+)$/.exec(text);
    if (!match) return undefined;
    text = match[1]!;
    name = match[2]!.toUpperCase();
  }
  const scale = UNIT_MS[name];
  const n = Number(text);
  if (scale === undefined || text === '' || !Number.isFinite(n)) return undefined;
  return n * scale;
}

function parseInterval(c: Cursor): number {
  const at = c.word('INTERVAL').start;
  const amount = c.next('an interval');
  if (amount.kind !== 'string' && amount.kind !== 'number') {
    throw c.source.error(amount.start, `expected an interval like INTERVAL '5' SECOND, got ${show(amount)}`);
  }
  const unit = c.peek()?.kind === 'word' && UNIT_MS[c.peek()!.value.toUpperCase()] ? c.next('a unit').value : undefined;
  const ms = intervalMillis(amount.value, unit);
  if (ms === undefined || ms < 0)
    throw c.source.error(at, `not an interval: INTERVAL '${amount.value}'${unit ? ` ${unit}` : ''}`);
  return ms;
}

function parseOptions(c: Cursor, table: TableDef): void {
  readOptions(c, (name, value) => applyOption(c.source, table, name, value));
}

/** `(name = value, …)`; names may be quoted or dotted words, values strings, numbers or words. */
function readOptions(c: Cursor, apply: (name: string, value: Token) => void): void {
  c.symbol('(');
  do {
    const key = c.next('an option name');
    if (key.kind !== 'string' && key.kind !== 'word' && key.kind !== 'quoted') {
      throw c.source.error(key.start, `expected an option name, got ${show(key)}`);
    }
    let name = key.value;
    while (key.kind === 'word' && c.accept('.')) name += `.${c.identifier('an option name').value}`;
    c.symbol('=');
    const value = c.next('an option value');
    if (value.kind !== 'string' && value.kind !== 'number' && value.kind !== 'word') {
      throw c.source.error(value.start, `expected a value for option '${name}', got ${show(value)}`);
    }
    apply(name, value);
  } while (c.accept(','));
  c.symbol(')');
}

function partitionsOption(source: SqlSource, value: Token): number {
  const n = Number(value.value);
  if (!Number.isInteger(n) || n < 1) throw source.error(value.start, `'partitions' must be a positive integer`);
  return n;
}

function applyOption(source: SqlSource, table: TableDef, name: string, value: Token): void {
  const v = value.value;
  switch (name) {
    case 'topic':
      table.topic = v;
      return;
    case 'format':
    case 'value.format':
      if (v !== 'json') throw source.unsupported(value.start, `format '${v}'`, "only 'json' is");
      return;
    case 'partitions': {
      table.partitions = partitionsOption(source, value);
      return;
    }
    case 'key':
      if (!table.columns.some((col) => col.name === v)) {
        throw source.error(value.start, `option 'key' names unknown column "${v}"`);
      }
      table.key = v;
      return;
    case 'scan.startup.mode':
      if (v !== 'earliest-offset' && v !== 'latest-offset') {
        throw source.unsupported(value.start, `scan.startup.mode '${v}'`, "'earliest-offset' and 'latest-offset' are");
      }
      table.startup = v === 'earliest-offset' ? 'earliest' : 'latest';
      return;
    case 'allowed.lateness': {
      const ms = intervalMillis(v);
      if (ms === undefined || ms < 0) {
        throw source.error(value.start, `'allowed.lateness' must be a duration such as '30 s', got '${v}'`);
      }
      table.allowedLatenessMs = ms;
      return;
    }
    case 'late.topic':
      if (v === '') throw source.error(value.start, `'late.topic' must name a topic`);
      table.lateTopic = v;
      return;
    default:
      if (IGNORED_OPTIONS.test(name)) return;
      throw source.unsupported(
        value.start,
        `the table option '${name}'`,
        'known: topic, format, partitions, key, scan.startup.mode, allowed.lateness, late.topic',
      );
  }
}

// ---- CREATE MATERIALIZED VIEW ----

/** A materialized view: a query's result kept in a serving table (and optionally written to a topic too). */
export interface ViewDef {
  name: string;
  /** The serving table's primary key (`'key' = 'window_start,key'`); by default the query's (see the planner). */
  key?: { columns: string[]; at: number };
  /** Also write each row to this topic (`'topic' = 'x'`), keyed by `topicKey` (`'topic.key' = 'column'`). */
  topic?: string;
  topicKey?: { column: string; at: number };
  /** Partitions to create the topic with when it is missing (default 1). */
  partitions: number;
  /** Drop rows older than `keepMs` by this time column (`'retention' = '1 d', 'retention.column' = 'ts'`). */
  retention?: { keepMs: number; column?: string; at: number };
  at: number;
}

/** `CREATE MATERIALIZED VIEW [IF NOT EXISTS] name [WITH (k = v, …)] AS <query>`: the view and where its query starts. */
export function parseMaterializedView(source: SqlSource, statement: Statement): { view: ViewDef; query: Token } {
  const c = new Cursor(source, statement);
  const nameToken = c.createHeader(['MATERIALIZED', 'VIEW'], 'a view name');
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(nameToken.value)) {
    throw source.error(
      nameToken.start,
      `a materialized view's name must be a plain identifier, got "${nameToken.value}"`,
    );
  }
  const view: ViewDef = { name: nameToken.value, partitions: 1, at: nameToken.start };
  if (isWord(c.peek(), 'WITH')) {
    c.word('WITH');
    readOptions(c, (name, value) => {
      const v = value.value;
      switch (name) {
        case 'key': {
          const columns = v.split(',').map((k) => k.trim());
          if (columns.some((k) => k === '')) throw source.error(value.start, `'key' lists columns: 'a,b'`);
          view.key = { columns, at: value.start };
          return;
        }
        case 'topic':
          view.topic = v;
          return;
        case 'topic.key':
          view.topicKey = { column: v, at: value.start };
          return;
        case 'partitions': {
          view.partitions = partitionsOption(source, value);
          return;
        }
        case 'retention': {
          const keepMs = intervalMillis(v);
          if (keepMs === undefined || keepMs <= 0) {
            throw source.error(value.start, `'retention' must be a duration such as '1 d', got '${v}'`);
          }
          view.retention = { ...view.retention, keepMs, at: value.start };
          return;
        }
        case 'retention.column':
          view.retention = { keepMs: 0, ...view.retention, column: v, at: value.start };
          return;
        default:
          if (name === 'connector' && v === 'serving') return;
          throw source.unsupported(
            value.start,
            `the materialized view option '${name}'`,
            'known: key, topic, topic.key, partitions, retention, retention.column',
          );
      }
    });
  }
  c.word('AS');
  const query = c.next('a query');
  return { view, query };
}

// ---- Flink's window TVF syntax ----

/**
 * Rewrites Flink's `TABLE(TUMBLE(TABLE bid, DESCRIPTOR(ts), …))` into `TUMBLE(bid, DESCRIPTOR(ts), …)` by blanking
 * characters, so that every offset DuckDB reports still points at the same place in the script (the text before
 * `from` is blanked as well).
 */
export function blankFlinkTableSyntax(
  source: SqlSource,
  from: number,
  to: number,
): { text: string; partitionBy?: { columns: { name: string; at: number }[]; at: number } } {
  // Everything before the query is blanked too: offsets in the text handed to DuckDB are offsets in the script.
  const chars = source.text.slice(0, to).split('');
  for (let k = 0; k < from; k++) chars[k] = ' ';
  const tokens = tokenize(source, from, to);
  let partitionBy: { columns: { name: string; at: number }[]; at: number } | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    // `TABLE t PARTITION BY key` or `PARTITION BY (a, b)` as a window TVF's first argument (SESSION): blanked, and
    // the columns returned. (An OVER (PARTITION BY …) follows '(' and is left to DuckDB.)
    const before = tokens[i - 2];
    const afterTable =
      isWord(before, 'TABLE') || (before?.kind === 'symbol' && (before.value === '(' || before.value === ','));
    const tableName = tokens[i - 1]?.kind === 'word' || tokens[i - 1]?.kind === 'quoted';
    if (isWord(t, 'PARTITION') && isWord(tokens[i + 1], 'BY') && afterTable && tableName) {
      const columns: { name: string; at: number }[] = [];
      let j = i + 2;
      const parenthesized = tokens[j]?.kind === 'symbol' && tokens[j]!.value === '(';
      if (parenthesized) j++;
      for (;;) {
        const column = tokens[j];
        if (!column || (column.kind !== 'word' && column.kind !== 'quoted')) {
          throw source.error(column?.start ?? to, 'expected a column after PARTITION BY');
        }
        columns.push({ name: column.value, at: column.start });
        j++;
        if (!parenthesized || !(tokens[j]?.kind === 'symbol' && tokens[j]!.value === ',')) break;
        j++;
      }
      if (parenthesized) {
        if (!(tokens[j]?.kind === 'symbol' && tokens[j]!.value === ')')) {
          throw source.error(tokens[j]?.start ?? to, "expected ')' after PARTITION BY (columns");
        }
        j++;
      }
      const end = tokens[j - 1]!.end;
      for (let k = t.start; k < end; k++) chars[k] = ' ';
      partitionBy = { columns, at: t.start };
      i = j - 1;
      continue;
    }
    if (t.kind === 'quoted' && source.text[t.start] === '`' && !t.value.includes('"')) {
      // Flink's (MySQL's) `quoted` identifier is DuckDB's "quoted" one: the same length, so offsets do not move.
      chars[t.start] = '"';
      chars[t.end - 1] = '"';
      continue;
    }
    if (!isWord(t, 'TABLE')) continue;
    const next = tokens[i + 1];
    if (next?.kind === 'symbol' && next.value === '(') {
      // TABLE( … ): blank the word, the parenthesis and its match.
      let depth = 0;
      for (let j = i + 1; j < tokens.length; j++) {
        const u = tokens[j]!;
        if (u.kind !== 'symbol') continue;
        if (u.value === '(') depth++;
        if (u.value === ')' && --depth === 0) {
          chars[u.start] = ' ';
          break;
        }
      }
      for (let k = t.start; k <= next.start; k++) chars[k] = ' ';
    } else if (next && (next.kind === 'word' || next.kind === 'quoted')) {
      const previous = tokens[i - 1];
      // `TABLE bid` as an argument of a window function (after '(' or ','); never `CREATE TABLE` or `INSERT … TABLE`.
      if (previous?.kind === 'symbol' && (previous.value === '(' || previous.value === ',')) {
        for (let k = t.start; k < t.end; k++) chars[k] = ' ';
      }
    }
  }
  return { text: chars.join(''), ...(partitionBy ? { partitionBy } : {}) };
}
