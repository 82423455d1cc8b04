// The types of streaming SQL and the values behind them: rows are plain objects of JSON values, TIMESTAMPs are epoch
// milliseconds, INTERVALs milliseconds, NULL is null.

export type SqlType = 'BIGINT' | 'DOUBLE' | 'VARCHAR' | 'BOOLEAN' | 'TIMESTAMP' | 'INTERVAL' | 'NULL';

export type Value = number | string | boolean | null;

export type Row = Record<string, Value>;

const TYPE_NAMES: Record<string, SqlType> = {
  BIGINT: 'BIGINT',
  INT: 'BIGINT',
  INTEGER: 'BIGINT',
  SMALLINT: 'BIGINT',
  TINYINT: 'BIGINT',
  INT8: 'BIGINT',
  INT4: 'BIGINT',
  LONG: 'BIGINT',
  DOUBLE: 'DOUBLE',
  FLOAT: 'DOUBLE',
  REAL: 'DOUBLE',
  DECIMAL: 'DOUBLE',
  NUMERIC: 'DOUBLE',
  VARCHAR: 'VARCHAR',
  STRING: 'VARCHAR',
  CHAR: 'VARCHAR',
  TEXT: 'VARCHAR',
  BOOLEAN: 'BOOLEAN',
  BOOL: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMP',
  TIMESTAMP_LTZ: 'TIMESTAMP',
  TIMESTAMP_MS: 'TIMESTAMP',
};

/** The type a declared type name (or a DuckDB cast type id) stands for; undefined for those not supported. */
export function sqlTypeOf(name: string): SqlType | undefined {
  const upper = name.toUpperCase();
  if (upper === 'INTERVAL') return 'INTERVAL';
  if (upper === 'HUGEINT' || upper === 'UBIGINT' || upper === 'UINTEGER') return 'BIGINT';
  return TYPE_NAMES[upper];
}

export const isNumeric = (t: SqlType): boolean => t === 'BIGINT' || t === 'DOUBLE' || t === 'NULL';

/** Whether a value of type `from` may be written where `to` is declared (no narrowing DOUBLE → BIGINT). */
export function assignable(from: SqlType, to: SqlType): boolean {
  if (from === to || from === 'NULL') return true;
  if (to === 'DOUBLE') return from === 'BIGINT';
  if (to === 'TIMESTAMP') return from === 'BIGINT';
  if (to === 'BIGINT') return from === 'TIMESTAMP';
  return false;
}

/** The common type of the branches of a CASE, COALESCE…; undefined when they have none. */
export function commonType(types: readonly SqlType[]): SqlType | undefined {
  let result: SqlType = 'NULL';
  for (const t of types) {
    if (t === 'NULL' || t === result) continue;
    if (result === 'NULL') result = t;
    else if (isNumeric(t) && isNumeric(result)) result = 'DOUBLE';
    else return undefined;
  }
  return result;
}

const LOCAL_DATETIME = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d(?::\d\d(?:\.\d+)?)?)$/;

/** Epoch ms of a timestamp given as a number (epoch ms) or a string ('2024-05-01 10:00:00.000' is UTC). */
export function toTimestamp(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const local = LOCAL_DATETIME.exec(value);
  const ms = Date.parse(local ? `${local[1]}T${local[2]}Z` : value);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * A value read from a JSON record as a column of `type`: null when absent, else the value, or a TypeError naming
 * the column (the record then goes to the pipeline's dead letters).
 */
export function readColumn(raw: unknown, type: SqlType, column: string): Value {
  if (raw === undefined || raw === null) return null;
  switch (type) {
    case 'BIGINT':
      if (typeof raw === 'number' && Number.isInteger(raw)) return raw;
      throw new TypeError(`column "${column}" must be an integer, got ${JSON.stringify(raw)}`);
    case 'DOUBLE':
      if (typeof raw === 'number') return raw;
      throw new TypeError(`column "${column}" must be a number, got ${JSON.stringify(raw)}`);
    case 'VARCHAR':
      if (typeof raw === 'string') return raw;
      throw new TypeError(`column "${column}" must be a string, got ${JSON.stringify(raw)}`);
    case 'BOOLEAN':
      if (typeof raw === 'boolean') return raw;
      throw new TypeError(`column "${column}" must be a boolean, got ${JSON.stringify(raw)}`);
    case 'TIMESTAMP': {
      const ms = toTimestamp(raw);
      if (ms !== undefined) return ms;
      throw new TypeError(`column "${column}" must be a timestamp (epoch ms or ISO 8601), got ${JSON.stringify(raw)}`);
    }
    default:
      throw new TypeError(`column "${column}" has a type a table cannot declare (${type})`);
  }
}
