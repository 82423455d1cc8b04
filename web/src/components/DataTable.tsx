// A plain, scrollable table: headers, rows of cells, numbers right-aligned. Wide tables scroll sideways on a narrow
// screen instead of squeezing their columns.
import type { ComponentChildren } from 'preact';

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
}) {
  const { columns, rows } = props;
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
                key={props.rowKey(row, i)}
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
    </div>
  );
}
