// A plain, scrollable table: headers, rows of cells, numbers right-aligned. Wide tables scroll sideways on a narrow
// screen instead of squeezing their columns; long ones show a page at a time (`pageSize`) with previous/next.
import type { ComponentChildren } from 'preact';
import { Pager, usePage } from './Pager.tsx';

export interface Column<T> {
  label: string;
  cell: (row: T) => ComponentChildren;
  numeric?: boolean;
  title?: string;
}

export function DataTable<T>(props: {
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T, index: number) => string;
  empty?: string;
  testId?: string;
  caption?: string;
  onRowClick?: (row: T) => void;
  selected?: (row: T) => boolean;
  /** Rows a page; all of them when absent. */
  pageSize?: number;
  /** The pager's words for going back and forward ("newer", "older"), for lists shown latest first. */
  pageLabels?: [string, string];
}) {
  const { columns } = props;
  const page = usePage(props.rows.length, props.pageSize ?? Number.POSITIVE_INFINITY);
  const rows = props.pageSize === undefined ? props.rows : props.rows.slice(page.start, page.end);
  const offset = props.pageSize === undefined ? 0 : page.start;
  return (
    <div class="table-wrap" data-testid={props.testId}>
      <table>
        {props.caption && <caption>{props.caption}</caption>}
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.label} class={c.numeric ? 'num' : undefined} title={c.title} scope="col">
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={columns.length} class="empty">
                {props.empty ?? 'Nothing yet.'}
              </td>
            </tr>
          ) : (
            rows.map((row, i) => (
              <tr
                key={props.rowKey(row, offset + i)}
                class={[props.onRowClick ? 'clickable' : '', props.selected?.(row) ? 'selected' : ''].join(' ').trim()}
                onClick={props.onRowClick ? () => props.onRowClick!(row) : undefined}
                tabIndex={props.onRowClick ? 0 : undefined}
                onKeyDown={
                  props.onRowClick
                    ? (event) => {
                        if (event.key === 'Enter' || event.key === ' ') {
                          event.preventDefault();
                          props.onRowClick!(row);
                        }
                      }
                    : undefined
                }
              >
                {columns.map((c) => (
                  <td key={c.label} class={c.numeric ? 'num' : undefined}>
                    {c.cell(row)}
                  </td>
                ))}
              </tr>
            ))
          )}
        </tbody>
      </table>
      {props.pageSize !== undefined && (
        <Pager
          state={page}
          total={props.rows.length}
          newer={props.pageLabels?.[0]}
          older={props.pageLabels?.[1]}
          testId={props.testId ? `${props.testId}-pager` : undefined}
        />
      )}
    </div>
  );
}
