// Memory for fetched pages, reused: a reader that lends its pages (`readRaw` with `lend`, as LogSource reads) gives
// each back once nothing holds a view into it, and the next fetch is read into it. A fresh megabyte per page would
// cost page faults on first touch and count towards the outside memory that sets off V8's full collections.

/** Most pages kept for reuse (more given back are left to the collector). */
const KEEP = 16;
/** The least a page holds: a default fetch (1 MiB) and the frame around it. */
const MIN_BYTES = (1 << 20) + 64 * 1024;

export class PagePool {
  private readonly free: Buffer[] = [];
  /** The memory this pool handed out (a page not given back is collected with its memory). */
  private readonly ours = new WeakSet<ArrayBuffer>();

  /** Memory for `size` bytes: a page given back earlier when one is large enough. */
  take(size: number): Buffer {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const page = this.free[i]!;
      if (page.length >= size) {
        this.free.splice(i, 1);
        return page;
      }
    }
    const page = Buffer.allocUnsafeSlow(Math.max(size, MIN_BYTES));
    this.ours.add(page.buffer as ArrayBuffer);
    return page;
  }

  /** Takes back the memory of `view` (any view into a page this pool handed out; others are ignored). */
  give(view: Buffer): void {
    const memory = view.buffer as ArrayBuffer;
    if (!this.ours.has(memory) || this.free.length >= KEEP) return;
    const page = Buffer.from(memory);
    if (!this.free.some((p) => p.buffer === memory)) this.free.push(page);
  }

  clear(): void {
    this.free.length = 0;
  }
}
