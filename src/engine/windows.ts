// Window assigners and what window operators emit: an upsert-able changelog of results per key and window.
import { SluiceError } from '../errors.ts';
import { type Duration, toMillis } from './duration.ts';

export type WindowAssigner =
  | { readonly kind: 'tumbling'; readonly sizeMs: number; readonly offsetMs: number }
  | { readonly kind: 'sliding'; readonly sizeMs: number; readonly slideMs: number; readonly offsetMs: number }
  | { readonly kind: 'session'; readonly gapMs: number };

/** One row of a window operator's changelog: `insert` the first time, `update` when late data changes it,
 * `delete` when a late event merges a session into another one (the row keyed by its start goes away). */
export interface WindowResult<K, R> {
  readonly kind: 'insert' | 'update' | 'delete';
  readonly key: K;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly value: R;
}

export const windows = {
  tumbling(size: Duration, options: { offset?: Duration } = {}): WindowAssigner {
    const sizeMs = toMillis(size, 'tumbling window size');
    if (sizeMs <= 0) throw new SluiceError('INVALID_WINDOW', 'a tumbling window needs a positive size');
    return { kind: 'tumbling', sizeMs, offsetMs: toMillis(options.offset ?? 0, 'window offset') % sizeMs };
  },
  sliding(size: Duration, slide: Duration, options: { offset?: Duration } = {}): WindowAssigner {
    const sizeMs = toMillis(size, 'sliding window size');
    const slideMs = toMillis(slide, 'sliding window slide');
    if (sizeMs <= 0 || slideMs <= 0 || slideMs > sizeMs) {
      throw new SluiceError(
        'INVALID_WINDOW',
        `a sliding window needs 0 < slide <= size (size ${sizeMs}, slide ${slideMs})`,
      );
    }
    return { kind: 'sliding', sizeMs, slideMs, offsetMs: toMillis(options.offset ?? 0, 'window offset') % slideMs };
  },
  session(gap: Duration): WindowAssigner {
    const gapMs = toMillis(gap, 'session gap');
    if (gapMs <= 0) throw new SluiceError('INVALID_WINDOW', 'a session window needs a positive gap');
    return { kind: 'session', gapMs };
  },
};
