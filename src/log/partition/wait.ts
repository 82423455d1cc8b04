// Readers waiting for a partition's data: each waits for the high watermark (read_committed: the last stable offset)
// to pass its offset, a timeout or an abort. No disk polling: advancing either (sync.ts, transactions.ts) wakes them.
import type { WaitOptions } from '../types.ts';
import type { Partition, Waiter } from './state.ts';

export function waitForData(p: Partition, offset: number, options: WaitOptions = {}): Promise<boolean> {
  const committed = options.isolation === 'read_committed';
  if (offset < (committed ? p.lastStableOffset : p.highWatermark)) return Promise.resolve(true);
  if (p.closed || options.signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const waiter: Waiter = { offset, committed, resolve, timer: undefined, signal: options.signal, onAbort: undefined };
    if (options.timeoutMs !== undefined) {
      waiter.timer = setTimeout(() => settleWaiter(p, waiter, false), Math.max(0, options.timeoutMs));
    }
    if (options.signal) {
      waiter.onAbort = () => settleWaiter(p, waiter, false);
      options.signal.addEventListener('abort', waiter.onAbort, { once: true });
    }
    p.waiters.push(waiter);
  });
}

export function settleWaiter(p: Partition, waiter: Waiter, ready: boolean): void {
  const index = p.waiters.indexOf(waiter);
  if (index >= 0) p.waiters.splice(index, 1);
  if (waiter.timer) clearTimeout(waiter.timer);
  if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
  waiter.resolve(ready);
}

/** Wakes the readers whose offset the high watermark (or, for read_committed ones, the last stable offset) passed. */
export function wakeWaiters(p: Partition): void {
  if (p.waiters.length === 0) return;
  const stable = p.lastStableOffset;
  for (const waiter of [...p.waiters]) {
    if (waiter.offset < (waiter.committed ? stable : p.highWatermark)) settleWaiter(p, waiter, true);
  }
}
