// Long lists shown a page at a time (checkpoints, restarts, topics, records), so that a page stays short however
// much history the server keeps. Pure, so that what a pager shows is tested without a browser.

export interface PageWindow {
  /** The page shown, 0-based, clamped to the pages there are. */
  page: number;
  pages: number;
  /** The rows shown: [start, end) of the list. */
  start: number;
  end: number;
}

/**
 * Which rows page `page` of `total` rows shows, `size` a page. A page past the end (the list shrank while it was
 * shown) shows the last one instead of nothing.
 */
export function pageWindow(total: number, size: number, page: number): PageWindow {
  // An unbounded size is one page of everything.
  const per = Number.isFinite(size) ? Math.max(1, Math.floor(size)) : Math.max(1, total);
  const pages = Math.max(1, Math.ceil(Math.max(0, total) / per));
  const shown = Math.min(Math.max(0, Math.floor(page) || 0), pages - 1);
  const start = shown * per;
  return { page: shown, pages, start, end: Math.min(Math.max(0, total), start + per) };
}
