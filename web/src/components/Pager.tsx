// Previous/next for a list shown a page at a time, with where it stands ("21–40 of 100"); nothing when one page
// holds the whole list.
import { useState } from 'preact/hooks';
import { type PageWindow, pageWindow } from '../paging.ts';

/** The page of a list of `total` rows to show, and how to move to another one. */
export function usePage(total: number, size: number): PageWindow & { go: (page: number) => void } {
  const [page, setPage] = useState(0);
  const shown = pageWindow(total, size, page);
  return { ...shown, go: (next) => setPage(pageWindow(total, size, next).page) };
}

export function Pager(props: {
  state: PageWindow & { go: (page: number) => void };
  total: number;
  /** What the rows are, for the buttons' labels ("older checkpoints"). */
  newer?: string;
  older?: string;
  testId?: string;
}) {
  const { state: w, total } = props;
  if (w.pages <= 1) return null;
  return (
    <nav class="pager" data-testid={props.testId ?? 'pager'} aria-label="pages">
      <button type="button" class="secondary" disabled={w.page === 0} onClick={() => w.go(w.page - 1)}>
        ← {props.newer ?? 'Previous'}
      </button>
      <span class="muted small" data-testid="pager-position">
        {w.start + 1}–{w.end} of {total}
      </span>
      <button type="button" class="secondary" disabled={w.page >= w.pages - 1} onClick={() => w.go(w.page + 1)}>
        {props.older ?? 'Next'} →
      </button>
    </nav>
  );
}
