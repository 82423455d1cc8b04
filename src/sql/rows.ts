// What a SQL row carries besides its columns — its kind (insert, update, delete) and, in a retracting query, the row
// it replaces — and how rows cross a repartition topic with both. Every GROUP BY, PARTITION BY and join key of a
// query is a repartition step (Flink SQL's hash exchange), since an input topic need not be partitioned by it: in
// one process the step passes rows through; in the tasks of a scaled-out run (`--parallelism`, `--group`) each row
// is written to the topic of its key's task, and JSON alone would drop the marks (symbols) a retraction relies on.
import type { Format } from '../engine/index.ts';
import type { Row } from './types.ts';

/** The kind of a result row, for a keyed serving table and a retracting GROUP BY (a symbol: JSON never writes it). */
export const KIND = Symbol('sql-row-kind');
export type RowKind = 'insert' | 'update' | 'delete';
export type KindedRow = Row & { [KIND]?: RowKind };

/** The property descriptor of each kind, made once (not one object per row). */
const KIND_DESCRIPTORS: Readonly<Record<RowKind, PropertyDescriptor>> = {
  insert: Object.freeze({ value: 'insert', enumerable: false }),
  update: Object.freeze({ value: 'update', enumerable: false }),
  delete: Object.freeze({ value: 'delete', enumerable: false }),
};

/** Marks a row with its kind, not enumerable: a row handed to TypeScript (sqlStream) shows its columns only. */
export function withKind(row: KindedRow, kind: RowKind): KindedRow {
  Object.defineProperty(row, KIND, KIND_DESCRIPTORS[kind]);
  return row;
}

/** An updated row of a GROUP BY read by another query carries the row it replaces (one record, not two). */
export const PREVIOUS = Symbol('sql-previous-row');
export type Replacing = Row & { [PREVIOUS]?: Row };

/** Rows as repartition topics hold them: `{ r: row, k?: kind, p?: replaced row }` in JSON. */
export const ROW_FORMAT: Format<KindedRow & Replacing> = {
  name: 'sql-row',
  encode(row) {
    const kind = row[KIND];
    const previous = row[PREVIOUS];
    return Buffer.from(
      JSON.stringify(
        kind === undefined && previous === undefined
          ? { r: row }
          : { r: row, ...(kind === undefined ? {} : { k: kind }), ...(previous === undefined ? {} : { p: previous }) },
      ),
    );
  },
  decode(bytes) {
    const { r, k, p } = JSON.parse(bytes.toString()) as { r: KindedRow & Replacing; k?: RowKind; p?: Row };
    if (k !== undefined) r[KIND] = k;
    if (p !== undefined) r[PREVIOUS] = p;
    return r;
  },
};

/**
 * keyBy's options for a SQL operator: its rows move to the task owning their key through the repartition topic
 * `<pipeline>-<uid>-repartition` (a name stable across runs, as the operator's uid).
 */
export function shuffle(name: string): { repartition: { name: string; format: Format<Row> } } {
  return { repartition: { name: exchangeName(name), format: ROW_FORMAT } };
}

/** A repartition step's name for a SQL operator's uid (identifiers may hold what topic names cannot). */
export function exchangeName(name: string): string {
  return name.replace(/[^a-zA-Z0-9._-]/g, '_');
}
